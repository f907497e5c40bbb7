// Snapshot walk (openat/fstatat), stat cache, parallel hashing, manifest assembly and git state.
#include "snapshot/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/subprocess.h"
#include "snapshot/ignore.h"

namespace ferry::snapshot {
namespace {

constexpr int64_t kNanos = 1000000000;
// A cache entry whose mtime is this close to (or after) the time the cache was written is not
// trusted: the file may have changed again within the file system's timestamp granularity.
constexpr int64_t kRacyWindowNs = 2 * kNanos;
constexpr char kCacheMagic[8] = {'F', 'E', 'R', 'R', 'Y', 'S', 'C', '1'};
constexpr size_t kHashBytes = 32;

int64_t NowNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNanos + ts.tv_nsec;
}

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * kNanos + ts.tv_nsec;
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void HexToRaw(const std::string& hex, unsigned char* out) {
  for (size_t i = 0; i < kHashBytes; ++i)
    out[i] = static_cast<unsigned char>(HexVal(hex[2 * i]) << 4 | HexVal(hex[2 * i + 1]));
}

void RawToHex(const unsigned char* raw, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out->resize(2 * kHashBytes);
  char* o = out->data();
  for (size_t i = 0; i < kHashBytes; ++i) {
    o[2 * i] = kDigits[raw[i] >> 4];
    o[2 * i + 1] = kDigits[raw[i] & 0xf];
  }
}

// Cheap 64-bit checksum (word at a time) to detect a torn or corrupt cache file.
uint64_t Checksum(std::string_view data) {
  uint64_t h = 0x6a09e667f3bcc908ULL ^ data.size();
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  for (; i < data.size(); ++i) h = (h ^ static_cast<unsigned char>(data[i])) * 0x100000001B3ULL;
  h ^= h >> 32;
  return h;
}

template <typename T>
void PutPod(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
bool GetPod(std::string_view* in, T* v) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

// The stat cache, loaded whole; records point into the file's bytes (no per-entry allocation).
//   "FERRYSC1" u32 root_len root i64 written_at_ns u64 count
//   count x { u32 path_len path u64 size i64 mtime_ns u64 ino i64 ctime_ns raw_hash[32] }
//   u64 checksum(everything before)
// Records are in walk order (see StatCache::Find).
struct CacheRecord {
  std::string_view path;
  uint64_t size;
  int64_t mtime_ns;
  uint64_t ino;
  int64_t ctime_ns;
  const unsigned char* hash;
};

class StatCache {
 public:
  // Never fails: a missing, unreadable, corrupt or foreign cache loads as empty.
  void Load(const std::string& path, const std::string& root) {
    auto data = ReadFile(path);
    if (!data.ok()) return;
    buf_ = std::move(data).value();
    if (!Parse(root)) {
      records_.clear();
      buf_.clear();
      written_at_ns_ = 0;
      return;
    }
    sorted_.resize(records_.size());
    for (uint32_t i = 0; i < sorted_.size(); ++i) sorted_[i] = i;
    std::sort(sorted_.begin(), sorted_.end(),
              [this](uint32_t a, uint32_t b) { return records_[a].path < records_[b].path; });
  }

  // Records are stored in the previous walk's order, so the caller's cursor usually finds the
  // next one with a single comparison; otherwise the sorted index is searched. Thread-safe.
  const CacheRecord* Find(std::string_view path, size_t* cursor) const {
    if (*cursor < records_.size() && records_[*cursor].path == path) return &records_[(*cursor)++];
    auto it =
        std::lower_bound(sorted_.begin(), sorted_.end(), path,
                         [this](uint32_t i, std::string_view p) { return records_[i].path < p; });
    if (it == sorted_.end() || records_[*it].path != path) return nullptr;
    *cursor = *it + 1;
    return &records_[*it];
  }
  size_t size() const { return records_.size(); }
  int64_t written_at_ns() const { return written_at_ns_; }

 private:
  bool Parse(const std::string& root) {
    std::string_view in(buf_);
    if (in.size() < sizeof kCacheMagic + 8 ||
        std::memcmp(in.data(), kCacheMagic, sizeof kCacheMagic) != 0)
      return false;
    uint64_t stored_sum;
    std::memcpy(&stored_sum, in.data() + in.size() - 8, 8);
    in.remove_suffix(8);
    if (Checksum(in) != stored_sum) return false;
    in.remove_prefix(sizeof kCacheMagic);
    uint32_t root_len;
    if (!GetPod(&in, &root_len) || in.size() < root_len) return false;
    if (in.substr(0, root_len) != root) return false;  // another source directory's cache
    in.remove_prefix(root_len);
    uint64_t count;
    if (!GetPod(&in, &written_at_ns_) || !GetPod(&in, &count)) return false;
    constexpr size_t kFixed = 4 + 8 + 8 + 8 + 8 + kHashBytes;
    if (count > in.size() / kFixed) return false;
    records_.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      CacheRecord r;
      uint32_t len;
      if (!GetPod(&in, &len) || in.size() < len + (kFixed - 4)) return false;
      r.path = in.substr(0, len);
      in.remove_prefix(len);
      GetPod(&in, &r.size);
      GetPod(&in, &r.mtime_ns);
      GetPod(&in, &r.ino);
      GetPod(&in, &r.ctime_ns);
      r.hash = reinterpret_cast<const unsigned char*>(in.data());
      in.remove_prefix(kHashBytes);
      records_.push_back(r);
    }
    return in.empty();
  }

  std::string buf_;
  std::vector<CacheRecord> records_;
  std::vector<uint32_t> sorted_;  // indexes into records_, by path
  int64_t written_at_ns_ = 0;
};

struct FileRec {
  model::ManifestEntry entry;
  uint64_t ino = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  int32_t link = -1;      // index into Walker::link_targets_ for symlinks
  bool stated = false;    // stat fields filled in (else StatAndLookup does it)
  bool removed = false;   // vanished (or stopped being a regular file) before it was stat'ed
  bool hit = false;       // the stat cache vouched for the hash
  bool cacheable = true;  // false when the file changed while it was hashed
};

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

class Walker {
 public:
  Walker(std::string root, const StatCache* cache, SnapshotResult* result)
      : root_(std::move(root)), cache_(cache), result_(result) {
    root_prefix_ = root_;
    if (root_prefix_.empty() || root_prefix_.back() != '/') root_prefix_.push_back('/');
    path_.reserve(4096 + 256);
    recs_.reserve(cache->size() + 1024);
    trust_before_ns_ = cache->written_at_ns() - kRacyWindowNs;
  }

