// Bytes from the outside (script output, file names, argv) as text: UTF-8 checks and the
// reversible escape that carries any byte string through JSON.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry {

// The offset of the first byte that does not start or continue a valid UTF-8 sequence
// (overlong forms, surrogates and code points past U+10FFFF are invalid); nullopt when all of
// s is valid UTF-8.
std::optional<size_t> FindInvalidUtf8(std::string_view s);

// Why s is not valid UTF-8, for error messages: "byte 0xff at offset 3"; "" when it is.
std::string DescribeInvalidUtf8(std::string_view s);

// The reversible escape of a byte string as valid UTF-8 text (file names that are not valid
// UTF-8, shown or stored as JSON): every byte that is not part of a valid UTF-8 sequence, and
// every ASCII control byte (0x00-0x1f, 0x7f), becomes "\xNN" (two lowercase hex digits); a
// backslash becomes "\\"; everything else is kept. EscapeBytes of valid UTF-8 without
// backslashes or control bytes is the string itself.
std::string EscapeBytes(std::string_view raw);

// The bytes EscapeBytes was given. A backslash that is not followed by '\' or "xNN" stands for
// itself (names stored before the escape existed round-trip unchanged).
std::string UnescapeBytes(std::string_view escaped);

// Wildcard matching over bytes: `one` matches any single byte, `run` any run of bytes (none
// too); with fold_case, ASCII letters match either case. Linear in practice (one backtrack
// point: the last `run`). SQL's LIKE is (text, pattern, '_', '%').
bool WildcardMatch(std::string_view pattern, std::string_view text, char one, char run,
                   bool fold_case = false);

}  // namespace ferry
