// Putting a directory's files into the workspace (upload.h).
#include "cli/upload.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "cli/term.h"
#include "common/byte_source.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "model/manifest.h"
#include "net/http.h"
#include "net/http_client.h"
#include "store/blob_store.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

// Uploads the blobs the server lacks, in batches; returns (files, bytes) uploaded.
using PathMap = std::unordered_map<std::string, std::string>;

// The workspace's own blob store, when this CLI runs on the server's machine as the owner of
// the home: blobs are then written straight into it (hashed and verified by the store
// itself) instead of being sent over HTTP and hashed again. FERRY_UPLOAD=http disables it.
std::unique_ptr<store::BlobStore> OpenLocalBlobStore(const Context& ctx) {
  const char* mode = std::getenv("FERRY_UPLOAD");
  if (mode && std::string(mode) == "http") return nullptr;
  std::string dir = JoinPath(ctx.home, "blobs");
  if (::access(dir.c_str(), W_OK) != 0) return nullptr;
  auto bs = store::OpenFsBlobStore(dir);
  return bs.ok() ? std::move(bs).value() : nullptr;
}

// Progress of storing or uploading the missing blobs, counted as they are read.
class UploadMeter {
 public:
  UploadMeter(Progress& progress, const snapshot::SnapshotResult& snap,
              const std::vector<std::string>& missing)
      : progress_(progress), files_total_(missing.size()) {
    if (!progress_.live()) return;
    std::unordered_map<std::string, uint64_t> size_of;
    for (auto& e : snap.manifest.entries) size_of.emplace(e.hash, e.size);
    for (auto& h : missing) bytes_total_ += size_of[h];
  }
  // One more file read (thread-safe).
  void Add(uint64_t bytes) {
    uint64_t files = files_.fetch_add(1) + 1;
    uint64_t done = bytes_.fetch_add(bytes) + bytes;
    progress_.Update([&] {
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      return TransferText("Uploading", files, files_total_, done, bytes_total_, secs);
    });
  }

 private:
  Progress& progress_;
  const uint64_t files_total_;
  uint64_t bytes_total_ = 0;
  std::atomic<uint64_t> files_{0}, bytes_{0};
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Files at least this big are stored or sent alone, read piece by piece, never held whole.
constexpr uint64_t kLargeFile = 16u << 20;

// The size of each blob of the snapshot.
std::unordered_map<std::string, uint64_t> SizesByHash(const snapshot::SnapshotResult& snap) {
  std::unordered_map<std::string, uint64_t> out;
  for (const auto& e : snap.manifest.entries) out.emplace(e.hash, e.size);
  return out;
}

// Streams the file at path into the store as the blob `hash` (checked when committed).
Status StoreInPieces(store::BlobStore& bs, const std::string& path, const std::string& hash) {
  FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, OpenFileSource(path));
  auto writer = bs.NewWriter(hash, source->size());
  std::string piece;
  for (;;) {
    FERRY_RETURN_IF_ERROR(source->Read(&piece));
    if (piece.empty()) break;
    FERRY_RETURN_IF_ERROR(writer->Append(piece));
  }
  return writer->Commit().status();
}

// Stores the missing blobs on two threads (reading, hashing and compressing are the work).
Result<std::pair<uint64_t, uint64_t>> StoreLocally(
    store::BlobStore& bs, const PathMap& paths, const std::vector<std::string>& missing,
    const std::unordered_map<std::string, uint64_t>& sizes, UploadMeter& meter) {
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::mutex mu;
  Status first_error;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < missing.size();) {
      const std::string& path = paths.at(missing[i]);
      const bool large = sizes.at(missing[i]) >= kLargeFile;
      Result<std::string> content = std::string();
      Status st = large ? StoreInPieces(bs, path, missing[i]) : (content = ReadFile(path)).status();
      if (st.ok() && !large) st = bs.Put(*content, missing[i]).status();
      if (!st.ok()) {
        if (st.code() == StatusCode::kInvalidArgument) {
          st = Status::FailedPrecondition("'" + path +
                                          "' changed while it was being submitted; submit again");
        }
        std::lock_guard lock(mu);
        if (first_error.ok()) first_error = st;
        next = missing.size();
        return;
      }
      const uint64_t n = large ? sizes.at(missing[i]) : content->size();
      bytes += n;
      meter.Add(n);
    }
  };
  std::thread helper(work);
  work();
  helper.join();
  FERRY_RETURN_IF_ERROR(first_error);
  FERRY_RETURN_IF_ERROR(bs.Sync());
  return std::make_pair(static_cast<uint64_t>(missing.size()), bytes.load());
}

