// The run's snapshot on this node (see snapshot.h).
#include "agent/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_set>
#include <vector>

#include "agent/stop_signal.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "store/blob_store.h"

namespace ferry::agent {

using Clock = std::chrono::steady_clock;

// A blob larger than this is fetched alone and streamed, never in a batch.
constexpr uint64_t kLargeBlob = 16u << 20;

Snapshot::Snapshot(const Options& options, ServerApi* server, NoteFn note)
    : home_(options.home),
      blob_cache_(options.blob_cache),
      server_(*server),
      note_(std::move(note)) {}

Snapshot::~Snapshot() = default;

Result<WorkdirStats> Snapshot::Materialize(const std::string& manifest_id, WorkdirPool& pool,
                                           const std::string& work_dir,
                                           const std::string& record_path) {
  FERRY_ASSIGN_OR_RETURN(std::string text, GetBlob(manifest_id));
  FERRY_ASSIGN_OR_RETURN(model::Manifest m, model::Manifest::Parse(text));
  if (blob_cache_ && blobs_) FERRY_RETURN_IF_ERROR(FillCache(m));
  // Paths are validated (relative, no '..'), and the pool leaves only plain directories and
  // untouched files in a reused copy, so nothing can be written outside the working directory.
  FERRY_ASSIGN_OR_RETURN(WorkdirStats stats,
                         pool.Materialize(
                             m, manifest_id, work_dir, record_path,
                             [this](const std::string& h, int fd, const std::string& path) {
                               return WriteBlob(h, fd, path);
                             },
                             [] { return StopRequested(); }));
  if (blobs_ && blob_cache_ && cached_blobs_ > 0) FERRY_RETURN_IF_ERROR(blobs_->Sync());
  if (blob_cache_) {
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f", cache_check_ms_);
    note_text_ = "snapshot: " + std::to_string(m.entries.size()) + " files; fetched " +
                 std::to_string(cached_blobs_) + " blobs (" + std::to_string(fetched_bytes_) +
                 " bytes) from the server, the rest from this node's cache (cache check " + ms +
                 " ms)";
  }
  return stats;
}

Result<std::string> Snapshot::DataTree(const std::string& manifest_id, bool* hit) {
  const std::string final_dir = JoinPath(home_, "datacache/" + manifest_id);
  auto made = MakeDirectoryOnce(final_dir, [&](const std::string& tmp) -> Status {
    FERRY_ASSIGN_OR_RETURN(std::string text, GetBlob(manifest_id));
    FERRY_ASSIGN_OR_RETURN(model::Manifest m, model::Manifest::Parse(text));
    if (blob_cache_ && blobs_) FERRY_RETURN_IF_ERROR(FillCache(m));
    for (const auto& e : m.entries) {
      if (StopRequested()) return Status::FailedPrecondition("stopped by a signal while preparing");
      const std::string path = JoinPath(tmp, e.path);
      FERRY_RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/'))));
      // The tree is renamed into place only once whole: its files are written in place.
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd.valid()) return ErrnoStatus("cannot create", path, errno);
      FERRY_RETURN_IF_ERROR(WriteBlob(e.hash, fd.get(), path));
      if (::fchmod(fd.get(), 0444) != 0) return ErrnoStatus("chmod", path, errno);
    }
    return Status::Ok();
  });
  if (!made.ok()) return made.status().WithContext("dataset files " + manifest_id.substr(0, 12));
  *hit = !*made;
  return final_dir;
}

// A node with its own cache: what it lacks comes in batches (small blobs by the thousand), a
// large blob alone and streamed; each is verified by the store as it is put.
Status Snapshot::FillCache(const model::Manifest& m) {
  const auto t0 = Clock::now();
  std::vector<std::string> missing;
  std::unordered_set<std::string> seen;
  std::map<std::string, uint64_t> sizes;
  for (const auto& e : m.entries) {
    if (!seen.insert(e.hash).second) continue;
    if (blobs_->Has(e.hash)) continue;
    if (e.size > kLargeBlob) {
      if (StopRequested()) return Status::FailedPrecondition("stopped by a signal while preparing");
      FERRY_RETURN_IF_ERROR(CacheLarge(e.hash, e.size));
      continue;
    }
    missing.push_back(e.hash);
    sizes[e.hash] = e.size;
  }
  size_t i = 0;
  while (i < missing.size()) {
    if (StopRequested()) return Status::FailedPrecondition("stopped by a signal while preparing");
    std::vector<std::string> batch;
    uint64_t bytes = 0;
    while (i < missing.size() && batch.size() < 5000 &&
           (batch.empty() || bytes + sizes[missing[i]] <= (32u << 20))) {
      bytes += sizes[missing[i]];
      batch.push_back(missing[i++]);
    }
    FERRY_ASSIGN_OR_RETURN(std::string body, server_.FetchBlobs(batch));
    std::string_view rest(body);
    for (const auto& hash : batch) {
      size_t nl = rest.find('\n');
      if (nl == std::string_view::npos)
        return Status::Corruption("the server's blob batch ended early");
      std::string_view header = rest.substr(0, nl);
      size_t sp = header.find(' ');
      if (sp == std::string_view::npos || header.substr(0, sp) != hash) {
        return Status::Corruption("the server's blob batch is out of order at " + hash);
      }
      uint64_t len = std::strtoull(std::string(header.substr(sp + 1)).c_str(), nullptr, 10);
      if (rest.size() < nl + 1 + len)
        return Status::Corruption("the server's blob batch ended early");
      FERRY_RETURN_IF_ERROR(blobs_->Put(rest.substr(nl + 1, len), hash).status());
      ++cached_blobs_;
      fetched_bytes_ += static_cast<int64_t>(len);
      rest.remove_prefix(nl + 1 + len);
    }
  }
  if (!missing.empty() || cached_blobs_ > 0) FERRY_RETURN_IF_ERROR(blobs_->Sync());
  cache_check_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return Status::Ok();
}

