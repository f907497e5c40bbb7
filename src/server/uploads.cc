// Streaming blob uploads.
#include "server/uploads.h"

#include <charconv>

#include "common/crypto.h"

namespace ferry::server {

Status BlobBatchSink::Fail(Status st) {
  if (error_.ok()) error_ = std::move(st);
  writer_.reset();
  return error_;
}

Status BlobBatchSink::Write(std::string_view piece) {
  if (!error_.ok()) return error_;
  while (!piece.empty()) {
    if (!writer_) {
      // A record header: "<hash> <length>\n", at most 100 bytes.
      size_t nl = piece.find('\n');
      size_t take = nl == std::string_view::npos ? piece.size() : nl + 1;
      header_.append(piece.substr(0, take));
      piece.remove_prefix(take);
      if (header_.back() != '\n') {
        if (header_.size() > 100)
          return Fail(
              Status::InvalidArgument("malformed blob batch at byte " + std::to_string(offset_)));
        continue;
      }
      std::string_view h(header_);
      h.remove_suffix(1);
      size_t sp = h.find(' ');
      if (sp == std::string_view::npos) {
        return Fail(Status::InvalidArgument("malformed blob header at byte " +
                                            std::to_string(offset_) +
                                            ": expected '<sha256> <length>'"));
      }
      hash_ = std::string(h.substr(0, sp));
      if (!IsSha256Hex(hash_)) {
        return Fail(Status::InvalidArgument("blob batch names '" + hash_.substr(0, 80) +
                                            "', which is not a lowercase SHA-256 hex digest"));
      }
      std::string_view len = h.substr(sp + 1);
      auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), remaining_);
      if (ec != std::errc() || end != len.data() + len.size() || len.empty()) {
        return Fail(Status::InvalidArgument("bad length '" + std::string(len.substr(0, 40)) +
                                            "' for blob " + hash_));
      }
      offset_ += header_.size();
      header_.clear();
      writer_ = blobs_->NewWriter(hash_, remaining_);
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, piece.size()));
    if (n > 0) {
      Status st = writer_->Append(piece.substr(0, n));
      if (!st.ok()) return Fail(st.WithContext("blob " + hash_));
      piece.remove_prefix(n);
      remaining_ -= n;
      offset_ += n;
    }
    if (remaining_ == 0) {
      auto stored = writer_->Commit();
      writer_.reset();
      if (!stored.ok()) return Fail(stored.status().WithContext("blob " + hash_));
      ++stored_;
    }
  }
  return Status::Ok();
}

Result<int> BlobBatchSink::Finish() {
  if (!error_.ok()) return error_;
  if (writer_ || !header_.empty()) {
    return Fail(Status::InvalidArgument("blob " + (writer_ ? hash_ : std::string("header")) +
                                        " is truncated: the batch ends early"));
  }
  FERRY_RETURN_IF_ERROR(blobs_->Sync());
  return stored_;
}

Status BlobSink::Write(std::string_view piece) {
  if (!error_.ok()) return error_;
  size_ += piece.size();
  error_ = writer_->Append(piece);
  return error_;
}

Result<std::pair<std::string, uint64_t>> BlobSink::Finish() {
  if (!error_.ok()) return error_;
  FERRY_ASSIGN_OR_RETURN(std::string hash, writer_->Commit());
  FERRY_RETURN_IF_ERROR(blobs_->Sync());  // durable before a run names it
  return std::make_pair(hash, size_);
}

}  // namespace ferry::server
