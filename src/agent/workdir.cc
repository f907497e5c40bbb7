// Working-copy reuse (see workdir.h).
#include "agent/workdir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "common/fs.h"

namespace ferry::agent {
namespace {

struct Recorded {
  std::string hash;
  uint32_t mode = 0;
  uint64_t ino = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
};

int64_t Ns(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

// Record lines: "<hash> <mode> <ino> <size> <mtime_ns> <ctime_ns> <path>"; the first line
// is "snapshot <id>".
// A record ends with "end <boot id>": nothing is fsynced (neither the copy's files nor the
// record), which is sound within one boot (the page cache is the truth) and void after a
// reboot, when the copy's files may have lost writes the record describes.
std::string RecordEnd() { return "end " + BootId() + "\n"; }

bool RecordIsWhole(const std::string& text) {
  const std::string end = RecordEnd();
  return !BootId().empty() && text.size() >= end.size() + 1 &&
         text.compare(text.size() - end.size(), end.size(), end) == 0 &&
         text[text.size() - end.size() - 1] == '\n';
}

// Written in place (the inode is kept: see Claim); a torn write fails RecordIsWhole.
Status WriteRecord(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus("cannot write", path, errno);
  return WriteAll(fd.get(), text, path);
}

std::map<std::string, Recorded> ParseRecord(const std::string& text) {
  std::map<std::string, Recorded> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    Recorded r;
    std::string first;
    ls >> first;
    if (first == "snapshot" || first == "end") continue;
    r.hash = first;
    ls >> r.mode >> r.ino >> r.size >> r.mtime_ns >> r.ctime_ns;
    std::string path;
    ls.get();  // the space before the path
    std::getline(ls, path);
    if (!ls.fail() || !path.empty()) out[path] = r;
  }
  return out;
}

// Walks `rel` (a directory inside the copy, "" = the root) and removes what must not stay.
// `wanted_dirs` holds every directory the snapshot needs; `keep` decides for regular files.
void Clean(int dirfd, const std::string& rel, const std::set<std::string>& wanted_dirs,
           const std::function<bool(const std::string&, const struct stat&)>& keep,
           WorkdirStats* stats, std::set<std::string>* kept) {
  int fd = ::dup(dirfd);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    std::string path = rel.empty() ? n : JoinPath(rel, n);
    struct stat st;
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) continue;
      Clean(sub, path, wanted_dirs, keep, stats, kept);
      ::close(sub);
      if (!wanted_dirs.count(path)) {
        if (::unlinkat(dirfd, n.c_str(), AT_REMOVEDIR) == 0) ++stats->removed;
      }
      continue;
    }
    if (S_ISREG(st.st_mode) && keep(path, st)) {
      kept->insert(path);
      continue;
    }
    // Changed, unknown, a symlink or a special file: gone (never followed).
    if (::unlinkat(dirfd, n.c_str(), 0) == 0) ++stats->removed;
  }
}

}  // namespace

// Pool entries are "c-<unix ns>-<random>" (the copy) and "c-....record" beside it (moved
// there by Release, moved out by the claimer): claiming and releasing rename, nothing is
// created or deleted. On a file system without a journal every deleted inode slows each
// later allocation for minutes (ext4 skips recently deleted inodes one by one), so a run
// that created and removed a few pool files left every following run a little slower.
std::string WorkdirPool::Claim(const std::string& snapshot_id, const std::string& dir,
                               const std::string& record_path, std::string* record_text) {
  auto names = ListDir(pool_);
  if (!names.ok()) return "";
  std::set<std::string> copies, records;
  for (const auto& n : *names) {
    if (n.rfind("c-", 0) != 0) continue;
    if (n.size() > 7 && n.compare(n.size() - 7, 7, ".record") == 0)
      records.insert(n.substr(0, n.size() - 7));
    else
      copies.insert(n);
  }
  // A record without its copy (a claimer died between its two renames) or a copy without
  // its record (a release that died half-way, or a copy pooled by an older Ferry) is
  // removed once it is old enough that nobody can be in the middle of moving it.
  auto stale = [&](const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0 && std::time(nullptr) - st.st_mtime > 3600;
  };
  for (const auto& r : records) {
    std::string path = JoinPath(pool_, r + ".record");
    if (!copies.count(r) && stale(path)) ::unlink(path.c_str());
  }
  for (const auto& c : copies) {
    std::string path = JoinPath(pool_, c);
    if (!records.count(c) && stale(path)) (void)RemoveAll(path);
  }
  // Prefer a copy of the same snapshot, then the newest (names sort by time).
  std::vector<std::string> order;
  for (auto it = copies.rbegin(); it != copies.rend(); ++it) {
    if (!records.count(*it)) continue;  // being released: not yet whole
    auto rec = ReadFile(JoinPath(pool_, *it + ".record"));
    if (rec.ok() && rec->rfind("snapshot " + snapshot_id + "\n", 0) == 0)
      order.insert(order.begin(), *it);
    else
      order.push_back(*it);
  }
  for (const auto& n : order) {
    // rename is atomic: of two agents claiming the same copy, one wins.
    if (::rename(JoinPath(pool_, n).c_str(), dir.c_str()) != 0) continue;
    std::string rec_path = JoinPath(pool_, n + ".record");
    auto rec = ReadFile(rec_path);
    if (rec.ok() && RecordIsWhole(*rec) && ::rename(rec_path.c_str(), record_path.c_str()) == 0) {
      *record_text = std::move(rec).value();
      return n;
    }
    ::unlink(rec_path.c_str());
    (void)RemoveAll(dir);  // no trustworthy record: the copy cannot be checked
  }
  return "";
}

