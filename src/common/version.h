// Ferry's version, as written in python/ferry/_version.py (the one place it is written).
// Only version.cc includes the generated header, so a new version recompiles one file.
#pragma once

#include <string_view>

namespace ferry {

// "X.Y.Z", e.g. for `ferry --version` and /api/v1/health.
std::string_view Version();

}  // namespace ferry
