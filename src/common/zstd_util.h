// zstd compression of whole buffers.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry {

std::string ZstdCompress(std::string_view data, int level = 1);
// Fails with Corruption when data is not a valid zstd frame.
Result<std::string> ZstdDecompress(std::string_view data);

}  // namespace ferry
