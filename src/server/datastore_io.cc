// DatastoreIo for workspaceblobstore and directory datastores (datastore_io.h).
#include "server/datastore_io.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/byte_source.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/seal.h"
#include "data/s3_client.h"
#include "store/asset_store.h"
#include "store/blob_store.h"

namespace ferry::server {

namespace {

namespace fs = std::filesystem;

std::string Joined(const std::string& dir, const std::string& rel) {
  if (dir.empty()) return rel;
  if (rel.empty()) return dir;
  return dir + "/" + rel;
}

// The workspace's own store: paths in the store's index, bytes in the blob store.
class BlobDatastoreIo final : public DatastoreIo {
 public:
  BlobDatastoreIo(std::string name, store::AssetStore* assets, store::BlobStore* blobs, double now)
      : name_(std::move(name)), assets_(*assets), blobs_(*blobs), now_(now) {}

  Result<std::vector<DataFile>> List(const std::string& prefix) override {
    FERRY_ASSIGN_OR_RETURN(auto files, assets_.ListDatastoreFiles(name_, prefix));
    std::vector<DataFile> out;
    out.reserve(files.size());
    for (auto& f : files) out.push_back({std::move(f.path), f.size, f.modified_at, f.blob, ""});
    return out;
  }

  Result<int64_t> Put(const model::Manifest& files, const std::string& target,
                      bool overwrite) override {
    std::vector<model::DatastoreFile> put;
    put.reserve(files.entries.size());
    for (const auto& e : files.entries) {
      put.push_back({Joined(target, e.path), e.hash, static_cast<int64_t>(e.size), 0});
    }
    FERRY_RETURN_IF_ERROR(assets_.PutDatastoreFiles(name_, put, overwrite, now_));
    return static_cast<int64_t>(put.size());
  }

  Result<std::unique_ptr<ByteSource>> Open(const std::string& path) override {
    FERRY_ASSIGN_OR_RETURN(auto files, assets_.ListDatastoreFiles(name_, path));
    if (files.empty() || files[0].path != path) {
      return Status::NotFound("datastore '" + name_ + "' has no file '" + path + "'");
    }
    return blobs_.Open(files[0].blob);
  }

 private:
  std::string name_;
  store::AssetStore& assets_;
  store::BlobStore& blobs_;
  double now_;
};

// A directory shared with the targets. Symbolic links in it are not followed: a file reached
// through one is left out of listings and refused on reads and writes, so nothing outside the
// directory is ever read or written through the datastore.
class DirectoryDatastoreIo final : public DatastoreIo {
 public:
  DirectoryDatastoreIo(std::string name, std::string root, store::BlobStore* blobs)
      : name_(std::move(name)), root_(std::move(root)), blobs_(*blobs) {}

  Result<std::vector<DataFile>> List(const std::string& prefix) override {
    // Walk the deepest directory the prefix names entirely, keep what starts with the prefix.
    const size_t slash = prefix.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : prefix.substr(0, slash);
    std::vector<DataFile> out;
    const std::string start = Joined(root_, dir);
    struct stat st {};
    if (::lstat(start.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return out;
    std::error_code ec;
    fs::recursive_directory_iterator it(start, fs::directory_options::skip_permission_denied, ec);
    if (ec)
      return Status::Unavailable("datastore '" + name_ + "': cannot read '" + start +
                                 "': " + ec.message());
    const size_t root_len = root_.size() + 1;
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        return Status::Unavailable("datastore '" + name_ + "': cannot read under '" + start +
                                   "': " + ec.message());
      }
      const fs::directory_entry& e = *it;
      if (e.is_symlink(ec) || !e.is_regular_file(ec)) continue;
      std::string path = e.path().string().substr(root_len);
      if (path.compare(0, prefix.size(), prefix) != 0) continue;
      if (::lstat(e.path().c_str(), &st) != 0) continue;  // gone meanwhile
      out.push_back({std::move(path), static_cast<int64_t>(st.st_size),
                     static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec * 1e-9, "", ""});
    }
    std::sort(out.begin(), out.end(),
              [](const DataFile& a, const DataFile& b) { return a.path < b.path; });
    return out;
  }

