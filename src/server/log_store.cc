// LogStore on files: runs/<id>/std_log.txt under the workspace home.
#include "server/log_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "common/fs.h"

namespace ferry::server {

std::string LogStore::PathOf(const std::string& run_id) const {
  return JoinPath(root_, run_id + "/std_log.txt");
}

std::vector<int> LogStore::Ranks(const std::string& run_id) const {
  std::vector<int> ranks = {0};
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(JoinPath(root_, run_id).c_str()), ::closedir);
  if (!dir) return ranks;
  while (dirent* d = ::readdir(dir.get())) {
    std::string name = d->d_name;
    if (name.size() < 5 || name.size() > 10 || name.rfind("rank", 0) != 0) continue;
    std::string digits = name.substr(4);
    if (digits.find_first_not_of("0123456789") != std::string::npos || digits[0] == '0') continue;
    ranks.push_back(std::stoi(digits));
  }
  std::sort(ranks.begin(), ranks.end());
  return ranks;
}

LogStore::Entry* LogStore::Get(const std::string& run_id) {
  MutexLock lock(&mu_);
  auto& e = entries_[run_id];
  if (!e) e = std::make_unique<Entry>();
  return e.get();
}

Status LogStore::Load(const std::string& run_id, Entry* e) {
  if (e->loaded) return Status::Ok();
  struct stat st;
  if (::stat(PathOf(run_id).c_str(), &st) == 0)
    e->size = static_cast<uint64_t>(st.st_size);
  else if (errno != ENOENT)
    return ErrnoStatus("cannot stat", PathOf(run_id), errno);
  e->loaded = true;
  return Status::Ok();
}

Result<uint64_t> LogStore::Append(const std::string& run_id, uint64_t offset,
                                  std::string_view data) {
  Entry* e = Get(run_id);
  MutexLock lock(&e->mu);
  FERRY_RETURN_IF_ERROR(Load(run_id, e));
  if (offset > e->size) {
    return Status::FailedPrecondition("log of run '" + run_id + "' has " + std::to_string(e->size) +
                                      " bytes; data at offset " + std::to_string(offset) +
                                      " leaves a gap");
  }
  uint64_t skip = e->size - offset;
  if (skip >= data.size()) return e->size;
  data.remove_prefix(skip);
  std::string path = PathOf(run_id);
  FERRY_RETURN_IF_ERROR(MakeDirs(DirName(path)));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
  // pwrite at the known size: a partial earlier write (disk full) is overwritten, not doubled.
  uint64_t pos = e->size;
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd.get(), data.data(), data.size(), static_cast<off_t>(pos));
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = ErrnoStatus("cannot write", path, errno);
      (void)!::ftruncate(fd.get(), static_cast<off_t>(e->size));
      return st;
    }
    pos += static_cast<uint64_t>(n);
    data.remove_prefix(static_cast<size_t>(n));
  }
  e->size = pos;
  return e->size;
}

Result<uint64_t> LogStore::Size(const std::string& run_id) {
  Entry* e = Get(run_id);
  MutexLock lock(&e->mu);
  FERRY_RETURN_IF_ERROR(Load(run_id, e));
  return e->size;
}

Result<std::string> LogStore::Read(const std::string& run_id, uint64_t offset, uint64_t max_bytes) {
  FERRY_ASSIGN_OR_RETURN(uint64_t size, Size(run_id));
  if (offset >= size) return std::string();
  uint64_t n = std::min(max_bytes, size - offset);
  std::string out(n, '\0');
  std::string path = PathOf(run_id);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
  ssize_t r = ::pread(fd.get(), out.data(), n, static_cast<off_t>(offset));
  if (r < 0) return ErrnoStatus("cannot read", path, errno);
  out.resize(static_cast<size_t>(r));
  return out;
}

}  // namespace ferry::server
