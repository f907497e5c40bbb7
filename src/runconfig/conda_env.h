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

// A conda dependency as a pip requirement, for a node without conda (or a container): the
// same name ("conda-forge::" dropped; the few conda names pip spells differently, such as
// pytorch -> torch, renamed) and conda's version match in pip's syntax: "numpy=1.26" ->
// "numpy==1.26.*", "numpy==1.26.4=py311h0" -> "numpy==1.26.4", "numpy >=1.2" -> "numpy>=1.2".
// NotFound for packages only conda has (cudatoolkit, cudnn, libgcc-ng...; CondaOnlyPackages).
Result<std::string> CondaPackageAsPip(const std::string& spec);

// The conda package names CondaPackageAsPip refuses (exact names; "r-" and "magma-cuda"
// prefixes too).
const std::vector<std::string>& CondaOnlyPackages();

// Whether a pip requirement names Azure ML's SDK (azureml-*, or Ferry's own ferry-ml and the
// names a rename of azureml-defaults/-core/-sdk gives): runs get the ferry package from the
// agent, so these are not installed.
bool IsSdkRequirement(const std::string& requirement);

// Whether an interpreter version ("3.11.7") satisfies a conda python spec: "3.11", "3.11.7",
// "3.11.*", ">=3.10", ">=3.10,<3.12", "" (anything).
bool PythonVersionMatches(const std::string& spec, const std::string& version);

}  // namespace ferry::runconfig
