// BlobStore on the local file system.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/zstd_util.h"
#include "store/blob_store.h"

namespace ferry::store {
namespace {

class FsBlobStore final : public BlobStore {
 public:
  explicit FsBlobStore(std::string root) : root_(std::move(root)) {}

  bool Has(const std::string& hash) override {
    if (!IsSha256Hex(hash)) return false;
    struct stat st;
    return ::stat(PathOf(hash).c_str(), &st) == 0;
  }

  Result<std::string> Put(std::string_view content, const std::string& expected) override {
    std::string hash = Sha256Hex(content);
    if (!expected.empty() && hash != expected) {
      return Status::InvalidArgument("blob content does not match its hash " + expected +
                                     " (got " + hash + "); the upload was corrupted, retry it");
    }
    if (Has(hash)) return hash;
    std::string compressed = ZstdCompress(content, 1);
    std::string dir = JoinPath(root_, hash.substr(0, 2));
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("cannot create", dir, errno);
    std::string tmp = JoinPath(root_, "tmp/" + hash + "." + std::to_string(::getpid()) + "." +
                                          std::to_string(counter_.fetch_add(1)));
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoStatus("cannot create", tmp, errno);
    Status st = WriteAll(fd.get(), compressed, tmp);
    fd.Reset();
    if (st.ok() && ::rename(tmp.c_str(), PathOf(hash).c_str()) != 0) st = ErrnoStatus("cannot rename", tmp, errno);
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
    return hash;
  }

  Result<std::string> Get(const std::string& hash) override {
    if (!IsSha256Hex(hash)) return Status::InvalidArgument("'" + hash + "' is not a SHA-256 hex digest");
    auto raw = ReadFile(PathOf(hash));
    if (!raw.ok()) {
      if (raw.status().code() == StatusCode::kNotFound) return Status::NotFound("blob " + hash + " is not stored");
      return raw.status();
    }
    auto content = ZstdDecompress(*raw);
    if (!content.ok() || Sha256Hex(*content) != hash) {
      ::unlink(PathOf(hash).c_str());  // so that the next upload of this content repairs it
      return Status::Corruption("blob " + hash + " failed verification (" + PathOf(hash) +
                                "); it will be accepted again on the next upload");
    }
    return std::move(content).value();
  }

  Status Sync() override {
    UniqueFd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus("cannot open", root_, errno);
    if (::syncfs(fd.get()) != 0) return ErrnoStatus("cannot sync", root_, errno);
    return Status::Ok();
  }

 private:
  std::string PathOf(const std::string& hash) const {
    std::string p = root_;
    p += '/';
    p.append(hash, 0, 2);
    p += '/';
    p += hash;
    return p;
  }
  std::string root_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenFsBlobStore(const std::string& root) {
  FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(root, "tmp")));
  return std::unique_ptr<BlobStore>(std::make_unique<FsBlobStore>(root));
}

}  // namespace ferry::store
