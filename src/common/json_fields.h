// Fields of a JSON request body as Ferry's REST API reads them: one home for the checks and
// for the wording of their errors ("field 'name' is required", "field 'name' must be a
// string"), which clients and tests match on. MLflow's API has its own protocol (proto3's
// JSON mapping, MLflow's wording) and its own readers (server/mlflow_api_internal.h).
// The header needs nlohmann_json: a library that includes it links that itself.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace ferry {

// A string field. Absent or null: "" when optional, InvalidArgument "field 'name' is
// required" when required; any other type: InvalidArgument "field 'name' must be a string".
Result<std::string> StringField(const nlohmann::json& j, const char* name, bool required);

// An object of strings ({"k": "v"}); absent or null: empty. A value that is not a string is
// kept as its compact JSON text. Not an object, or an empty key: InvalidArgument naming it.
Result<std::map<std::string, std::string>> StringMapField(const nlohmann::json& j,
                                                          const char* name);

// A whole number; absent or null: fallback. Another type: InvalidArgument "field 'name' must
// be an integer".
Result<int> IntField(const nlohmann::json& j, const char* name, int fallback);

// A TCP port (1-65535); absent or null: fallback. Anything else: InvalidArgument "field
// 'name' must be 1-65535".
Result<int> PortField(const nlohmann::json& j, const char* name, int fallback);

}  // namespace ferry