  Result<int64_t> Put(const model::Manifest& files, const std::string& target,
                      bool overwrite) override {
    // First every check, then the writes: a refused upload writes nothing.
    struct Write {
      const model::ManifestEntry* entry;
      std::string rel;
      bool existed;
    };
    std::vector<Write> todo;  // files not there with this content already
    for (const auto& e : files.entries) {
      std::string rel = Joined(target, e.path);
      FERRY_RETURN_IF_ERROR(CheckNoLinks(rel));
      struct stat st {};
      const std::string full = Joined(root_, rel);
      const bool existed = ::lstat(full.c_str(), &st) == 0;
      if (existed && !S_ISREG(st.st_mode)) {
        return Status::AlreadyExists("datastore '" + name_ + "': '" + rel +
                                     "' exists and is not a file");
      }
      if (existed && SameContent(full, st, e)) continue;
      if (existed && !overwrite) {
        return Status::AlreadyExists("datastore '" + name_ + "' already has other content at '" +
                                     rel + "'; upload with overwrite=True (CLI: --overwrite) " +
                                     "to replace it, or choose another target path");
      }
      todo.push_back({&e, std::move(rel), existed});
    }
    std::vector<std::string> created;  // removed again when a later write fails
    for (const auto& w : todo) {
      const std::string full = Joined(root_, w.rel);
      Status s = MakeDirs(fs::path(full).parent_path().string());
      if (s.ok()) s = CopyBlob(w.entry->hash, full);
      if (!s.ok()) {
        for (const auto& c : created) ::unlink(c.c_str());
        return s.WithContext("datastore '" + name_ + "': writing '" + w.rel + "'");
      }
      if (!w.existed) created.push_back(full);
    }
    return static_cast<int64_t>(todo.size());
  }

  Result<std::unique_ptr<ByteSource>> Open(const std::string& path) override {
    UniqueFd root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid()) return ErrnoStatus("open", root_, errno);
    auto fd = OpenBeneath(root.get(), path, O_RDONLY | O_CLOEXEC);
    if (!fd.ok()) {
      if (fd.status().code() == StatusCode::kNotFound) {
        return Status::NotFound("datastore '" + name_ + "' has no file '" + path + "'");
      }
      return fd.status().WithContext("datastore '" + name_ + "'");
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) return ErrnoStatus("cannot stat", Joined(root_, path), errno);
    if (!S_ISREG(st.st_mode)) {
      return Status::InvalidArgument("datastore '" + name_ + "': '" + path + "' is not a file");
    }
    return FileSource(std::move(fd).value(), static_cast<uint64_t>(st.st_size),
                      Joined(root_, path));
  }

 private:
  // Writes a blob's content to the file full (beside it first, renamed onto it once whole and
  // verified), piece by piece.
  Status CopyBlob(const std::string& hash, const std::string& full) {
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, blobs_.Open(hash));
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Create(full, 0644));
    std::string piece;
    for (;;) {
      FERRY_RETURN_IF_ERROR(source->Read(&piece));
      if (piece.empty()) break;
      FERRY_RETURN_IF_ERROR(file->Append(piece));
    }
    return file->Commit(/*sync=*/true);
  }

  // Every directory on the way to rel that exists is a real directory, not a link.
  Status CheckNoLinks(const std::string& rel) const {
    std::string at = root_;
    size_t start = 0;
    for (;;) {
      const size_t slash = rel.find('/', start);
      if (slash == std::string::npos) break;
      at += "/" + rel.substr(start, slash - start);
      struct stat st {};
      if (::lstat(at.c_str(), &st) != 0) break;  // created by Put
      if (!S_ISDIR(st.st_mode)) {
        return Status::FailedPrecondition("datastore '" + name_ + "': '" +
                                          at.substr(root_.size() + 1) +
                                          "' is not a directory (symbolic links are not followed)");
      }
      start = slash + 1;
    }
    std::string full = Joined(root_, rel);
    struct stat st {};
    if (::lstat(full.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return Status::FailedPrecondition("datastore '" + name_ + "': '" + rel +
                                        "' is a symbolic link, which uploads do not replace");
    }
    return Status::Ok();
  }

  static bool SameContent(const std::string& full, const struct stat& st,
                          const model::ManifestEntry& e) {
    if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != e.size) return false;
    auto hash = Sha256File(full);
    return hash.ok() && *hash == e.hash;
  }

  std::string name_, root_;
  store::BlobStore& blobs_;
};

