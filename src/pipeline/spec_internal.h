// What spec.cc, spec_json.cc, spec_yaml.cc and spec_validate.cc share: the parameter types'
// names and value checks, the step kinds and the wording of the errors about them. Nothing
// outside src/pipeline includes it.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/spec.h"

namespace ferry::pipeline::internal {

// "string", "int", "float", "bool", "datapath" (CLI v1's spellings); nullopt for any other.
std::optional<ParamType> ParamTypeFromName(std::string_view name);

// "" when v is a value of type t (int: a whole JSON number; float: any number; bool; string;
// datapath: {"datastore": string, "path": string}), else what is wrong ("expected an
// integer, got \"abc\"").
std::string ParamValueError(ParamType t, const nlohmann::json& v);

// "" when `type` is a step kind Ferry runs; else the error's message: the kinds Ferry has no
// engine for yet are named as such, any other kind is unknown and the known ones are listed.
std::string StepTypeError(const std::string& type);

// A step's arguments in the JSON form: literals as strings, placeholders as {"input": NAME}.
nlohmann::json ArgumentsToJson(const std::vector<Argument>& args);

// A name of a step, parameter, data reference, input, output or destination: 1-128 of
// [A-Za-z0-9_.-], not "." or "..". Names become argument placeholders, file names and path
// components, so they are kept plain.
bool IsValidName(std::string_view name);
extern const char* const kNameRule;  // the rule in words, for error messages

}  // namespace ferry::pipeline::internal