// Stores what the server lacks: into local_store when given (this machine's workspace), else
// over HTTP.
Result<std::pair<uint64_t, uint64_t>> UploadMissing(Context& ctx,
                                                    const snapshot::SnapshotResult& snap,
                                                    store::BlobStore* local_store,
                                                    Progress& progress) {
  const PathMap paths = snapshot::PathsByHash(snap);
  std::vector<std::string> hashes;
  hashes.reserve(paths.size());
  for (auto& [h, p] : paths) hashes.push_back(h);
  std::vector<std::string> missing;
  const size_t kAsk = 20000;
  for (size_t i = 0; i < hashes.size(); i += kAsk) {
    json ask = {{"hashes", json::array()}};
    for (size_t j = i; j < std::min(hashes.size(), i + kAsk); ++j)
      ask["hashes"].push_back(hashes[j]);
    FERRY_ASSIGN_OR_RETURN(json r, ctx.Call("POST", "/api/v1/blobs/missing", ask.dump()));
    for (auto& h : r["missing"]) missing.push_back(h.get<std::string>());
  }
  UploadMeter meter(progress, snap, missing);
  const auto sizes = SizesByHash(snap);
  if (local_store) return StoreLocally(*local_store, paths, missing, sizes, meter);

  // Read batches on this thread while a sender thread uploads the previous one (the
  // server hashes and compresses meanwhile): at most two batches in memory.
  FERRY_ASSIGN_OR_RETURN(auto sender_client, ctx.NewClient());
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::string, std::string>> queue;  // (batch, first path in it)
  bool done = false;
  Status send_status;
  std::thread sender([&] {
    for (;;) {
      std::pair<std::string, std::string> item;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return !queue.empty() || done; });
        if (queue.empty()) return;
        item = std::move(queue.front());
        queue.pop_front();
      }
      cv.notify_all();
      auto r = sender_client->Request("POST", "/api/v1/blobs", item.first,
                                      "application/octet-stream", 600000);
      Status st =
          !r.ok() ? r.status()
          : r->status == 200
              ? Status::Ok()
              : Status::FailedPrecondition(
                    "uploading the batch starting at '" + item.second + "' failed (HTTP " +
                    std::to_string(r->status) + ": " + r->body +
                    "); a file may have changed while it was being submitted; submit again");
      if (!st.ok()) {
        std::lock_guard lock(mu);
        send_status = st;
        done = true;
        queue.clear();
        cv.notify_all();
        return;
      }
    }
  });
  auto enqueue = [&](std::string&& batch, std::string first) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return queue.size() < 1 || done; });
    if (!done) queue.emplace_back(std::move(batch), std::move(first));
    cv.notify_all();
  };
  uint64_t files = 0, bytes = 0;
  std::string batch, first;
  Status read_status;
  std::vector<std::string> large;  // sent alone afterwards
  for (auto& h : missing) {
    if (sizes.at(h) >= kLargeFile) {
      large.push_back(h);
      continue;
    }
    const std::string& path = paths.at(h);
    auto content = ReadFile(path);
    if (!content.ok()) {
      read_status = content.status();
      break;
    }
    if (batch.empty()) first = path;
    batch += h + " " + std::to_string(content->size()) + "\n";
    batch += *content;
    ++files;
    bytes += content->size();
    meter.Add(content->size());
    if (batch.size() >= (16u << 20)) {
      enqueue(std::move(batch), first);
      batch.clear();
    }
    {
      std::lock_guard lock(mu);
      if (done) break;
    }
  }
  if (read_status.ok() && !batch.empty()) enqueue(std::move(batch), first);
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  sender.join();
  FERRY_RETURN_IF_ERROR(read_status);
  FERRY_RETURN_IF_ERROR(send_status);
  // A large file goes as a batch of one record, its bytes read from the file as they are sent.
  for (const auto& h : large) {
    const std::string& path = paths.at(h);
    const uint64_t size = sizes.at(h);
    auto r = sender_client->Upload(
        "POST", "/api/v1/blobs", "application/octet-stream",
        [&]() -> Result<std::unique_ptr<ByteSource>> {
          FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> file, OpenFileSource(path));
          if (file->size() != size) {
            return Status::FailedPrecondition(
                "'" + path + "' changed while it was being submitted; submit again");
          }
          return PrefixedSource(h + " " + std::to_string(size) + "\n", std::move(file));
        },
        600000);
    if (!r.ok()) return r.status().WithContext("uploading '" + path + "'");
    if (r->status != 200) {
      return Status::FailedPrecondition("uploading '" + path + "' failed (HTTP " +
                                        std::to_string(r->status) + ": " + r->body +
                                        "); it may have changed while it was being submitted; "
                                        "submit again");
    }
    ++files;
    bytes += size;
    meter.Add(size);
  }
  return std::make_pair(files, bytes);
}

