// The in-memory and file ByteSources (byte_source.h).
#include "common/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ferry {
namespace {

class StringByteSource final : public ByteSource {
 public:
  explicit StringByteSource(std::string data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_.size(); }
  Status Read(std::string* piece) override {
    const size_t n = std::min(kPiece, data_.size() - at_);
    piece->assign(data_, at_, n);
    at_ += n;
    return Status::Ok();
  }

 private:
  std::string data_;
  size_t at_ = 0;
};

class FileByteSource final : public ByteSource {
 public:
  FileByteSource(UniqueFd fd, uint64_t size, std::string path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  uint64_t size() const override { return size_; }
  Status Read(std::string* piece) override {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kPiece, size_ - done_));
    piece->resize(want);
    size_t got = 0;
    while (got < want) {
      const ssize_t n = ::read(fd_.get(), piece->data() + got, want - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("cannot read", path_, errno);
      if (n == 0) {
        return Status::IoError("'" + path_ + "' ended after " + std::to_string(done_ + got) +
                               " of the " + std::to_string(size_) +
                               " bytes it had when opened: it changed while being read; "
                               "read it again");
      }
      got += static_cast<size_t>(n);
    }
    done_ += want;
    return Status::Ok();
  }

 private:
  UniqueFd fd_;
  uint64_t size_;
  uint64_t done_ = 0;
  std::string path_;
};

class PrefixedByteSource final : public ByteSource {
 public:
  PrefixedByteSource(std::string head, std::unique_ptr<ByteSource> rest)
      : head_(std::move(head)), rest_(std::move(rest)) {}
  uint64_t size() const override { return head_.size() + rest_->size(); }
  Status Read(std::string* piece) override {
    if (!head_sent_) {
      head_sent_ = true;
      if (!head_.empty()) {
        *piece = head_;
        return Status::Ok();
      }
    }
    return rest_->Read(piece);
  }

 private:
  std::string head_;
  bool head_sent_ = false;
  std::unique_ptr<ByteSource> rest_;
};

}  // namespace

Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument("'" + path + "' is not a regular file");
  return FileSource(std::move(fd), static_cast<uint64_t>(st.st_size), path);
}

std::unique_ptr<ByteSource> PrefixedSource(std::string head, std::unique_ptr<ByteSource> rest) {
  return std::make_unique<PrefixedByteSource>(std::move(head), std::move(rest));
}

std::unique_ptr<ByteSource> StringSource(std::string data) {
  return std::make_unique<StringByteSource>(std::move(data));
}

std::unique_ptr<ByteSource> FileSource(UniqueFd fd, uint64_t size, std::string path_for_errors) {
  return std::make_unique<FileByteSource>(std::move(fd), size, std::move(path_for_errors));
}

Result<std::string> ReadWhole(ByteSource& source) {
  std::string out, piece;
  out.reserve(static_cast<size_t>(source.size()));
  for (;;) {
    FERRY_RETURN_IF_ERROR(source.Read(&piece));
    if (piece.empty()) return out;
    out += piece;
  }
}

}  // namespace ferry
