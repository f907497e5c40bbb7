// ByteSource: content of a known length handed out piece by piece (a blob, a file), so that a
// large one is never held whole in memory on its way to a socket or a file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/fs.h"
#include "common/status.h"

namespace ferry {

// Not thread-safe: one reader at a time (it may move between threads between calls).
class ByteSource {
 public:
  // The most a piece holds.
  static constexpr size_t kPiece = 1 << 20;

  virtual ~ByteSource() = default;
  // The content's length in bytes, known before any of it is read.
  virtual uint64_t size() const = 0;
  // Replaces *piece with the next bytes (1 to kPiece of them); leaves it empty once all size()
  // bytes have been handed out. A failure ends the reading, and what was read before must not
  // be used: IoError (a file that changed while it was read), Corruption (content that does
  // not match its hash). A source that verifies its content does so before it hands out its
  // last piece, so a reader never completes with wrong bytes.
  virtual Status Read(std::string* piece) = 0;
};

// The bytes of data.
std::unique_ptr<ByteSource> StringSource(std::string data);
// The next `size` bytes of an open file. A file that ends sooner is IoError naming
// path_for_errors (it changed while being read); bytes past size are not read.
std::unique_ptr<ByteSource> FileSource(UniqueFd fd, uint64_t size, std::string path_for_errors);
// A regular file, opened now, as long as it is now.
Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path);
// head, then rest's content.
std::unique_ptr<ByteSource> PrefixedSource(std::string head, std::unique_ptr<ByteSource> rest);

// The whole content in memory: for small content (and tests) only.
Result<std::string> ReadWhole(ByteSource& source);

}  // namespace ferry
