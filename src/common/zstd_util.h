// zstd compression and decompression of whole buffers and of streams.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry {

std::string ZstdCompress(std::string_view data, int level = 1);
// The most bytes compressing n bytes can produce.
size_t ZstdCompressBound(size_t n);
// Compresses data into out, which has room for ZstdCompressBound(data.size()) bytes, and
// returns the compressed size: for a caller that keeps its own buffer (no allocation or copy
// per call). Uses a per-thread context, as ZstdCompress does.
size_t ZstdCompressTo(std::string_view data, int level, char* out, size_t capacity);
// Fails with Corruption when data is not a valid zstd frame.
Result<std::string> ZstdDecompress(std::string_view data);

// The content size a frame's header declares (the first 18 bytes suffice); nullopt when the
// frame does not say or `head` is not a frame.
std::optional<uint64_t> ZstdFrameContentSize(std::string_view head);

// One zstd frame produced piece by piece (uploads). Append() and Finish() append compressed
// bytes to *out. When pledged_size is given the frame declares it, and a different total
// fails at Finish().
class ZstdStreamCompressor {
 public:
  explicit ZstdStreamCompressor(int level = 1, std::optional<uint64_t> pledged_size = std::nullopt);
  ~ZstdStreamCompressor();
  ZstdStreamCompressor(const ZstdStreamCompressor&) = delete;
  ZstdStreamCompressor& operator=(const ZstdStreamCompressor&) = delete;
  Status Append(std::string_view data, std::string* out);
  Status Finish(std::string* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One zstd frame read piece by piece (a large blob), with bounded output per call.
class ZstdStreamDecompressor {
 public:
  ZstdStreamDecompressor();
  ~ZstdStreamDecompressor();
  ZstdStreamDecompressor(const ZstdStreamDecompressor&) = delete;
  ZstdStreamDecompressor& operator=(const ZstdStreamDecompressor&) = delete;
  // Decompresses from *in, dropping what it consumed from its front, and appends to *out until
  // *out holds max_out bytes, *in is used up, or the frame ends. Corruption on a bad frame.
  Status Run(std::string_view* in, std::string* out, size_t max_out);
  // The frame's end has been decompressed.
  bool done() const { return done_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool done_ = false;
};

}  // namespace ferry
