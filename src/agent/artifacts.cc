// Collecting and uploading a run's artifacts (see artifacts.h).
#include "agent/artifacts.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/spool.h"
#include "common/byte_source.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/utf8.h"
#include "model/manifest.h"
#include "store/blob_store.h"

namespace ferry::agent {

using nlohmann::json;

namespace {

// Directories deeper than this under outputs/ or logs/ are not collected (each level holds
// a descriptor open while it is walked).
constexpr int kMaxCollectDepth = 128;

constexpr uint64_t kQuickFinishBytes = 8u << 20;
constexpr size_t kQuickFinishFiles = 1000;

// Why an entry is not collected ("a symbolic link (to /etc): ...").
std::string NotRegularWhy(int dirfd, const std::string& name, const struct stat& st) {
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = ::readlinkat(dirfd, name.c_str(), target, sizeof target);
    std::string to =
        n > 0 ? " (to " + EscapeBytes(std::string_view(target, static_cast<size_t>(n))) + ")" : "";
    return "a symbolic link" + to +
           "; symbolic links are never followed (only regular files are artifacts)";
  }
  const char* kind = S_ISFIFO(st.st_mode)   ? "a named pipe"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "a device";
  return std::string(kind) + ", not a regular file (only regular files are artifacts)";
}

// Regular files under the directory open at fd (raw path rel under the working copy). No
// symlink is followed anywhere: entries are looked at with fstatat(AT_SYMLINK_NOFOLLOW) and
// directories opened O_NOFOLLOW relative to their parent, so what a script leaves (a symlink
// to /etc, a directory swapped for one meanwhile) cannot reach outside the working copy.
void CollectDir(int fd, const std::string& rel, int depth, const NoteFn& note,
                std::vector<ArtifactFile>* out) {
  int listing = ::dup(fd);
  DIR* d = listing >= 0 ? ::fdopendir(listing) : nullptr;
  if (!d) {
    if (listing >= 0) ::close(listing);
    note("not collecting " + EscapeBytes(rel) + "/: " + std::strerror(errno));
    return;
  }
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string r = JoinPath(rel, name);
    struct stat st;
    if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    if (S_ISDIR(st.st_mode)) {
      if (depth >= kMaxCollectDepth) {
        note("not collecting " + EscapeBytes(r) + "/: nested deeper than " +
             std::to_string(kMaxCollectDepth) + " directories");
        continue;
      }
      UniqueFd sub(::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) {
        note("not collecting " + EscapeBytes(r) + "/: " + std::strerror(errno));
        continue;
      }
      CollectDir(sub.get(), r, depth + 1, note, out);
    } else if (S_ISREG(st.st_mode)) {
      std::string path = EscapeBytes(r);
      if (Status valid = model::ValidateRelativePath(path); !valid.ok()) {
        note("not collecting " + path + ": not a valid artifact path: " + valid.message());
        continue;
      }
      out->push_back({path, r, "", static_cast<uint64_t>(st.st_size)});
    } else {
      note("not collecting " + EscapeBytes(r) + ": " + NotRegularWhy(fd, name, st));
    }
  }
  ::closedir(d);
}

// Artifacts at least this big are hashed and stored piece by piece, never held whole.
constexpr uint64_t kLargeArtifact = 16u << 20;