Status Snapshot::CacheLarge(const std::string& hash, uint64_t size) {
  std::unique_ptr<store::BlobWriter> writer;
  FERRY_RETURN_IF_ERROR(server_.StreamBlob(
      hash,
      [&] {
        writer = blobs_->NewWriter(hash, size);
        return Status::Ok();
      },
      [&](std::string_view piece) { return writer->Append(piece); }));
  auto stored = writer->Commit();  // checks the hash and the size
  if (!stored.ok()) {
    return Status::Corruption("blob " + hash + " arrived corrupted (" + stored.status().message() +
                              ")");
  }
  ++cached_blobs_;
  fetched_bytes_ += static_cast<int64_t>(size);
  return Status::Ok();
}

Status Snapshot::WriteBlob(const std::string& hash, int fd, const std::string& path) {
  OpenStore();
  if (blobs_) {
    auto source = blobs_->Open(hash);
    if (source.ok()) {
      std::string piece;
      for (;;) {
        FERRY_RETURN_IF_ERROR((*source)->Read(&piece));
        if (piece.empty()) return Status::Ok();
        FERRY_RETURN_IF_ERROR(WriteAll(fd, piece, path));
      }
    }
    if (source.status().code() != StatusCode::kNotFound) return source.status();
  }
  // From the server, verified; a node with a cache keeps it for the next run.
  std::unique_ptr<Sha256> hasher;
  std::unique_ptr<store::BlobWriter> writer;
  uint64_t bytes = 0;
  FERRY_RETURN_IF_ERROR(server_.StreamBlob(
      hash,
      [&]() -> Status {
        if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0)
          return ErrnoStatus("cannot truncate", path, errno);
        hasher = std::make_unique<Sha256>();
        if (blobs_ && blob_cache_) writer = blobs_->NewWriter(hash, std::nullopt);
        bytes = 0;
        return Status::Ok();
      },
      [&](std::string_view piece) -> Status {
        hasher->Update(piece);
        bytes += piece.size();
        if (writer) (void)writer->Append(piece);  // the cache is a bonus: its failure is not ours
        return WriteAll(fd, piece, path);
      }));
  if (hasher->HexDigest() != hash) return Status::Corruption("blob " + hash + " arrived corrupted");
  if (writer && writer->Commit().ok()) ++cached_blobs_;
  fetched_bytes_ += static_cast<int64_t>(bytes);
  return Status::Ok();
}

void Snapshot::OpenStore() {
  if (!blobs_opened_) {
    blobs_opened_ = true;
    std::string dir = JoinPath(home_, "blobs");
    // FERRY_AGENT_BLOBS=http: use the API even where the home's blob store is visible
    // (e.g. a home on a shared file system that agents must not write to).
    const char* mode = std::getenv("FERRY_AGENT_BLOBS");
    bool http_only = mode && std::string(mode) == "http";
    if (!http_only && (blob_cache_ || PathExists(dir))) {
      auto b = store::OpenFsBlobStore(dir);
      if (b.ok())
        blobs_ = std::move(b).value();
      else if (blob_cache_)
        note_("no blob cache on this node: " + b.status().message());
    }
  }
}

// Local blob store when this node shares the workspace home, else over HTTP.
Result<std::string> Snapshot::GetBlob(const std::string& hash) {
  OpenStore();
  if (blobs_) {
    auto r = blobs_->Get(hash);
    if (r.ok() || r.status().code() != StatusCode::kNotFound) return r;
  }
  // A node without the workspace's blob store fetches over HTTP and verifies the content;
  // a node with a cache keeps it for the next run.
  FERRY_ASSIGN_OR_RETURN(std::string content, server_.GetBlob(hash));
  if (Sha256Hex(content) != hash) return Status::Corruption("blob " + hash + " arrived corrupted");
  if (blobs_ && blob_cache_) {
    auto put = blobs_->Put(content, hash);
    if (put.ok()) ++cached_blobs_;
    fetched_bytes_ += static_cast<int64_t>(content.size());
  }
  return content;
}

}  // namespace ferry::agent
