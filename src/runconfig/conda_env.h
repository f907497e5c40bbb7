// Conda environment files (environment.yml, Azure ML's conda_dependencies.yml): the parts a
// managed environment is built from — the Python version, conda packages, the pip: section.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::runconfig {

struct CondaEnvironment {
  std::string name;
  std::vector<std::string> channels;
  std::string python;  // the python dependency's version spec ("3.11", ">=3.10"); may be empty
  std::vector<std::string> conda_packages;  // dependencies other than python and pip's own tooling
  std::vector<std::string> pip;             // the pip: section, as requirement lines
};

// Parses YAML text; errors read "<name>:<line>:<column>: field '<field>': <what>".
Result<CondaEnvironment> ParseCondaEnvironment(std::string_view yaml, const std::string& name);

// Whether an interpreter version ("3.11.7") satisfies a conda python spec: "3.11", "3.11.7",
// "3.11.*", ">=3.10", ">=3.10,<3.12", "" (anything).
bool PythonVersionMatches(const std::string& spec, const std::string& version);

}  // namespace ferry::runconfig
