// File-system helpers.
#include "common/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ferry {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " '" + path + "': " + std::strerror(err);
  if (err == ENOENT) return Status::NotFound(msg);
  if (err == EACCES || err == EPERM) return Status::PermissionDenied(msg);
  return Status::IoError(msg);
}

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
  if (S_ISDIR(st.st_mode))
    return Status::InvalidArgument("'" + path + "' is a directory, not a file");
  return ReadAll(fd.get(), path, static_cast<size_t>(st.st_size));
}

Result<UniqueFd> OpenBeneath(int dirfd, std::string_view rel, int flags) {
  if (rel.empty() || rel.front() == '/') {
    return Status::InvalidArgument("'" + std::string(rel) + "' is not a relative path");
  }
  UniqueFd dir;  // the directory opened so far (invalid: dirfd itself)
  size_t start = 0;
  for (;;) {
    size_t slash = rel.find('/', start);
    std::string comp(rel.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    const int at = dir.valid() ? dir.get() : dirfd;
    if (slash == std::string_view::npos) {
      int fd = ::openat(at, comp.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 && errno == ELOOP) {
        return Status::FailedPrecondition("'" + std::string(rel) +
                                          "' is a symbolic link; not followed");
      }
      if (fd < 0) return ErrnoStatus("cannot open", std::string(rel), errno);
      return UniqueFd(fd);
    }
    int fd = ::openat(at, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
      return Status::FailedPrecondition("'" + std::string(rel.substr(0, slash)) +
                                        "' is a symbolic link or not a directory; not followed");
    }
    if (fd < 0) return ErrnoStatus("cannot open", std::string(rel.substr(0, slash)), errno);
    dir.Reset(fd);
    start = slash + 1;
  }
}

Result<std::string> ReadAll(int fd, const std::string& path_for_errors, size_t size_hint) {
  std::string out;
  out.reserve(size_hint);
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot read", path_for_errors, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> ReadFileTail(const std::string& path, uint64_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t start = size > max_bytes ? size - max_bytes : 0;
  std::string out(size - start, '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n =
        ::pread(fd.get(), out.data() + got, out.size() - got, static_cast<off_t>(start + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read", path, errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

std::string_view LastLines(std::string_view text, int n) {
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  int found = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++found == n) break;
    --pos;
  }
  return text.substr(pos);
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

namespace {
Status WriteAndRename(const std::string& path, std::string_view data, int mode, bool sync) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoStatus("cannot create", tmp, errno);
  Status st = WriteAll(fd.get(), data, tmp);
  if (sync && st.ok() && ::fsync(fd.get()) != 0) st = ErrnoStatus("cannot fsync", tmp, errno);
  fd.Reset();
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    st = ErrnoStatus("cannot rename onto", path, errno);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (sync) {
    UniqueFd dir(::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.valid()) ::fsync(dir.get());
  }
  return Status::Ok();
}
}  // namespace

Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  return WriteAndRename(path, data, mode, true);
}

Status WriteFileReplace(const std::string& path, std::string_view data, int mode) {
  return WriteAndRename(path, data, mode, false);
}

Result<std::unique_ptr<AtomicFile>> AtomicFile::Create(const std::string& path, int mode) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                     static_cast<mode_t>(mode)));
  if (!fd.valid()) return ErrnoStatus("cannot create", tmp, errno);
  return std::unique_ptr<AtomicFile>(new AtomicFile(path, std::move(tmp), std::move(fd)));
}

AtomicFile::~AtomicFile() {
  if (fd_.valid()) {
    fd_.Reset();
    ::unlink(tmp_.c_str());
  }
}

Status AtomicFile::Append(std::string_view piece) {
  if (!fd_.valid()) return Status::FailedPrecondition("'" + path_ + "' was committed already");
  FERRY_RETURN_IF_ERROR(WriteAll(fd_.get(), piece, tmp_));
  size_ += piece.size();
  return Status::Ok();
}

Status AtomicFile::Truncate() {
  if (::ftruncate(fd_.get(), 0) != 0 || ::lseek(fd_.get(), 0, SEEK_SET) != 0)
    return ErrnoStatus("cannot truncate", tmp_, errno);
  size_ = 0;
  return Status::Ok();
}

Status AtomicFile::Commit(bool sync) {
  if (!fd_.valid()) return Status::FailedPrecondition("'" + path_ + "' was committed already");
  Status st;
  if (sync && ::fsync(fd_.get()) != 0) st = ErrnoStatus("cannot fsync", tmp_, errno);
  fd_.Reset();
  if (st.ok() && ::rename(tmp_.c_str(), path_.c_str()) != 0)
    st = ErrnoStatus("cannot rename onto", path_, errno);
  if (!st.ok()) {
    ::unlink(tmp_.c_str());
    return st;
  }
  if (sync) {
    UniqueFd dir(::open(DirName(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.valid()) ::fsync(dir.get());
  }
  return Status::Ok();
}

const std::string& BootId() {
  static const std::string id = [] {
    auto r = ReadFile("/proc/sys/kernel/random/boot_id");
    std::string s = r.ok() ? *r : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }();
  return id;
}

Status MakeDirs(const std::string& path, int mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::IoError("cannot create directory '" + path + "': " + ec.message());
  return Status::Ok();
}

Result<bool> MakeDirectoryOnce(const std::string& dir,
                               const std::function<Status(const std::string& tmp)>& fill) {
  struct stat st {};
  auto is_dir = [&st](const std::string& p) {
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  };
  if (is_dir(dir)) return false;
  const size_t slash = dir.rfind('/');
  const std::string parent = slash == std::string::npos ? "." : dir.substr(0, slash);
  const std::string tmp =
      JoinPath(parent, ".tmp-" + dir.substr(slash + 1, 16) + "-" + std::to_string(::getpid()));
  (void)RemoveAll(tmp);  // an earlier attempt's, cut short
  Status s = MakeDirs(tmp);
  if (s.ok()) s = fill(tmp);
  if (s.ok() && ::rename(tmp.c_str(), dir.c_str()) != 0 && !is_dir(dir)) {
    s = ErrnoStatus("rename", dir, errno);
  }
  (void)RemoveAll(tmp);
  if (!s.ok()) return s;
  return true;
}

Status RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Status::IoError("cannot remove '" + path + "': " + ec.message());
  return Status::Ok();
}

Result<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return ErrnoStatus("cannot list", path, errno);
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  std::string out(a);
  if (out.back() != '/') out.push_back('/');
  if (b.front() == '/') b.remove_prefix(1);
  out.append(b);
  return out;
}

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  if (ec) return path;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string DirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string ExecutableDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  return DirName(buf);
}

}  // namespace ferry
