// Dataset spec files, as Azure ML CLI v1 took them (`az ml dataset register -f spec.json`):
// JSON or YAML with datasetType (File | Tabular), parameters (path: a datastore path or a
// list of them; for tabular files sourceType and its options) and registration (name,
// description, tags). Turned into the body of POST /api/v1/datasets.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry::runconfig {

// Errors name the file, the line where the parser knows it, and the field.
Result<nlohmann::json> ParseDatasetSpec(std::string_view text, const std::string& file);

}  // namespace ferry::runconfig
