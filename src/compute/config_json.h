// Reading the compute targets' stored configurations (the config JSON of a compute_targets row):
// one home for turning nlohmann's exceptions into a Status that names the field and the kind.
// The configurations' fields are listed once, with nlohmann's
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT (a missing key loads as the struct's default
// member initialiser), in each kind's .cc; this header is for those .cc files and the tests.
// The header needs nlohmann_json: a library that includes it links that itself.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace ferry::compute {

// "a number", "a string", "a boolean", "an object", ...: the type `j` holds, for messages.
inline std::string JsonTypeWithArticle(const nlohmann::json& j) {
  const std::string name = j.type_name();
  if (j.is_null()) return name;
  const bool vowel = !name.empty() && std::string("aeiou").find(name[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + name;
}

// The stored configuration `j` (already known to be an object) as a T, through T's from_json.
// A field of the wrong type is Corruption "<what>: field 'key' must be a number, not a
// string", never an exception. `what` names the kind ("ssh target configuration").
template <typename T>
Result<T> ConfigFromJson(const nlohmann::json& j, const std::string& what) {
  try {
    return j.get<T>();
  } catch (const nlohmann::json::exception& e) {
    // nlohmann's message does not name the key: find it by reading each stored field alone
    // over the defaults, with the same conversion (only on this error path).
    const nlohmann::json defaults = T{};
    for (const auto& [key, value] : j.items()) {
      auto known = defaults.find(key);
      if (known == defaults.end()) continue;  // not a field: ignored, as on a normal read
      nlohmann::json probe = defaults;
      probe[key] = value;
      try {
        (void)probe.get<T>();
      } catch (const nlohmann::json::exception&) {
        return Status::Corruption(what + ": field '" + key + "' must be " +
                                  JsonTypeWithArticle(*known) + ", not " +
                                  JsonTypeWithArticle(value));
      }
    }
    return Status::Corruption(what + ": " + e.what());
  }
}

// Parses a stored configuration's text: an object, or Corruption "<what> is not a JSON object".
inline Result<nlohmann::json> ParseConfigObject(const std::string& text, const std::string& what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::Corruption(what + " is not a JSON object");
  return j;
}

}  // namespace ferry::compute