// ISO 8601 ("2026-12-07T08:00:00.000Z") as seconds since the epoch; 0 when unreadable.
double ParseIsoTime(const std::string& s) {
  struct tm tm {};
  int ms = 0;
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(::timegm(&tm)) + ms / 1000.0;
}

// An object read in ranges of kRange bytes (each GET checked against the ETag the object had
// when opened), handed out in pieces.
class S3Source final : public ByteSource {
 public:
  S3Source(std::shared_ptr<data::S3Client> client, std::string key, std::string etag, uint64_t size)
      : client_(std::move(client)), key_(std::move(key)), etag_(std::move(etag)), size_(size) {}
  uint64_t size() const override { return size_; }
  Status Read(std::string* piece) override {
    if (at_ == range_.size()) {
      const uint64_t n = std::min<uint64_t>(kRange, size_ - fetched_);
      range_.clear();
      at_ = 0;
      if (n == 0) {
        piece->clear();
        return Status::Ok();
      }
      FERRY_ASSIGN_OR_RETURN(range_, client_->GetObjectRange(key_, etag_, fetched_, n));
      fetched_ += n;
    }
    const size_t take = std::min(kPiece, range_.size() - at_);
    piece->assign(range_, at_, take);
    at_ += take;
    return Status::Ok();
  }

 private:
  static constexpr uint64_t kRange = 8 << 20;
  std::shared_ptr<data::S3Client> client_;
  std::string key_, etag_;
  uint64_t size_;
  uint64_t fetched_ = 0;  // bytes of the object fetched so far
  std::string range_;     // the last range fetched
  size_t at_ = 0;         // bytes of range_ handed out
};

// An S3 bucket (under the datastore's prefix). Writes are all or none: objects this call
// created are deleted again when a later one fails.
class S3DatastoreIo final : public DatastoreIo {
 public:
  S3DatastoreIo(model::DatastoreRecord d, std::unique_ptr<data::S3Client> client,
                store::BlobStore* blobs)
      : d_(std::move(d)), client_(std::move(client)), blobs_(*blobs), prefix_(S3Prefix(d_)) {}

  Result<std::vector<DataFile>> List(const std::string& prefix) override {
    FERRY_ASSIGN_OR_RETURN(auto objects, client_->ListObjects(S3Key(prefix_, prefix)));
    std::vector<DataFile> out;
    const size_t strip = prefix_.empty() ? 0 : prefix_.size() + 1;
    for (auto& o : objects) {
      if (o.key.size() <= strip || o.key.back() == '/') continue;  // "directory" markers
      out.push_back({o.key.substr(strip), static_cast<int64_t>(o.size),
                     ParseIsoTime(o.last_modified), "", o.etag});
    }
    std::sort(out.begin(), out.end(),
              [](const DataFile& a, const DataFile& b) { return a.path < b.path; });
    return out;
  }

  Result<int64_t> Put(const model::Manifest& files, const std::string& target,
                      bool overwrite) override {
    std::vector<const model::ManifestEntry*> todo;
    for (const auto& e : files.entries) {
      const std::string rel = Joined(target, e.path);
      auto head = client_->HeadObject(S3Key(prefix_, rel));
      if (!head.ok() && head.status().code() != StatusCode::kNotFound) return head.status();
      if (head.ok()) {
        if (head->size == e.size) {
          FERRY_ASSIGN_OR_RETURN(std::string etag, EtagOf(e));
          if (head->etag == etag) continue;  // already there
        }
        if (!overwrite) {
          return Status::AlreadyExists("datastore '" + d_.name +
                                       "' already has other content at '" + rel +
                                       "'; upload with overwrite=True (CLI: --overwrite) to "
                                       "replace it, or choose another target path");
        }
      }
      todo.push_back(&e);
    }
    std::vector<std::string> created;
    for (const auto* e : todo) {
      const std::string key = S3Key(prefix_, Joined(target, e->path));
      Status s = PutBlob(key, *e);
      if (!s.ok()) {
        for (const auto& k : created) (void)client_->DeleteObject(k);
        return s.WithContext("datastore '" + d_.name + "'");
      }
      created.push_back(key);
    }
    return static_cast<int64_t>(todo.size());
  }

