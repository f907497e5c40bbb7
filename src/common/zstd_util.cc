// zstd whole-buffer helpers with a per-thread context.
#include "common/zstd_util.h"

#include <zstd.h>

#include <algorithm>
#include <memory>

namespace ferry {

namespace {

// Each thread's contexts, freed when the thread ends.
struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx(ZSTD_createCCtx());
  return cctx.get();
}

ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx(ZSTD_createDCtx());
  return dctx.get();
}

}  // namespace

size_t ZstdCompressBound(size_t n) { return ZSTD_compressBound(n); }

size_t ZstdCompressTo(std::string_view data, int level, char* out, size_t capacity) {
  FERRY_CHECK(capacity >= ZSTD_compressBound(data.size()));
  size_t n = ZSTD_compressCCtx(ThreadCCtx(), out, capacity, data.data(), data.size(), level);
  FERRY_CHECK(!ZSTD_isError(n));
  return n;
}

std::string ZstdCompress(std::string_view data, int level) {
  ZSTD_CCtx* cctx = ThreadCCtx();
  // Compress into a reused per-thread buffer: a fresh zero-filled string of the bound's
  // size per call cost a memset (and page faults) as large as the input.
  thread_local std::unique_ptr<char[]> buf;
  thread_local size_t cap = 0;
  size_t bound = ZSTD_compressBound(data.size());
  if (bound > cap) {
    cap = std::max(bound, size_t{1} << 16);
    buf.reset(new char[cap]);
  }
  size_t n = ZSTD_compressCCtx(cctx, buf.get(), cap, data.data(), data.size(), level);
  FERRY_CHECK(!ZSTD_isError(n));
  std::string out(buf.get(), n);
  if (cap > (64u << 20)) {  // do not pin a huge buffer after one huge blob
    buf.reset();
    cap = 0;
  }
  return out;
}

Result<std::string> ZstdDecompress(std::string_view data) {
  unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return Status::Corruption("not a zstd frame");
  ZSTD_DCtx* dctx = ThreadDCtx();
  if (size != ZSTD_CONTENTSIZE_UNKNOWN) {
    std::string out(size, '\0');
    size_t n = ZSTD_decompressDCtx(dctx, out.data(), out.size(), data.data(), data.size());
    if (ZSTD_isError(n) || n != size)
      return Status::Corruption(std::string("zstd: ") + ZSTD_getErrorName(n));
    return out;
  }
  // Streaming fallback for frames without a content size.
  std::string out;
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  std::string buf(ZSTD_DStreamOutSize(), '\0');
  ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
  while (in.pos < in.size) {
    ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
    size_t r = ZSTD_decompressStream(dctx, &ob, &in);
    if (ZSTD_isError(r)) return Status::Corruption(std::string("zstd: ") + ZSTD_getErrorName(r));
    out.append(buf.data(), ob.pos);
    if (r == 0 && in.pos == in.size) break;
  }
  return out;
}

std::optional<uint64_t> ZstdFrameContentSize(std::string_view head) {
  unsigned long long size = ZSTD_getFrameContentSize(head.data(), head.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return std::nullopt;
  return static_cast<uint64_t>(size);
}

struct ZstdStreamCompressor::Impl {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ~Impl() { ZSTD_freeCCtx(cctx); }
  Status Run(std::string_view data, ZSTD_EndDirective mode, std::string* out) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    const size_t chunk = ZSTD_CStreamOutSize();
    for (;;) {
      const size_t start = out->size();
      out->resize(start + chunk);
      ZSTD_outBuffer ob{out->data() + start, chunk, 0};
      size_t left = ZSTD_compressStream2(cctx, &ob, &in, mode);
      out->resize(start + ob.pos);
      if (ZSTD_isError(left))
        return Status::InvalidArgument(std::string("zstd: ") + ZSTD_getErrorName(left));
      const bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
      if (done) return Status::Ok();
    }
  }
};

ZstdStreamCompressor::ZstdStreamCompressor(int level, std::optional<uint64_t> pledged_size)
    : impl_(std::make_unique<Impl>()) {
  FERRY_CHECK(impl_->cctx != nullptr);
  ZSTD_CCtx_setParameter(impl_->cctx, ZSTD_c_compressionLevel, level);
  if (pledged_size) ZSTD_CCtx_setPledgedSrcSize(impl_->cctx, *pledged_size);
}

ZstdStreamCompressor::~ZstdStreamCompressor() = default;

Status ZstdStreamCompressor::Append(std::string_view data, std::string* out) {
  return impl_->Run(data, ZSTD_e_continue, out);
}

Status ZstdStreamCompressor::Finish(std::string* out) { return impl_->Run({}, ZSTD_e_end, out); }

struct ZstdStreamDecompressor::Impl {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ~Impl() { ZSTD_freeDCtx(dctx); }
};

ZstdStreamDecompressor::ZstdStreamDecompressor() : impl_(std::make_unique<Impl>()) {
  FERRY_CHECK(impl_->dctx != nullptr);
}

ZstdStreamDecompressor::~ZstdStreamDecompressor() = default;

Status ZstdStreamDecompressor::Run(std::string_view* in, std::string* out, size_t max_out) {
  while (!done_ && out->size() < max_out) {
    const size_t start = out->size();
    out->resize(max_out);
    ZSTD_inBuffer ib{in->data(), in->size(), 0};
    ZSTD_outBuffer ob{out->data() + start, max_out - start, 0};
    const size_t r = ZSTD_decompressStream(impl_->dctx, &ob, &ib);
    out->resize(start + ob.pos);
    in->remove_prefix(ib.pos);
    if (ZSTD_isError(r)) return Status::Corruption(std::string("zstd: ") + ZSTD_getErrorName(r));
    if (r == 0) done_ = true;
    // No progress: it needs more input than there is.
    if (ib.pos == 0 && ob.pos == 0) break;
  }
  return Status::Ok();
}

}  // namespace ferry