  Status Walk(int root_fd) { return WalkDir(root_fd, 0); }
  void Exclude(const std::vector<std::string>& dirs) { excluded_.insert(dirs.begin(), dirs.end()); }
  void SetContentSink(const SnapshotOptions& o) {
    use_ignore_files_ = o.use_ignore_files;
    on_content_ = o.on_content;
    on_content_max_ = o.on_content_max_bytes;
    on_hashed_ = o.on_hashed;
  }
  // Stats the files the walk did not (in parallel, by path) and consults the stat cache.
  Status StatAndLookup(int threads);
  Status HashMisses(int threads);

  std::vector<FileRec>& recs() { return recs_; }
  const std::string& root_prefix() const { return root_prefix_; }

 private:
  std::function<Status(const std::string&, std::string_view)> on_content_;
  uint64_t on_content_max_ = 0;
  std::function<void(const SnapshotOptions::HashProgress&)> on_hashed_;
  std::unordered_set<std::string> excluded_;
  bool use_ignore_files_ = true;
  struct Level {
    std::string names;                                        // NUL-separated entry names
    std::vector<std::pair<uint32_t, unsigned char>> entries;  // (offset into names, d_type)
  };

  std::string Abs(std::string_view rel) const {
    std::string out;
    out.reserve(root_prefix_.size() + rel.size());
    out.append(root_prefix_).append(rel);
    return out;
  }

  Status WalkDir(int dir_fd, size_t depth);
  Status AddFile(const struct stat& st, int32_t link);
  Status AddSymlink();