// On the workspace's own machine, files that must be hashed go into its blob store from the
// same read. The store is opened only when a file has to be stored (an unchanged tree never
// opens it), once, from whichever hashing thread needs it first.
class LocalBlobSink {
 public:
  explicit LocalBlobSink(const Context& ctx) : ctx_(ctx) {}

  store::BlobStore* Store() {
    std::call_once(once_, [&] { store_ = OpenLocalBlobStore(ctx_); });
    return store_.get();
  }
  // SnapshotOptions::on_content: stores the content when this is the workspace's machine.
  Status Put(const std::string& hash, std::string_view content) {
    store::BlobStore* bs = Store();
    if (!bs) return Status::Ok();  // not this machine's workspace: uploaded later over HTTP
    FERRY_ASSIGN_OR_RETURN(bool added, bs->PutHashed(content, hash));
    if (added) {
      ++files_;
      bytes_ += content.size();
    }
    ++handed_;
    return Status::Ok();
  }
  // Syncs what was stored, so it is announced (synced and indexed) before the server is asked.
  Status Sync() { return store_ ? store_->Sync() : Status::Ok(); }
  uint64_t Files() const { return files_.load(); }
  uint64_t Bytes() const { return bytes_.load(); }
  // Whether the store has every file of the snapshot (synced once Sync() succeeded): each
  // was read by the walk and handed to it (on_content is called at most once per file).
  bool HoldsAll(const snapshot::SnapshotResult& snap) const {
    return store_ && handed_.load() == snap.manifest.entries.size();
  }

 private:
  const Context& ctx_;
  std::once_flag once_;
  std::unique_ptr<store::BlobStore> store_;
  std::atomic<uint64_t> files_{0}, bytes_{0};
  std::atomic<uint64_t> handed_{0};  // files stored, or found stored already
};

// Walks and hashes the directory (storing what it reads into the local workspace when it
// can), then runs the caller's check.
Result<snapshot::SnapshotResult> BuildTreeSnapshot(const Context& ctx, const UploadOptions& o,
                                                   LocalBlobSink& sink, Progress& progress) {
  snapshot::SnapshotOptions so;
  so.source_dir = o.dir;
  so.use_ignore_files = o.use_ignore_files;
  so.stat_cache_path = JoinPath(ctx.home, "cache/stat/" + Sha256Hex(o.dir).substr(0, 32));
  std::string home = AbsolutePath(ctx.home);
  if (home.rfind(o.dir + "/", 0) == 0) so.exclude_dirs.push_back(home.substr(o.dir.size() + 1));
  (void)MakeDirs(JoinPath(ctx.home, "cache/stat"));
  so.on_content = [&](const std::string& hash, std::string_view content) {
    return sink.Put(hash, content);
  };
  const auto start = std::chrono::steady_clock::now();
  so.on_hashed = [&](const snapshot::SnapshotOptions::HashProgress& p) {
    progress.Update([&] {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return TransferText("Hashing", p.files_done, p.files_total, p.bytes_done, p.bytes_total,
                          secs);
    });
  };
  // What the walk stored is made durable (and indexed) while the stat cache and the manifest
  // are written. A snapshot that succeeds has called on_all_hashed.
  Status synced;
  std::jthread syncer;
  so.on_all_hashed = [&] { syncer = std::jthread([&] { synced = sink.Sync(); }); };
  auto built = snapshot::BuildSnapshot(so);
  if (syncer.joinable()) syncer.join();
  progress.Clear();
  FERRY_ASSIGN_OR_RETURN(snapshot::SnapshotResult snap, std::move(built));
  if (!synced.ok()) return synced.WithContext("storing the snapshot's files");
  for (auto& w : snap.warnings) std::fprintf(stderr, "ferry: warning: %s\n", w.c_str());
  if (o.check) FERRY_RETURN_IF_ERROR(o.check(snap));
  return snap;
}

}  // namespace

