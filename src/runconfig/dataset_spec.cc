// Dataset spec files (dataset_spec.h).
#include "runconfig/dataset_spec.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

namespace ferry::runconfig {

namespace {

using nlohmann::json;

// A YAML (or JSON) document as JSON: scalars stay strings except true/false.
json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = ToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& v : n) a.push_back(ToJson(v));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() != "!" && (s == "true" || s == "True")) return true;
      if (n.Tag() != "!" && (s == "false" || s == "False")) return false;
      return s;
    }
    default:
      return nullptr;
  }
}

Status Bad(const std::string& file, const std::string& field, const std::string& what) {
  return Status::InvalidArgument(file + ": field '" + field + "' " + what);
}

// One path: {datastoreName, relativePath}, or the same under dataPath, or "datastore/path".
Result<json> OnePath(const json& p, const std::string& file, const std::string& field) {
  const json* dp = &p;
  if (p.is_object() && p.contains("dataPath")) dp = &p["dataPath"];
  if (dp->is_object()) {
    const json store = dp->value("datastoreName", json(nullptr));
    const json rel = dp->value("relativePath", json(""));
    if (!store.is_string() || !rel.is_string()) {
      return Bad(file, field, "needs datastoreName and relativePath (strings)");
    }
    return json{{"datastore", store}, {"path", rel}};
  }
  if (dp->is_string()) {
    const std::string s = dp->get<std::string>();
    if (s.find("://") != std::string::npos) {
      return Bad(file, field,
                 "is a URL ('" + s +
                     "'); Ferry reads datasets from datastores: give "
                     "{datastoreName, relativePath}");
    }
    return Bad(file, field, "is '" + s + "'; give {datastoreName, relativePath}");
  }
  return Bad(file, field, "must be {datastoreName, relativePath} or a list of them");
}

}  // namespace

Result<json> ParseDatasetSpec(std::string_view text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) +
                                   ": not valid JSON or YAML: " + e.msg);
  }
  const json spec = ToJson(root);
  if (!spec.is_object()) return Status::InvalidArgument(file + ": a dataset spec is an object");
  std::string type = spec.value("datasetType", std::string("File"));
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (type != "file" && type != "tabular") {
    return Bad(file, "datasetType", "must be File or Tabular, got '" + type + "'");
  }
  const json params = spec.value("parameters", json::object());
  if (!params.is_object()) return Bad(file, "parameters", "must be an object");
  json paths = json::array();
  const json path = params.value("path", json(nullptr));
  if (path.is_array()) {
    for (size_t i = 0; i < path.size(); ++i) {
      FERRY_ASSIGN_OR_RETURN(json p,
                             OnePath(path[i], file, "parameters.path[" + std::to_string(i) + "]"));
      paths.push_back(p);
    }
  } else {
    FERRY_ASSIGN_OR_RETURN(json p, OnePath(path, file, "parameters.path"));
    paths.push_back(p);
  }
  json definition = json::object();
  if (type == "tabular") {
    const std::string source = params.value("sourceType", std::string("delimited_files"));
    static const std::pair<const char*, const char*> kFormats[] = {
        {"delimited_files", "delimited"},
        {"parquet_files", "parquet"},
        {"json_lines_files", "json_lines"}};
    for (const auto& [from, to] : kFormats) {
      if (source == from) definition["format"] = to;
    }
    if (!definition.contains("format")) {
      return Bad(
          file, "parameters.sourceType",
          "must be delimited_files, parquet_files or json_lines_files, got '" + source + "'");
    }
    definition["separator"] = params.value("separator", std::string(","));
    definition["header"] = params.value("header", json(true)) != json("false") &&
                           params.value("header", json(true)) != json(false);
    definition["include_path"] = params.value("includePath", json(false)) == json(true);
  }
  if (params.contains("partitionFormat"))
    definition["partition_format"] = params["partitionFormat"];
  const json reg = spec.value("registration", json::object());
  if (!reg.is_object() || !reg.contains("name") || !reg["name"].is_string()) {
    return Bad(file, "registration.name", "is required: the dataset's name");
  }
  json tags = reg.value("tags", json::object());
  if (!tags.is_object()) return Bad(file, "registration.tags", "must be a map of strings");
  for (auto& [k, v] : tags.items()) {
    if (!v.is_string()) return Bad(file, "registration.tags." + k, "must be a string");
  }
  return json{{"name", reg["name"]},
              {"kind", type},
              {"description", reg.value("description", std::string())},
              {"tags", tags},
              {"paths", paths},
              {"definition", definition}};
}

}  // namespace ferry::runconfig