  std::string root_;
  std::string root_prefix_;
  const StatCache* cache_;
  SnapshotResult* result_;
  int64_t trust_before_ns_ = 0;
  std::string path_;  // relative path of the entry being visited
  IgnoreStack ignore_;
  std::deque<Level> levels_;  // one per depth, reused (deque: stable references)
  std::vector<FileRec> recs_;
  std::vector<size_t> misses_;  // indexes into recs_ that need hashing
  std::vector<std::string> link_targets_;
};

Status Walker::WalkDir(int dir_fd, size_t depth) {
  std::string dir_abs = path_.empty() ? root_ : Abs(path_);
  DIR* dir = ::fdopendir(dir_fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(dir_fd);
    return ErrnoStatus("cannot read directory", dir_abs, err);
  }
  struct DirCloser {
    DIR* d;
    ~DirCloser() { ::closedir(d); }
  } closer{dir};

  if (levels_.size() <= depth) levels_.emplace_back();
  Level& level = levels_[depth];
  level.names.clear();
  level.entries.clear();
  unsigned ignore_mask = 0;
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(dir);
    if (de == nullptr) {
      if (errno != 0) return ErrnoStatus("cannot read directory", dir_abs, errno);
      break;
    }
    const char* name = de->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    size_t len = std::strlen(name);
    if (name[0] == '.' && use_ignore_files_) {
      for (size_t i = 0; i < kIgnoreFileNames.size(); ++i)
        if (kIgnoreFileNames[i] == std::string_view(name, len)) ignore_mask |= 1u << i;
    }
    level.entries.emplace_back(static_cast<uint32_t>(level.names.size()), de->d_type);
    level.names.append(name, len + 1);
  }
  const int fd = ::dirfd(dir);
  FERRY_RETURN_IF_ERROR(ignore_.PushDir(fd, path_, dir_abs, ignore_mask));

  const size_t base_len = path_.size();
  for (size_t i = 0; i < level.entries.size(); ++i) {
    const char* name = level.names.data() + level.entries[i].first;
    unsigned char type = level.entries[i].second;
    path_.resize(base_len);
    if (base_len != 0) path_.push_back('/');
    path_.append(name);

    struct stat st;
    bool have_stat = false;
    if (type == DT_UNKNOWN) {
      if (::fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we walk
        return ErrnoStatus("cannot stat", Abs(path_), errno);
      }
      have_stat = true;
      if (S_ISDIR(st.st_mode))
        type = DT_DIR;
      else if (S_ISREG(st.st_mode))
        type = DT_REG;
      else if (S_ISLNK(st.st_mode))
        type = DT_LNK;
      else
        type = DT_UNKNOWN;  // special file
    }
    const bool is_dir = type == DT_DIR;
    if (ignore_.IsIgnored(path_, is_dir)) continue;
    if (path_.size() > 4096 || std::strchr(name, '\n') != nullptr) {
      Status v = model::ValidateRelativePath(path_);
      if (!v.ok())
        return Status::InvalidArgument("cannot snapshot " + Quote(Abs(path_)) + ": " + v.message() +
                                       "; rename it or list it in .ferryignore");
    }
    switch (type) {
      case DT_DIR: {
        if (!excluded_.empty() && excluded_.count(path_)) continue;
        int sub = ::openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
          if (errno == ENOENT) continue;
          if (errno == EACCES || errno == EPERM)
            return Status::PermissionDenied("cannot open directory " + Quote(Abs(path_)) + ": " +
                                            std::strerror(errno) +
                                            "; fix its permissions or list it in .ferryignore");
          return ErrnoStatus("cannot open directory", Abs(path_), errno);
        }
        FERRY_RETURN_IF_ERROR(WalkDir(sub, depth + 1));
        ignore_.Pop();
        break;
      }
      case DT_REG:
        if (have_stat) {
          FERRY_RETURN_IF_ERROR(AddFile(st, -1));
        } else {
          recs_.emplace_back().entry.path = path_;  // stat'ed in parallel by StatAndLookup
        }
        break;
      case DT_LNK:
        FERRY_RETURN_IF_ERROR(AddSymlink());
        break;
      default:
        result_->warnings.push_back(
            "skipped " + Quote(path_) +
            ": not a regular file, directory or symlink (socket, fifo or device)");
        break;
    }
  }
  path_.resize(base_len);
  return Status::Ok();
}

void FillStat(const struct stat& st, FileRec* r) {
  r->entry.mode = (st.st_mode & 0111) != 0 ? 0755 : 0644;
  r->entry.size = static_cast<uint64_t>(st.st_size);
  r->ino = static_cast<uint64_t>(st.st_ino);
  r->mtime_ns = ToNs(st.st_mtim);
  r->ctime_ns = ToNs(st.st_ctim);
  r->stated = true;
}

Status Walker::AddFile(const struct stat& st, int32_t link) {
  FileRec& r = recs_.emplace_back();
  r.entry.path = path_;
  FillStat(st, &r);
  r.link = link;
  return Status::Ok();
}