Result<StoredSnapshot> UploadTree(Context& ctx, const UploadOptions& o) {
  Progress progress(!ctx.json_output());
  LocalBlobSink sink(ctx);
  StoredSnapshot out;
  FERRY_ASSIGN_OR_RETURN(out.snap, BuildTreeSnapshot(ctx, o, sink, progress));
  FERRY_RETURN_IF_ERROR(ctx.Connect());
  out.up_files = sink.Files();
  out.up_bytes = sink.Bytes();
  FERRY_ASSIGN_OR_RETURN(net::HttpResponse known,
                         ctx.Raw("GET", "/api/v1/snapshots/" + out.snap.id));
  if (known.status != 200) {
    // Usually the walk stored every file: then there is nothing to ask the server about.
    auto uploaded = sink.HoldsAll(out.snap)
                        ? Result<std::pair<uint64_t, uint64_t>>(std::make_pair(0, 0))
                        : UploadMissing(ctx, out.snap, sink.Store(), progress);
    progress.Clear();
    FERRY_ASSIGN_OR_RETURN(auto up, std::move(uploaded));
    out.up_files += up.first;
    out.up_bytes += up.second;
    auto posted = ctx.Call("POST", "/api/v1/snapshots", out.snap.manifest_text, "text/plain");
    if (!posted.ok()) return posted.status().WithContext("storing the snapshot");
  }
  if (!ctx.json_output()) {
    std::fprintf(stderr, "Snapshot %s: %llu files, %llu bytes; uploaded %llu files, %llu bytes\n",
                 out.snap.id.substr(0, 12).c_str(), static_cast<unsigned long long>(out.snap.files),
                 static_cast<unsigned long long>(out.snap.bytes),
                 static_cast<unsigned long long>(out.up_files),
                 static_cast<unsigned long long>(out.up_bytes));
  }
  return out;
}

Result<int64_t> DownloadFiles(Context& ctx, const std::vector<RemoteFile>& files,
                              const std::string& dir, bool overwrite) {
  int64_t bytes = 0;
  for (const auto& f : files) {
    FERRY_RETURN_IF_ERROR(model::ValidateRelativePath(f.path));
    const std::string dest = JoinPath(dir, f.path);
    if (!overwrite && PathExists(dest)) {
      return Status::AlreadyExists("'" + dest + "' exists; pass --overwrite to replace it");
    }
    std::string url;
    if (!f.blob.empty()) {
      url = "/api/v1/blobs/" + f.blob;
    } else {
      url = "/api/v1/datastores/" + net::UrlEncode(f.datastore) +
            "/content?path=" + net::UrlEncode(f.source);
      if (f.modified_at >= 0) {
        char mtime[64];
        std::snprintf(mtime, sizeof mtime, "%.9f", f.modified_at);
        url += "&size=" + std::to_string(f.size) + "&modified_at=" + mtime;
      }
    }
    FERRY_RETURN_IF_ERROR(MakeDirs(dest.substr(0, dest.rfind('/'))));
    // Streamed to disk; checked against the hash (blobs) or the listed size before it is
    // renamed into place.
    auto got = ctx.Download(url, dest, f.blob, f.size);
    if (!got.ok()) return got.status().WithContext("'" + f.path + "'");
    bytes += static_cast<int64_t>(*got);
  }
  return bytes;
}

}  // namespace ferry::cli