// An artifact's file, opened for reading, and its size now. A working-copy file is opened
// again without following any symlink (it may have been swapped for one since it was listed):
// NotFound when it is no longer a regular file there (or cannot be opened at all).
Result<UniqueFd> OpenArtifact(int work_fd, const ArtifactFile& f, uint64_t* size) {
  UniqueFd fd;
  if (f.raw.empty()) {
    fd.Reset(::open(f.local.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid() && errno == ELOOP)
      return Status::FailedPrecondition(f.local + " is a symbolic link; not followed");
    if (!fd.valid()) return ErrnoStatus("cannot open", f.local, errno);
  } else {
    auto opened = OpenBeneath(work_fd, f.raw, O_RDONLY | O_NONBLOCK);
    if (!opened.ok()) return Status::NotFound(opened.status().message());
    fd = std::move(opened).value();
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", f.path, errno);
  if (!S_ISREG(st.st_mode)) {
    return f.raw.empty() ? Status::FailedPrecondition(f.local + " is not a regular file")
                         : Status::NotFound(f.path + " is no longer a regular file");
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

// The first `size` bytes of the open file fd from its start, with a descriptor of their own.
Result<std::unique_ptr<ByteSource>> Reread(int fd, uint64_t size, const std::string& path) {
  UniqueFd own(::dup(fd));
  if (!own.valid() || ::lseek(own.get(), 0, SEEK_SET) != 0)
    return ErrnoStatus("cannot read", path, errno);
  return FileSource(std::move(own), size, path);
}

// A large artifact's hash, read piece by piece.
Result<std::string> HashInPieces(int fd, uint64_t size, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, Reread(fd, size, path));
  Sha256 hasher;
  std::string piece;
  for (;;) {
    FERRY_RETURN_IF_ERROR(source->Read(&piece));
    if (piece.empty()) return hasher.HexDigest();
    hasher.Update(piece);
  }
}

// Stores a large artifact (read again from fd) as the blob `hash`, piece by piece.
// InvalidArgument when its content no longer has that hash.
Status StoreInPieces(int fd, uint64_t size, const std::string& path, const std::string& hash,
                     ServerApi& server, store::BlobStore* local_blobs) {
  if (!local_blobs) return server.PutBlobFrom(hash, [&] { return Reread(fd, size, path); });
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, Reread(fd, size, path));
  auto writer = local_blobs->NewWriter(hash, size);
  std::string piece;
  for (;;) {
    FERRY_RETURN_IF_ERROR(source->Read(&piece));
    if (piece.empty()) return writer->Commit().status();
    FERRY_RETURN_IF_ERROR(writer->Append(piece));
  }
}

}  // namespace

std::vector<ArtifactFile> CollectArtifacts(const std::string& work_dir, const AgentFiles& agent,
                                           const NoteFn& note) {
  std::vector<ArtifactFile> files;
  UniqueFd work(::open(work_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  for (const char* top : {"outputs", "logs"}) {
    if (!work.valid()) break;
    struct stat st;
    if (::fstatat(work.get(), top, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // none
    if (!S_ISDIR(st.st_mode)) {
      note(std::string("not collecting ") + top + ": " +
           (S_ISREG(st.st_mode) ? "a file, not a directory" : NotRegularWhy(work.get(), top, st)));
      continue;
    }
    UniqueFd dir(::openat(work.get(), top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) {
      note(std::string("not collecting ") + top + "/: " + std::strerror(errno));
      continue;
    }
    CollectDir(dir.get(), top, 1, note, &files);
  }
  bool has_std_log = false;
  for (auto& f : files) has_std_log = has_std_log || f.path == "logs/std_log.txt";
  auto agent_file = [&](const std::string& path, const std::string& local) {
    struct stat st;
    if (::stat(local.c_str(), &st) == 0) {
      files.push_back({path, "", local, static_cast<uint64_t>(st.st_size)});
    }
  };
  if (!has_std_log) agent_file("logs/std_log.txt", agent.capture);
  agent_file("environment/freeze.txt", agent.freeze);  // a managed environment's
  agent_file("logs/ferry-agent.txt", agent.info);
  return files;
}

bool SmallOutputs(const std::vector<ArtifactFile>& files) {
  if (files.size() > kQuickFinishFiles) return false;
  uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  return total <= kQuickFinishBytes;
}

Status UploadArtifacts(const std::vector<ArtifactFile>& files, const std::string& work_dir,
                       ServerApi& server, store::BlobStore* local_blobs, const NoteFn& note,
                       json* manifest_out) {
  json manifest = json::array();
  std::string batch;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    Status st = server.PutBlobs(batch);
    batch.clear();
    return st;
  };
  UniqueFd work(::open(work_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  auto changed = [&](const ArtifactFile& f, const Status& st) {
    const StatusCode code = st.code();
    if (code == StatusCode::kFailedPrecondition ||
        (code == StatusCode::kNotFound && !f.raw.empty()) ||
        (code == StatusCode::kIoError && st.message().find("changed") != std::string::npos)) {
      note("not collecting " + f.path + ": it changed while outputs were collected (" +
           st.message() + ")");
      return true;
    }
    return false;
  };
  for (const auto& f : files) {
    uint64_t size = 0;
    auto fd = OpenArtifact(work.get(), f, &size);
    if (!fd.ok() && changed(f, fd.status())) continue;
    if (!fd.ok()) return fd.status();
    const std::string where = f.raw.empty() ? f.local : f.path;
    if (size >= kLargeArtifact) {
      // Hashed, then stored, each in pieces; a file the script still changes between the two
      // reads no longer matches its hash and is left out with a note.
      auto hash = HashInPieces(fd->get(), size, where);
      Status st = hash.status();
      if (st.ok()) st = StoreInPieces(fd->get(), size, where, *hash, server, local_blobs);
      if (st.code() == StatusCode::kInvalidArgument) st = Status::FailedPrecondition(st.message());
      if (!st.ok() && changed(f, st)) continue;
      if (!st.ok()) return st;
      manifest.push_back({{"path", f.path}, {"size", size}, {"hash", *hash}});
      continue;
    }
    auto content = ReadAll(fd->get(), where, static_cast<size_t>(size));
    if (!content.ok()) return content.status();
    std::string hash = Sha256Hex(*content);
    if (local_blobs) {
      FERRY_RETURN_IF_ERROR(local_blobs->Put(*content, hash).status());
    } else {
      batch += hash + " " + std::to_string(content->size()) + "\n" + *content;
      if (batch.size() > (64u << 20)) FERRY_RETURN_IF_ERROR(flush());
    }
    manifest.push_back({{"path", f.path}, {"size", content->size()}, {"hash", hash}});
  }
  if (local_blobs) FERRY_RETURN_IF_ERROR(local_blobs->Sync());
  FERRY_RETURN_IF_ERROR(flush());
  if (manifest_out) {
    *manifest_out = std::move(manifest);
    return Status::Ok();
  }
  if (manifest.empty()) return Status::Ok();
  return server.PostArtifacts(manifest);
}

}  // namespace ferry::agent
