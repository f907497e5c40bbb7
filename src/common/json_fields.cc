// Readers of JSON body fields (json_fields.h).
#include "common/json_fields.h"

namespace ferry {

using nlohmann::json;

namespace {

Status FieldError(const char* name, const char* what) {
  return Status::InvalidArgument(std::string("field '") + name + "' " + what);
}

}  // namespace

Result<std::string> StringField(const json& j, const char* name, bool required) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) return FieldError(name, "is required");
    return std::string();
  }
  if (!it->is_string()) return FieldError(name, "must be a string");
  return it->get<std::string>();
}

Result<std::map<std::string, std::string>> StringMapField(const json& j, const char* name) {
  std::map<std::string, std::string> out;
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object()) return FieldError(name, "must be an object");
  for (auto& [k, v] : it->items()) {
    if (k.empty()) return FieldError(name, "has an empty key");
    out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

Result<int> IntField(const json& j, const char* name, int fallback) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) return FieldError(name, "must be an integer");
  return it->get<int>();
}

Result<int> PortField(const json& j, const char* name, int fallback) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || *it < 1 || *it > 65535)
    return FieldError(name, "must be 1-65535");
  return it->get<int>();
}

}  // namespace ferry
