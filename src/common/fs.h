// File-system helpers: atomic writes, whole-file reads, directory creation, RAII fds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry {

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// errno as text, with the path: "open '/x': No such file or directory".
Status ErrnoStatus(const std::string& what, const std::string& path, int err);

Result<std::string> ReadFile(const std::string& path);
// Opens rel ('/'-separated, relative) under the directory dirfd without following a symlink
// in any component: every directory is opened O_DIRECTORY|O_NOFOLLOW, the last component
// with flags|O_NOFOLLOW. A symlink anywhere is FailedPrecondition, so nothing outside dirfd's
// tree can be reached even while another process swaps components for symlinks. Errors name rel.
Result<UniqueFd> OpenBeneath(int dirfd, std::string_view rel, int flags);
// Reads fd to its end, retrying on EINTR.
Result<std::string> ReadAll(int fd, const std::string& path_for_errors, size_t size_hint = 0);
// Writes to "<path>.tmp.<pid>", fsyncs, renames over path, fsyncs the directory.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644);
// Writes to "<path>.tmp.<pid>" and renames over path, without fsyncs: all or nothing if this
// process dies (kill -9), but after a power loss the file may be old, empty or short. For
// state that is void after a reboot anyway (see BootId); its reader must check it is whole.
Status WriteFileReplace(const std::string& path, std::string_view data, int mode = 0644);
// A file written piece by piece under a temporary name beside path and renamed onto it by
// Commit() only, so that path never holds a partial file (a download, a copy). Dropped without
// Commit(), the temporary file is removed. Not thread-safe.
class AtomicFile {
 public:
  // Creates "<path>.tmp.<pid>.<n>" with mode (less the umask, as open(2) does); the parent
  // directory must exist.
  static Result<std::unique_ptr<AtomicFile>> Create(const std::string& path, int mode = 0644);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  Status Append(std::string_view piece);
  // Empties the file again (a transfer that starts over).
  Status Truncate();
  // Bytes appended since creation or the last Truncate().
  uint64_t size() const { return size_; }
  // fsyncs the file when sync and renames it onto path (replacing what is there). On failure
  // nothing is left behind.
  Status Commit(bool sync);
  const std::string& path() const { return path_; }

 private:
  AtomicFile(std::string path, std::string tmp, UniqueFd fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(std::move(fd)) {}
  std::string path_, tmp_;
  UniqueFd fd_;
  uint64_t size_ = 0;
};
// This boot of the machine (/proc/sys/kernel/random/boot_id; "" where unreadable).
const std::string& BootId();
// The last max_bytes of a file (all of it when smaller), without reading the rest.
Result<std::string> ReadFileTail(const std::string& path, uint64_t max_bytes);
// The last n lines of text (a final newline does not start an empty line).
std::string_view LastLines(std::string_view text, int n);
// Writes all of data to fd, retrying on EINTR and short writes.
Status WriteAll(int fd, std::string_view data, const std::string& path_for_errors);
// mkdir -p.
Status MakeDirs(const std::string& path, int mode = 0755);
// rm -rf; a missing path is not an error.
Status RemoveAll(const std::string& path);
// Makes the directory `dir` whole or not at all: fill() writes into a fresh temporary
// directory beside it, which is then renamed to dir (when another process made dir meanwhile,
// theirs is kept). Returns false without calling fill when dir exists already, true when
// this call made it. On failure nothing is left behind.
Result<bool> MakeDirectoryOnce(const std::string& dir,
                               const std::function<Status(const std::string& tmp)>& fill);
bool PathExists(const std::string& path);
// Names in a directory (without "." and ".."), sorted.
Result<std::vector<std::string>> ListDir(const std::string& path);
std::string JoinPath(std::string_view a, std::string_view b);
// Absolute, lexically normalised path (no symlink resolution).
std::string AbsolutePath(const std::string& path);
std::string DirName(const std::string& path);
// The directory of the running executable.
std::string ExecutableDir();

}  // namespace ferry