Result<WorkdirStats> WorkdirPool::Materialize(
    const model::Manifest& m, const std::string& snapshot_id, const std::string& dir,
    const std::string& record_path,
    const std::function<Status(const std::string& hash, int fd, const std::string& path)>&
        write_blob,
    const std::function<bool()>& stop) {
  WorkdirStats stats;
  FERRY_RETURN_IF_ERROR(RemoveAll(dir));
  std::map<std::string, const model::ManifestEntry*> want;
  std::set<std::string> wanted_dirs = {"outputs", "logs"};
  for (const auto& e : m.entries) {
    want[e.path] = &e;
    for (size_t p = e.path.find('/'); p != std::string::npos; p = e.path.find('/', p + 1)) {
      wanted_dirs.insert(e.path.substr(0, p));
    }
  }
  std::set<std::string> kept;
  std::map<std::string, Recorded> recorded;
  if (capacity_ > 0) {
    std::string record_text;
    if (!Claim(snapshot_id, dir, record_path, &record_text).empty()) {
      stats.reused = true;
      recorded = ParseRecord(record_text);
    }
  }
  if (stats.reused) {
    UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root.valid()) return ErrnoStatus("cannot open", dir, errno);
    auto keep = [&](const std::string& path, const struct stat& st) {
      auto w = want.find(path);
      auto r = recorded.find(path);
      if (w == want.end() || r == recorded.end()) return false;
      const Recorded& rec = r->second;
      return rec.hash == w->second->hash && rec.mode == (w->second->mode & 0777) &&
             rec.ino == st.st_ino && rec.size == static_cast<uint64_t>(st.st_size) &&
             rec.mtime_ns == Ns(st.st_mtim) && rec.ctime_ns == Ns(st.st_ctim) &&
             (st.st_mode & 0777) == rec.mode;
    };
    Clean(root.get(), "", wanted_dirs, keep, &stats, &kept);
  } else {
    FERRY_RETURN_IF_ERROR(MakeDirs(dir));
  }
  // The copy now holds only directories and untouched files: plain paths are safe.
  std::string record = "snapshot " + snapshot_id + "\n";
  std::string last_dir;
  int64_t last_ctime = 0;
  for (const auto& e : m.entries) {
    if (stop && stop()) return Status::FailedPrecondition("stopped by a signal while preparing");
    std::string path = JoinPath(dir, e.path);
    struct stat st;
    if (kept.count(e.path)) {
      if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
      ++stats.kept;
    } else {
      std::string parent = DirName(path);
      if (parent != last_dir) {
        FERRY_RETURN_IF_ERROR(MakeDirs(parent));
        last_dir = parent;
      }
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         e.mode & 0777));
      if (!fd.valid()) return ErrnoStatus("cannot create", path, errno);
      FERRY_RETURN_IF_ERROR(write_blob(e.hash, fd.get(), path));
      if (::fchmod(fd.get(), e.mode & 0777) != 0)
        return ErrnoStatus("chmod", path, errno);  // umask-proof
      if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
      ++stats.written;
      last_ctime = std::max(last_ctime, Ns(st.st_ctim));
    }
    record += e.hash + " " + std::to_string(e.mode & 0777) + " " + std::to_string(st.st_ino) + " " +
              std::to_string(st.st_size) + " " + std::to_string(Ns(st.st_mtim)) + " " +
              std::to_string(Ns(st.st_ctim)) + " " + e.path + "\n";
  }
  FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(dir, "outputs")));
  FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(dir, "logs")));
  record += RecordEnd();
  FERRY_RETURN_IF_ERROR(WriteRecord(record_path, record));
  // File times come from a coarse clock: wait until it has moved past the last write, so a
  // change the script makes right away gets a later ctime than the one recorded.
  for (int i = 0; i < 200; ++i) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (Ns(now) > last_ctime) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return stats;
}

Status WorkdirPool::Release(const std::string& dir, const std::string& record_path) {
  if (capacity_ > 0 && PathExists(record_path) && MakeDirs(pool_).ok()) {
    auto names = ListDir(pool_);
    int held = 0;  // copies with their records
    if (names.ok()) {
      for (auto& n : *names)
        held += n.rfind("c-", 0) == 0 && n.size() > 7 && n.compare(n.size() - 7, 7, ".record") == 0;
    }
    if (held < capacity_) {
      // Names sort by time: "c-<unix ns>-<random>". The record goes first: a copy without
      // its record is never claimed.
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
      std::string name = JoinPath(pool_, "c-" + std::to_string(ns) + "-" + RandomHex(4));
      if (::rename(record_path.c_str(), (name + ".record").c_str()) == 0) {
        if (::rename(dir.c_str(), name.c_str()) == 0) return Status::Ok();
        ::unlink((name + ".record").c_str());
      }
    }
  }
  return RemoveAll(dir);
}

}  // namespace ferry::agent
