// S3 XML through Boost.PropertyTree: its exceptions stay in this file.
#include "data/s3_xml.h"

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <sstream>

namespace ferry::data {
namespace {

namespace pt = boost::property_tree;

Result<pt::ptree> Parse(std::string_view body, const char* what) {
  try {
    std::istringstream in{std::string(body)};
    pt::ptree tree;
    pt::read_xml(in, tree, pt::xml_parser::no_comments);
    return tree;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("the store's ") + what +
                            " response is not XML that parses (" + e.what() + ")");
  }
}

std::string Text(const pt::ptree& node, const char* child) {
  auto c = node.get_child_optional(child);
  return c ? c->data() : std::string();
}

Result<uint64_t> Number(const pt::ptree& node, const char* child, const char* what) {
  std::string s = Text(node, child);
  try {
    size_t used = 0;
    uint64_t v = std::stoull(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  return Status::Internal(std::string("the store's ") + what + " response has " + child + " '" + s +
                          "', not a number");
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Form-style percent-decoding (S3's encoding-type=url: "%XX", and '+' for a space).
std::string UrlDecodePlus(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string StripQuotes(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

S3Error ParseError(std::string_view body) {
  S3Error e;
  if (body.empty()) return e;
  auto tree = Parse(body, "error");
  if (!tree.ok()) return e;
  auto err = tree.value().get_child_optional("Error");
  if (!err) return e;
  e.code = Text(*err, "Code");
  e.message = Text(*err, "Message");
  return e;
}

Result<ListPage> ParseListObjectsV2(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(auto tree, Parse(body, "ListObjectsV2"));
  auto root = tree.get_child_optional("ListBucketResult");
  if (!root) return Status::Internal("the store's ListObjectsV2 response has no ListBucketResult");
  ListPage page;
  // Keys may hold bytes XML 1.0 cannot carry: the client asks for encoding-type=url, and
  // decodes when the store says it encoded.
  const bool encoded = Text(*root, "EncodingType") == "url";
  auto key = [&](const pt::ptree& node, const char* child) {
    return encoded ? UrlDecodePlus(Text(node, child)) : Text(node, child);
  };
  for (const auto& [name, child] : *root) {
    if (name == "Contents") {
      S3Object o;
      o.key = key(child, "Key");
      FERRY_ASSIGN_OR_RETURN(o.size, Number(child, "Size", "ListObjectsV2"));
      o.etag = StripQuotes(Text(child, "ETag"));
      o.last_modified = Text(child, "LastModified");
      page.objects.push_back(std::move(o));
    } else if (name == "CommonPrefixes") {
      page.common_prefixes.push_back(key(child, "Prefix"));
    }
  }
  page.truncated = Text(*root, "IsTruncated") == "true";
  page.next_continuation_token = Text(*root, "NextContinuationToken");
  if (page.truncated && page.next_continuation_token.empty()) {
    return Status::Internal(
        "the store's ListObjectsV2 response is truncated but has no NextContinuationToken");
  }
  return page;
}

Result<std::string> ParseInitiateMultipartUpload(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(auto tree, Parse(body, "CreateMultipartUpload"));
  std::string id = tree.get("InitiateMultipartUploadResult.UploadId", std::string());
  if (id.empty())
    return Status::Internal("the store's CreateMultipartUpload response has no UploadId");
  return id;
}

Result<ListPartsPage> ParseListParts(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(auto tree, Parse(body, "ListParts"));
  auto root = tree.get_child_optional("ListPartsResult");
  if (!root) return Status::Internal("the store's ListParts response has no ListPartsResult");
  ListPartsPage page;
  for (const auto& [name, child] : *root) {
    if (name != "Part") continue;
    UploadedPart p;
    FERRY_ASSIGN_OR_RETURN(uint64_t number, Number(child, "PartNumber", "ListParts"));
    p.number = static_cast<int>(number);
    FERRY_ASSIGN_OR_RETURN(p.size, Number(child, "Size", "ListParts"));
    p.etag = StripQuotes(Text(child, "ETag"));
    page.parts.push_back(std::move(p));
  }
  page.truncated = Text(*root, "IsTruncated") == "true";
  if (page.truncated) {
    FERRY_ASSIGN_OR_RETURN(uint64_t marker, Number(*root, "NextPartNumberMarker", "ListParts"));
    page.next_part_number_marker = static_cast<int>(marker);
  }
  return page;
}

Result<std::string> ParseCompleteMultipartUpload(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(auto tree, Parse(body, "CompleteMultipartUpload"));
  auto root = tree.get_child_optional("CompleteMultipartUploadResult");
  if (!root) {
    return Status::Internal(
        "the store's CompleteMultipartUpload response has no CompleteMultipartUploadResult");
  }
  return StripQuotes(Text(*root, "ETag"));
}

std::string CompleteMultipartUploadXml(const std::vector<UploadedPart>& parts) {
  std::string out = "<CompleteMultipartUpload>";
  for (const auto& p : parts) {
    out += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>\"" +
           XmlEscape(p.etag) + "\"</ETag></Part>";
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

}  // namespace ferry::data
