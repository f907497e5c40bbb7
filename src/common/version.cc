// Ferry's version from the header CMake generates (src/common/version.h.in).
#include "common/version.h"

#include "ferry_version_generated.h"

namespace ferry {

std::string_view Version() { return FERRY_VERSION_STRING; }

}  // namespace ferry