Status Walker::StatAndLookup(int threads) {
  size_t n = std::min<size_t>(static_cast<size_t>(std::max(1, threads)), recs_.size() / 2048 + 1);
  std::vector<Status> errors(n);
  auto work = [&](size_t t) {
    size_t begin = recs_.size() * t / n, end = recs_.size() * (t + 1) / n;
    std::string abs;
    abs.reserve(root_prefix_.size() + 4096 + 1);
    size_t cursor = 0;
    // Records come in walk order, so neighbours share a directory: open it once (O_PATH)
    // and stat its files relative to it, instead of resolving every full path.
    std::string dir_of_fd;
    UniqueFd dir_fd;
    for (size_t i = begin; i < end; ++i) {
      FileRec& r = recs_[i];
      if (!r.stated) {
        const std::string& rel = r.entry.path;
        size_t slash = rel.rfind('/');
        std::string_view dir = slash == std::string::npos ? std::string_view()
                                                          : std::string_view(rel).substr(0, slash);
        if (!dir_fd.valid() || dir != dir_of_fd) {
          dir_of_fd.assign(dir);
          abs.assign(root_prefix_).append(dir);
          dir_fd.Reset(::open(abs.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        }
        const char* name = rel.c_str() + (slash == std::string::npos ? 0 : slash + 1);
        struct stat st;
        int rc = dir_fd.valid() ? ::fstatat(dir_fd.get(), name, &st, AT_SYMLINK_NOFOLLOW)
                                : ::lstat(abs.assign(root_prefix_).append(rel).c_str(), &st);
        if (rc != 0) {
          abs.assign(root_prefix_).append(rel);
          if (errno == ENOENT) {
            r.removed = true;
            continue;
          }
          errors[t] = ErrnoStatus("cannot stat", abs, errno);
          return;
        }
        if (!S_ISREG(st.st_mode)) {  // replaced while we walked; gone from this snapshot
          r.removed = true;
          continue;
        }
        FillStat(st, &r);
      }
      const CacheRecord* c = cache_->Find(r.entry.path, &cursor);
      if (c != nullptr && c->size == r.entry.size && c->mtime_ns == r.mtime_ns && c->ino == r.ino &&
          c->ctime_ns == r.ctime_ns && c->mtime_ns < trust_before_ns_) {
        RawToHex(c->hash, &r.entry.hash);
        r.hit = true;
      }
    }
  };
  if (n == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    pool.reserve(n);
    for (size_t t = 0; t < n; ++t) pool.emplace_back(work, t);
    for (auto& th : pool) th.join();
  }
  for (Status& e : errors)
    if (!e.ok()) return e;
  if (std::any_of(recs_.begin(), recs_.end(), [](const FileRec& r) { return r.removed; }))
    recs_.erase(
        std::remove_if(recs_.begin(), recs_.end(), [](const FileRec& r) { return r.removed; }),
        recs_.end());
  misses_.clear();
  for (size_t i = 0; i < recs_.size(); ++i)
    if (!recs_[i].hit) misses_.push_back(i);
  return Status::Ok();
}

Status Walker::AddSymlink() {
  std::string abs = Abs(path_);
  char* resolved_c = ::realpath(abs.c_str(), nullptr);
  if (resolved_c == nullptr) {
    int err = errno;
    if (err == ENOENT || err == ELOOP || err == ENOTDIR) {
      result_->warnings.push_back("skipped dangling symlink " + Quote(path_));
      return Status::Ok();
    }
    return ErrnoStatus("cannot resolve symlink", abs, err);
  }
  std::string resolved(resolved_c);
  std::free(resolved_c);
  struct stat st;
  if (::stat(resolved.c_str(), &st) != 0) {
    result_->warnings.push_back("skipped dangling symlink " + Quote(path_));
    return Status::Ok();
  }
  if (S_ISDIR(st.st_mode)) {
    result_->warnings.push_back("did not follow directory symlink " + Quote(path_) + " -> " +
                                resolved);
    return Status::Ok();
  }
  bool inside = resolved.size() > root_prefix_.size() &&
                resolved.compare(0, root_prefix_.size(), root_prefix_) == 0;
  if (!inside)
    return Status::InvalidArgument("symlink " + Quote(path_) +
                                   " points outside the source directory (" + resolved +
                                   "); remove it or list it in .ferryignore");
  if (!S_ISREG(st.st_mode)) {
    result_->warnings.push_back("skipped symlink " + Quote(path_) + ": its target " + resolved +
                                " is not a regular file");
    return Status::Ok();
  }
  link_targets_.push_back(std::move(resolved));
  return AddFile(st, static_cast<int32_t>(link_targets_.size() - 1));
}

// A hashing thread's buffer for file contents, reused from file to file: no allocation,
// zero-fill or fresh pages per file (for a large file those cost about as much as reading it).
class ReadBuffer {
 public:
  // Room for n bytes, keeping the first `keep`.
  char* Reserve(size_t n, size_t keep = 0) {
    if (n > cap_) {
      const size_t cap = std::max(n, cap_ + cap_ / 2);
      std::unique_ptr<char[]> bigger(new char[cap]);  // uninitialised: it is read into
      if (keep > 0) std::memcpy(bigger.get(), data_.get(), keep);
      data_ = std::move(bigger);
      cap_ = cap;
    }
    return data_.get();
  }
  // Gives back a buffer grown for one unusually large file.
  void Trim(size_t max) {
    if (cap_ > max) {
      data_.reset();
      cap_ = 0;
    }
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0;
};

// Reads a file whose size the walk already knows into buf: one read() of size + 1 bytes
// normally returns everything and proves the end (a regular file reads short only at its
// end), so there is no fstat and no extra read for EOF. A file that grew is read to its end.
// fd is open on the file; path names it in errors.
Result<std::string_view> ReadExpectingSize(int fd, const std::string& path, uint64_t size,
                                           ReadBuffer* buf) {
  size_t want = size + 1;
  char* data = buf->Reserve(want);
  size_t got = 0;
  for (;;) {
    ssize_t n = ::read(fd, data + got, want - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot read", path, errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got == want) {  // it grew since it was stat'ed: read on
      want += std::max<size_t>(want / 2, 1 << 20);
      data = buf->Reserve(want, got);
      continue;
    }
    if (got == size) break;  // asked for size + 1 and got size: that was the end
  }
  return std::string_view(data, got);
}

// A hashing thread's handle on the directory of the file it reads, kept while consecutive
// files (walk order) share it: the file is then opened relative to it, without resolving its
// whole path again.
class DirCursor {
 public:
  explicit DirCursor(const std::string& root_prefix) : root_prefix_(root_prefix) {}
  // Opens rel (relative to the root) for reading; -1 with errno set on failure.
  int Open(const std::string& rel) {
    const size_t slash = rel.rfind('/');
    const std::string_view dir =
        slash == std::string::npos ? std::string_view() : std::string_view(rel).substr(0, slash);
    if (!fd_.valid() || dir != dir_) {
      dir_.assign(dir);
      abs_.assign(root_prefix_).append(dir);
      fd_.Reset(::open(abs_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    }
    if (!fd_.valid())
      return ::open(abs_.assign(root_prefix_).append(rel).c_str(), O_RDONLY | O_CLOEXEC);
    return ::openat(fd_.get(), rel.c_str() + (slash == std::string::npos ? 0 : slash + 1),
                    O_RDONLY | O_CLOEXEC);
  }

 private:
  const std::string& root_prefix_;
  std::string dir_, abs_;
  UniqueFd fd_;
};

Status Walker::HashMisses(int threads) {
  if (misses_.empty()) return Status::Ok();
  size_t n = static_cast<size_t>(std::max(1, threads));
  n = std::min(n, misses_.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> files_done{0};
  uint64_t bytes_total = 0;
  if (on_hashed_) {
    for (size_t i : misses_) bytes_total += recs_[i].entry.size;
  }
  std::mutex mu;
  Status first_error;
  // Each thread's read buffer is made once, as large as the largest file it may read whole:
  // growing it step by step touched fresh pages at every step.
  uint64_t largest = 0;
  if (on_content_) {
    for (size_t i : misses_) {
      const uint64_t size = recs_[i].entry.size;
      if (size <= on_content_max_) largest = std::max(largest, size);
    }
  }
  auto work = [&] {
    std::string abs;
    ReadBuffer buf;
    if (on_content_) buf.Reserve(largest + 1);
    DirCursor dir(root_prefix_);
    for (;;) {
      size_t k = next.fetch_add(1);
      if (k >= misses_.size() || failed.load()) return;
      FileRec& r = recs_[misses_[k]];
      const std::string* path = &abs;
      if (r.link >= 0) {
        path = &link_targets_[static_cast<size_t>(r.link)];
      } else {
        abs.assign(root_prefix_).append(r.entry.path);
      }
      uint64_t size = 0;
      Result<std::string> h = Status::Internal("unhashed");
      if (on_content_ && r.entry.size <= on_content_max_) {
        // One read serves both the hash and the caller's copy.
        UniqueFd fd(r.link >= 0 ? ::open(path->c_str(), O_RDONLY | O_CLOEXEC)
                                : dir.Open(r.entry.path));
        auto content = fd.valid()
                           ? ReadExpectingSize(fd.get(), *path, r.entry.size, &buf)
                           : Result<std::string_view>(ErrnoStatus("cannot open", *path, errno));
        if (content.ok()) {
          size = content->size();
          h = Sha256Hex(*content);
          Status st = on_content_(*h, *content);
          if (!st.ok()) h = st;
        } else {
          h = content.status();
        }
        buf.Trim(on_content_max_ + 1);
      } else {
        h = Sha256File(*path, &size);
      }
      if (!h.ok()) {
        Status st = h.status();
        if (st.code() == StatusCode::kPermissionDenied)
          st = Status::PermissionDenied(st.message() +
                                        "; fix its permissions or list it in .ferryignore");
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.exchange(true)) first_error = std::move(st);
        return;
      }
      r.entry.hash = std::move(h).value();
      if (size != r.entry.size) {  // changed while we read it: record what we hashed, don't cache
        r.entry.size = size;
        r.cacheable = false;
      }
      uint64_t bytes_done = bytes.fetch_add(size) + size;
      uint64_t done = files_done.fetch_add(1) + 1;
      if (on_hashed_) on_hashed_({done, bytes_done, misses_.size(), bytes_total});
    }
  };
  if (n == 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(n);
    for (size_t i = 0; i < n; ++i) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  if (failed.load()) return first_error;
  result_->files_hashed = misses_.size();
  result_->bytes_hashed = bytes.load();
  return Status::Ok();
}

std::string SerializeCache(const std::string& root, int64_t written_at_ns,
                           const std::vector<FileRec>& recs) {
  std::string out;
  out.reserve(64 + root.size() + recs.size() * (4 + 32 + kHashBytes + 48));
  out.append(kCacheMagic, sizeof kCacheMagic);
  PutPod(&out, static_cast<uint32_t>(root.size()));
  out.append(root);
  PutPod(&out, written_at_ns);
  size_t count_pos = out.size();
  PutPod(&out, uint64_t{0});
  uint64_t count = 0;
  unsigned char raw[kHashBytes];
  for (const FileRec& r : recs) {
    if (!r.cacheable) continue;
    PutPod(&out, static_cast<uint32_t>(r.entry.path.size()));
    out.append(r.entry.path);
    PutPod(&out, r.entry.size);
    PutPod(&out, r.mtime_ns);
    PutPod(&out, r.ino);
    PutPod(&out, r.ctime_ns);
    HexToRaw(r.entry.hash, raw);
    out.append(reinterpret_cast<const char*>(raw), kHashBytes);
    ++count;
  }
  std::memcpy(out.data() + count_pos, &count, sizeof count);
  PutPod(&out, Checksum(out));
  return out;
}

std::string TrimNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

Result<SnapshotResult> BuildSnapshot(const SnapshotOptions& options) {
  const int64_t started_ns = NowNs();
  if (options.source_dir.empty())
    return Status::InvalidArgument("no source directory given; pass the directory to snapshot");
  struct stat st;
  if (::stat(options.source_dir.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT)
      return Status::NotFound("source directory '" + options.source_dir +
                              "' does not exist; check the path");
    return ErrnoStatus("cannot access source directory", options.source_dir, err);
  }
  if (!S_ISDIR(st.st_mode))
    return Status::InvalidArgument("source '" + options.source_dir +
                                   "' is not a directory; pass the directory to snapshot");
  char* real_c = ::realpath(options.source_dir.c_str(), nullptr);
  if (real_c == nullptr)
    return ErrnoStatus("cannot resolve source directory", options.source_dir, errno);
  std::string root(real_c);
  std::free(real_c);

  int root_fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return ErrnoStatus("cannot open source directory", root, errno);

  StatCache cache;
  if (!options.stat_cache_path.empty()) cache.Load(options.stat_cache_path, root);

  SnapshotResult result;
  Walker walker(root, &cache, &result);
  walker.Exclude(options.exclude_dirs);
  walker.SetContentSink(options);
  FERRY_RETURN_IF_ERROR(walker.Walk(root_fd));  // WalkDir owns and closes root_fd
  FERRY_RETURN_IF_ERROR(walker.StatAndLookup(std::max(2, options.hash_threads)));
  FERRY_RETURN_IF_ERROR(walker.HashMisses(options.hash_threads));
  if (options.on_all_hashed) options.on_all_hashed();

  // recs stay in walk order (the cache is written in that order); the manifest is sorted.
  std::vector<FileRec>& recs = walker.recs();
  bool cache_dirty = result.files_hashed > 0 || cache.size() != recs.size();
  for (const FileRec& r : recs) cache_dirty = cache_dirty || !r.cacheable;
  if (!options.stat_cache_path.empty() && cache_dirty) {
    std::string data = SerializeCache(root, started_ns, recs);
    Status dir_st = MakeDirs(DirName(AbsolutePath(options.stat_cache_path)));
    // Replaced without fsyncs: after a power loss an older cache still states only facts
    // (that file state had that hash), and a torn one fails its checksum and loads empty.
    Status w = dir_st.ok() ? WriteFileReplace(options.stat_cache_path, data) : dir_st;
    if (!w.ok()) result.warnings.push_back("could not write the stat cache: " + w.ToString());
  }

  std::vector<uint32_t> order(recs.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&recs](uint32_t a, uint32_t b) { return recs[a].entry.path < recs[b].entry.path; });
  result.manifest.entries.reserve(recs.size());
  result.root_prefix = walker.root_prefix();
  for (uint32_t i : order) {
    FileRec& r = recs[i];
    result.manifest.entries.push_back(std::move(r.entry));
  }
  // No Manifest::Normalize() pass: the walk yields unique paths (one per directory entry), every
  // name that could fail ValidateRelativePath was checked above, and hashes are our own; the
  // entries are sorted here.
  result.manifest_text = result.manifest.Serialize();
  result.id = Sha256Hex(result.manifest_text);
  result.files = result.manifest.entries.size();
  result.bytes = result.manifest.TotalBytes();
  return result;
}

std::unordered_map<std::string, std::string> PathsByHash(const SnapshotResult& snapshot) {
  std::unordered_map<std::string, std::string> out;
  out.reserve(snapshot.manifest.entries.size());
  for (const auto& e : snapshot.manifest.entries) {
    if (out.find(e.hash) == out.end()) out.emplace(e.hash, snapshot.root_prefix + e.path);
  }
  return out;
}

Result<model::GitState> ReadGitState(const std::string& dir) {
  model::GitState state;
  if (FindOnPath("git").empty()) return state;
  auto git = [&](std::vector<std::string> args) -> Result<CommandOutput> {
    std::vector<std::string> argv = {"git", "-C", dir};
    argv.insert(argv.end(), std::make_move_iterator(args.begin()),
                std::make_move_iterator(args.end()));
    return RunCommand(argv);
  };
  // One `git status` answers commit, branch and dirtiness (porcelain v2 headers), and fails
  // outside a work tree; --no-optional-locks: never write the user's index.
  auto status = RunCommand({"git", "--no-optional-locks", "-C", dir, "status", "--porcelain=v2",
                            "--branch", "--untracked-files=no"});
  if (!status.ok() || status->exit_code != 0) return state;
  state.present = true;
  std::string_view out(status->out);
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    if (nl == std::string_view::npos) nl = out.size();
    std::string_view line = out.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("# branch.oid ", 0) == 0) {
      std::string_view oid = line.substr(13);
      if (oid != "(initial)") state.commit = std::string(oid);  // unborn branch: no commit yet
    } else if (line.rfind("# branch.head ", 0) == 0) {
      std::string_view head = line.substr(14);
      state.branch = head == "(detached)" ? "HEAD" : std::string(head);
    } else if (!line.empty() && line[0] != '#') {
      state.dirty = true;  // a changed tracked file
    }
  }
  auto remote = git({"config", "--get", "remote.origin.url"});
  if (remote.ok() && remote->exit_code == 0) state.remote_url = TrimNewline(remote->out);
  return state;
}

}  // namespace ferry::snapshot