  Result<std::unique_ptr<ByteSource>> Open(const std::string& path) override {
    const std::string key = S3Key(prefix_, path);
    auto head = client_->HeadObject(key);
    if (!head.ok() && head.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("datastore '" + d_.name + "' has no file '" + path + "'");
    }
    if (!head.ok()) return head.status();
    return std::unique_ptr<ByteSource>(
        std::make_unique<S3Source>(client_, key, head->etag, head->size));
  }

 private:
  // A blob smaller than PutOptions::multipart_threshold goes up from memory in one PUT; a
  // larger one is copied, piece by piece, into a temporary file (in TMPDIR) that goes up as a
  // multipart upload, so that memory stays constant.
  Status PutBlob(const std::string& key, const model::ManifestEntry& e) {
    if (e.size < data::PutOptions().multipart_threshold) {
      FERRY_ASSIGN_OR_RETURN(std::string content, blobs_.Get(e.hash));
      return client_->PutObjectFromString(key, content).status();
    }
    std::error_code ec;
    const std::string tmp =
        (fs::temp_directory_path(ec) / ("ferry-s3-put-" + RandomHex(8))).string();
    if (ec) return Status::IoError("no temporary directory for '" + key + "': " + ec.message());
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoStatus("cannot create", tmp, errno);
    struct Unlink {
      const std::string& path;
      ~Unlink() { ::unlink(path.c_str()); }
    } unlink_tmp{tmp};
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, blobs_.Open(e.hash));
    std::string piece;
    for (;;) {
      FERRY_RETURN_IF_ERROR(source->Read(&piece));
      if (piece.empty()) break;
      FERRY_RETURN_IF_ERROR(WriteAll(fd.get(), piece, tmp));
    }
    fd.Reset();
    return client_->PutObjectFromFile(key, tmp).status();
  }

  // The ETag S3 gives the blob's content as PutBlob puts it: the MD5 of a single PUT, or of a
  // multipart upload the MD5 of its parts' MD5s and "-<parts>". Read in pieces.
  Result<std::string> EtagOf(const model::ManifestEntry& e) {
    const data::PutOptions options;
    const bool multipart = e.size >= options.multipart_threshold;
    const uint64_t part = multipart ? data::MultipartPartSize(e.size, options) : e.size + 1;
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, blobs_.Open(e.hash));
    Md5 whole, of_parts;
    uint64_t in_part = 0;
    int parts = 0;
    std::string piece;
    for (;;) {
      FERRY_RETURN_IF_ERROR(source->Read(&piece));
      if (piece.empty()) break;
      std::string_view rest(piece);
      while (!rest.empty()) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(rest.size(), part - in_part));
        whole.Update(rest.substr(0, n));
        rest.remove_prefix(n);
        in_part += n;
        if (in_part == part) {
          of_parts.Update(whole.Raw());
          ++parts;
          in_part = 0;
        }
      }
    }
    if (!multipart) return Hex(whole.Raw());
    if (in_part > 0) {
      of_parts.Update(whole.Raw());
      ++parts;
    }
    return Hex(of_parts.Raw()) + "-" + std::to_string(parts);
  }

  // Incremental MD5 (S3's ETags).
  class Md5 {
   public:
    Md5() : ctx_(EVP_MD_CTX_new()) { FERRY_CHECK(EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr)); }
    ~Md5() { EVP_MD_CTX_free(ctx_); }
    Md5(const Md5&) = delete;
    Md5& operator=(const Md5&) = delete;
    void Update(std::string_view s) { FERRY_CHECK(EVP_DigestUpdate(ctx_, s.data(), s.size())); }
    // The digest's 16 bytes; starts over.
    std::string Raw() {
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned int n = 0;
      FERRY_CHECK(EVP_DigestFinal_ex(ctx_, md, &n));
      FERRY_CHECK(EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr));
      return std::string(reinterpret_cast<const char*>(md), n);
    }

   private:
    EVP_MD_CTX* ctx_;
  };

  static std::string Hex(std::string_view raw) {
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    return out;
  }

  model::DatastoreRecord d_;
  std::shared_ptr<data::S3Client> client_;  // shared with the readers Open() makes
  store::BlobStore& blobs_;
  std::string prefix_;
};

}  // namespace

