// Parsers of the S3 XML documents the client reads (Boost.PropertyTree inside) and the one it
// writes (CompleteMultipartUpload). A document that does not parse is Internal, naming what it
// was meant to be; the parsers never throw.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::data {

struct S3Object {
  std::string key{};
  uint64_t size = 0;
  std::string etag{};           // without the quotes S3 puts around it
  std::string last_modified{};  // as the store wrote it (ISO 8601)
};

// One page of ListObjectsV2.
struct ListPage {
  std::vector<S3Object> objects{};
  std::vector<std::string> common_prefixes{};  // with a delimiter only
  bool truncated = false;
  std::string next_continuation_token{};  // set when truncated
};

struct UploadedPart {
  int number = 0;
  uint64_t size = 0;
  std::string etag{};  // without quotes
};

struct ListPartsPage {
  std::vector<UploadedPart> parts{};
  bool truncated = false;
  int next_part_number_marker = 0;
};

// An <Error> document; empty fields when the body is not one.
struct S3Error {
  std::string code{};
  std::string message{};
};

// "\"abc\"" -> "abc" (S3 quotes ETags in headers and XML).
std::string StripQuotes(std::string_view etag);

S3Error ParseError(std::string_view body);
Result<ListPage> ParseListObjectsV2(std::string_view body);
Result<std::string> ParseInitiateMultipartUpload(std::string_view body);  // the UploadId
Result<ListPartsPage> ParseListParts(std::string_view body);
// The ETag of a CompleteMultipartUploadResult (S3 may answer 200 with an <Error>: the caller
// checks ParseError first).
Result<std::string> ParseCompleteMultipartUpload(std::string_view body);
// The body of CompleteMultipartUpload for parts in ascending part order.
std::string CompleteMultipartUploadXml(const std::vector<UploadedPart>& parts);

}  // namespace ferry::data