std::string S3Prefix(const model::DatastoreRecord& d) {
  auto config = nlohmann::json::parse(d.config_json, nullptr, false);
  return config.is_object() ? config.value("prefix", "") : "";
}

std::string S3Key(const std::string& prefix, const std::string& path) {
  if (prefix.empty()) return path;
  return path.empty() ? prefix + "/" : prefix + "/" + path;
}

Result<std::unique_ptr<data::S3Client>> OpenS3Datastore(const model::DatastoreRecord& d,
                                                        const Sealer* sealer, int max_attempts) {
  auto config = nlohmann::json::parse(d.config_json, nullptr, false);
  if (!config.is_object()) return Status::Internal("datastore '" + d.name + "' has no settings");
  data::S3Config c;
  c.endpoint = config.value("endpoint", "");
  c.bucket = config.value("bucket", "");
  c.region = config.value("region", "us-east-1");
  c.path_style = config.value("path_style", true);
  c.access_key = config.value("access_key", "");
  c.ca_file = config.value("ca_file", "");
  const std::string sealed = config.value("secret_key", "");
  if (sealer == nullptr) return Status::Internal("no sealer to open datastore secrets with");
  FERRY_ASSIGN_OR_RETURN(c.secret_key, sealer->Unseal(sealed));
  FERRY_RETURN_IF_ERROR(data::ValidateS3Config(c).WithContext("datastore '" + d.name + "'"));
  data::S3ClientOptions options;
  options.max_attempts = max_attempts;
  if (max_attempts == 1) options.timeout_ms = 10000;
  return data::S3Client::Open(c, options);
}

Result<std::string> DatastorePath(const std::string& field, const std::string& path) {
  size_t b = 0, e = path.size();
  while (b < e && path[b] == '/') ++b;
  while (e > b && path[e - 1] == '/') --e;
  std::string p = path.substr(b, e - b);
  if (p.empty()) return p;
  Status valid = model::ValidateRelativePath(p);
  if (!valid.ok()) return valid.WithContext("field '" + field + "'");
  return p;
}

Result<std::unique_ptr<DatastoreIo>> OpenDatastoreIo(const model::DatastoreRecord& d,
                                                     store::AssetStore* assets,
                                                     store::BlobStore* blobs, const Sealer* sealer,
                                                     double now) {
  if (d.kind == "s3") {
    FERRY_ASSIGN_OR_RETURN(auto client, OpenS3Datastore(d, sealer));
    return std::unique_ptr<DatastoreIo>(
        std::make_unique<S3DatastoreIo>(d, std::move(client), blobs));
  }
  if (d.kind == "blob") {
    return std::unique_ptr<DatastoreIo>(
        std::make_unique<BlobDatastoreIo>(d.name, assets, blobs, now));
  }
  if (d.kind == "directory") {
    auto config = nlohmann::json::parse(d.config_json, nullptr, false);
    std::string root = config.is_object() ? config.value("path", "") : "";
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    if (root.empty()) return Status::Internal("datastore '" + d.name + "' has no path");
    return std::unique_ptr<DatastoreIo>(
        std::make_unique<DirectoryDatastoreIo>(d.name, root, blobs));
  }
  return Status::FailedPrecondition("datastore '" + d.name + "' is of kind '" + d.kind +
                                    "', which this server cannot read or write");
}

}  // namespace ferry::server
