// BlobStore on the local file system: small blobs appended to pack files (one inode per
// ~256 MiB instead of one per file: creating 50,000 inodes dominated a first snapshot),
// large ones as loose files. Every blob is zstd-compressed and verified on read.
//
// Layout under root: packs/<writer>.pack (append-only, one per writing process),
// index.db (SQLite: hash -> pack, offset, length; only synced data is indexed),
// ab/<hash> (loose blobs), tmp/ (loose blobs being written).
// Several processes may use one root (the server, local agents): each appends to its own
// pack, and the index is shared through SQLite.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <bitset>
#include <cerrno>
#include <cstdlib>
#include <future>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/byte_source.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/mutex.h"
#include "common/zstd_util.h"
#include "store/blob_store.h"
#include "store/sqlite_db.h"

namespace ferry::store {
namespace {

constexpr size_t kPackThreshold = 1 << 20;         // blobs up to 1 MiB go into packs
constexpr uint64_t kPackRollBytes = 256ull << 20;  // start a new pack past this size
constexpr size_t kWriteBufferBytes = 4 << 20;      // pack appends are written in pieces this big
constexpr size_t kDirectAlign = 4096;  // O_DIRECT's alignment of memory, file offsets and lengths

// This thread's buffer for a compressed blob: reused (no allocation, zero-fill or page faults
// per blob) and page-aligned, so that a loose blob can be written from it with O_DIRECT.
class CompressBuffer {
 public:
  static CompressBuffer& ForThisThread() {
    thread_local CompressBuffer buf;
    return buf;
  }
  ~CompressBuffer() { std::free(data_); }
  // Compresses content into the buffer; the result is valid until the next call.
  std::string_view Compress(std::string_view content) {
    const size_t bound = ZstdCompressBound(content.size());
    if (bound > cap_) {
      std::free(data_);
      cap_ = std::bit_ceil(std::max(bound, size_t{1} << 20));  // few regrowths, page-aligned
      data_ = static_cast<char*>(std::aligned_alloc(kDirectAlign, cap_));
      FERRY_CHECK(data_ != nullptr);
    }
    return {data_, ZstdCompressTo(content, 1, data_, cap_)};
  }
  // Gives back a buffer grown for one huge blob rather than pinning it for the thread's life.
  void Trim() {
    if (cap_ > (64u << 20)) {
      std::free(data_);
      data_ = nullptr;
      cap_ = 0;
    }
  }

 private:
  CompressBuffer() = default;
  char* data_ = nullptr;
  size_t cap_ = 0;
};

// Creates path holding data, which starts at a kDirectAlign-aligned address. The aligned bulk
// is written with O_DIRECT: from data's pages straight to the disk, with no copy into the page
// cache and nothing left for a later sync to write back. The tail, and everything on a file
// system that refuses O_DIRECT, is written the ordinary way.
Status WriteNewFileDirect(const std::string& path, std::string_view data) {
  const size_t bulk = data.size() & ~(kDirectAlign - 1);
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  bool direct = bulk > 0;
  UniqueFd fd(::open(path.c_str(), flags | (direct ? O_DIRECT : 0), 0644));
  if (!fd.valid() && direct && errno == EINVAL) {
    direct = false;
    fd.Reset(::open(path.c_str(), flags, 0644));
  }
  if (!fd.valid()) return ErrnoStatus("cannot create", path, errno);
  size_t done = 0;
  if (direct) {
    while (done < bulk) {
      ssize_t n = ::pwrite(fd.get(), data.data() + done, bulk - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL) break;  // not aligned as this device needs: the usual way
      if (n < 0) return ErrnoStatus("cannot write", path, errno);
      done += static_cast<size_t>(n);
      if (done % kDirectAlign != 0) break;  // a short write: the rest the usual way
    }
    int fl = ::fcntl(fd.get(), F_GETFL);
    if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl & ~O_DIRECT) != 0)
      return ErrnoStatus("cannot write", path, errno);
  }
  const size_t buffered_from = done;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd.get(), data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot write", path, errno);
    done += static_cast<size_t>(n);
  }
  // Start writing back what went through the page cache now, so that Sync finds it done.
  if (done > buffered_from)
    (void)::sync_file_range(fd.get(), static_cast<off_t>(buffered_from), 0, SYNC_FILE_RANGE_WRITE);
  return Status::Ok();
}

// fsync()s (fdatasync()s for files) every path, several at once: each sync waits for the
// device to flush its cache, and concurrent ones share the journal commit and the flush, so
// 40 files take about as long as one. A path that no longer exists is skipped (a blob dropped
// since because it failed verification).
Status SyncPaths(const std::vector<std::string>& paths, bool directories) {
  constexpr size_t kThreads = 8;
  std::atomic<size_t> next{0};
  Mutex mu;
  Status first_error;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < paths.size();) {
      const std::string& path = paths[i];
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directories ? O_DIRECTORY : 0)));
      if (!fd.valid() && errno == ENOENT) continue;
      if (fd.valid() && (directories ? ::fsync(fd.get()) : ::fdatasync(fd.get())) == 0) continue;
      Status st = ErrnoStatus("cannot sync", path, errno);
      MutexLock lock(&mu);
      if (first_error.ok()) first_error = st;
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < std::min(kThreads, paths.size()); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  MutexLock lock(&mu);
  return first_error;
}

struct Loc {
  std::string pack;
  uint64_t offset = 0;
  uint64_t length = 0;
};

class FsBlobStore;

// Holds up to kPackThreshold bytes in memory (then stored like Put's); past that, the
// content is compressed as it arrives into a temporary file that Commit() renames into place.
class FsBlobWriter final : public BlobWriter {
 public:
  FsBlobWriter(FsBlobStore* store, std::string expected, std::optional<uint64_t> size)
      : store_(store), expected_(std::move(expected)), size_(size) {}
  ~FsBlobWriter() override { Discard(); }
  Status Append(std::string_view piece) override;
  Result<std::string> Commit() override;

 private:
  Status Spill();
  Status WriteCompressed();
  void Discard() {
    if (!tmp_.empty()) {
      fd_.Reset();
      ::unlink(tmp_.c_str());
      tmp_.clear();
    }
  }

  FsBlobStore* store_;
  std::string expected_;
  std::optional<uint64_t> size_;
  uint64_t written_ = 0;
  Sha256 hasher_;
  std::string small_;  // everything so far, until it outgrows a pack entry
  std::unique_ptr<ZstdStreamCompressor> zstd_;
  std::string out_;  // compressed bytes not yet written
  std::string tmp_;
  UniqueFd fd_;
  Status error_;  // the first failure; sticks
};

class FsBlobStore final : public BlobStore {
 public:
  friend class FsBlobWriter;

  FsBlobStore(std::string root, Db index) : root_(std::move(root)), index_(std::move(index)) {}

  ~FsBlobStore() override { (void)Sync(); }

  Status Init() EXCLUDES(mu_) {
    MutexLock lock(&mu_);  // nothing else can reach the store yet; taken for the analysis
    // synchronous=FULL: Sync() commits the index rows of blobs it has just made durable, and
    // returns only once those rows are durable too (NORMAL leaves a commit's WAL frames
    // unsynced until a checkpoint: a power loss could drop rows of blobs already announced).
    FERRY_RETURN_IF_ERROR(
        index_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;"
                    "CREATE TABLE IF NOT EXISTS packed(hash TEXT PRIMARY KEY, pack TEXT NOT NULL,"
                    " offset INTEGER NOT NULL, length INTEGER NOT NULL) WITHOUT ROWID;"));
    FERRY_ASSIGN_OR_RETURN(Stmt find,
                           index_.Prepare("SELECT pack, offset, length FROM packed WHERE hash=?"));
    FERRY_ASSIGN_OR_RETURN(Stmt ins,
                           index_.Prepare("INSERT OR IGNORE INTO packed VALUES(?,?,?,?)"));
    FERRY_ASSIGN_OR_RETURN(Stmt del, index_.Prepare("DELETE FROM packed WHERE hash=?"));
    find_.emplace(std::move(find));
    insert_.emplace(std::move(ins));
    delete_.emplace(std::move(del));
    return Status::Ok();
  }

  bool Has(const std::string& hash) override {
    if (!IsSha256Hex(hash)) return false;
    return HasPacked(hash) || HasLoose(hash);
  }

  Result<std::string> Put(std::string_view content, const std::string& expected) override {
    std::string hash = Sha256Hex(content);
    if (!expected.empty() && hash != expected) {
      return Status::InvalidArgument("blob content does not match its hash " + expected + " (got " +
                                     hash + "); the upload was corrupted, retry it");
    }
    FERRY_RETURN_IF_ERROR(PutHashed(content, hash).status());
    return hash;
  }

  Result<bool> PutHashed(std::string_view content, const std::string& hash) override {
    if (!IsSha256Hex(hash))
      return Status::InvalidArgument("'" + hash + "' is not a SHA-256 hex digest");
    // Content of this size lives in one place only: look just there.
    if (content.size() > kPackThreshold) {
      if (HasLoose(hash)) {
        NoteLoose(hash);  // maybe another process's, not synced yet: our Sync syncs it too
        return false;
      }
    } else if (HasPacked(hash)) {
      return false;
    }
    // Compressed into this thread's buffer, outside the lock: only the append is serialised.
    CompressBuffer& buf = CompressBuffer::ForThisThread();
    std::string_view compressed = buf.Compress(content);
    if (content.size() > kPackThreshold) {
      Status st = PutLoose(hash, compressed);
      buf.Trim();
      FERRY_RETURN_IF_ERROR(st);
      return true;
    }
    PackWrite write;
    {
      MutexLock lock(&mu_);
      if (pending_.count(hash)) return false;
      auto must_roll = [&]() REQUIRES(mu_) {
        return !pack_fd_.valid() || pack_size_ + write_buffer_.size() >= kPackRollBytes;
      };
      // A writer far ahead of a slow disk waits for the write under way; so does one about to
      // start a new pack (the write is to the current one), which then decides again.
      while (flushing_ && (write_buffer_.size() >= 4 * kWriteBufferBytes || must_roll()))
        flushed_.Wait(&mu_);
      if (must_roll()) FERRY_RETURN_IF_ERROR(NewPackLocked());
      // Appends are buffered (one write per few MiB, not one per blob); nothing is indexed
      // before Sync() has written and flushed them.
      uint64_t offset = pack_size_ + write_buffer_.size();
      write_buffer_.append(compressed);
      pending_[hash] = Loc{pack_name_, offset, compressed.size()};
      if (write_buffer_.size() < kWriteBufferBytes || flushing_) return true;
      write = TakeBufferLocked();
    }
    FERRY_RETURN_IF_ERROR(WriteTaken(std::move(write)));
    return true;
  }

  Result<std::string> Get(const std::string& hash) override {
    if (!IsSha256Hex(hash))
      return Status::InvalidArgument("'" + hash + "' is not a SHA-256 hex digest");
    FERRY_ASSIGN_OR_RETURN(std::optional<Loc> loc, Locate(hash));
    if (loc) return GetPacked(hash, *loc);
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> reader, OpenLoose(hash));
    return ReadWhole(*reader);
  }

  // A packed blob is at most kPackThreshold bytes: it is read and verified whole, then served
  // from memory. A loose one streams (LooseReader).
  Result<std::unique_ptr<ByteSource>> Open(const std::string& hash) override {
    if (!IsSha256Hex(hash))
      return Status::InvalidArgument("'" + hash + "' is not a SHA-256 hex digest");
    FERRY_ASSIGN_OR_RETURN(std::optional<Loc> loc, Locate(hash));
    if (loc) {
      FERRY_ASSIGN_OR_RETURN(std::string content, GetPacked(hash, *loc));
      return StringSource(std::move(content));
    }
    return OpenLoose(hash);
  }

  std::unique_ptr<BlobWriter> NewWriter(const std::string& expected_hash,
                                        std::optional<uint64_t> size) override {
    return std::make_unique<FsBlobWriter>(this, expected_hash, size);
  }

  Result<uint64_t> Size(const std::string& hash) override {
    if (!IsSha256Hex(hash))
      return Status::InvalidArgument("'" + hash + "' is not a SHA-256 hex digest");
    FERRY_ASSIGN_OR_RETURN(std::optional<Loc> loc, Locate(hash));
    std::string head;
    if (loc) {
      FERRY_ASSIGN_OR_RETURN(
          head, ReadRange(PackPath(loc->pack), loc->offset, std::min<uint64_t>(loc->length, 18)));
    } else {
      if (!HasLoose(hash)) return Status::NotFound("blob " + hash + " is not stored");
      FERRY_ASSIGN_OR_RETURN(head, ReadRange(LoosePath(hash), 0, 18));
    }
    if (auto n = ZstdFrameContentSize(head)) return *n;
    // A frame that does not declare its size (a streamed upload of unknown length).
    FERRY_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> reader, OpenLoose(hash));
    return reader->size();
  }

  Result<std::vector<std::optional<uint64_t>>> Sizes(
      const std::vector<std::string>& hashes) override {
    for (const auto& h : hashes) {
      if (!IsSha256Hex(h))
        return Status::InvalidArgument("'" + h + "' is not a SHA-256 hex digest");
    }
    std::vector<std::optional<uint64_t>> out(hashes.size());
    std::vector<std::optional<Loc>> locs(hashes.size());
    std::vector<size_t> elsewhere;  // not found in a synced pack: pending, loose or absent
    // Each packed blob's frame header, every pack opened once.
    std::unordered_map<std::string, UniqueFd> packs;
    std::vector<size_t> unread;  // a short pack or a frame without its size: Size() decides
    auto read_headers = [&](size_t begin, size_t end) -> Status {
      for (size_t i = begin; i < end; ++i) {
        if (!locs[i]) continue;
        const Loc& loc = *locs[i];
        auto it = packs.find(loc.pack);
        if (it == packs.end()) {
          std::string path = PackPath(loc.pack);
          UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
          if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
          it = packs.emplace(loc.pack, std::move(fd)).first;
        }
        char head[18];
        ssize_t n = ::pread(it->second.get(), head, std::min<uint64_t>(loc.length, sizeof head),
                            static_cast<off_t>(loc.offset));
        if (n > 0) out[i] = ZstdFrameContentSize(std::string_view(head, static_cast<size_t>(n)));
        if (!out[i]) unread.push_back(i);
      }
      return Status::Ok();
    };
    // The index in read transactions of a few thousand lookups each: one lock (and one WAL
    // snapshot) per batch instead of one per hash, and writers wait at most one batch. A
    // batch's headers are read on a second thread while the next batch is looked up.
    std::future<Status> reading;  // destroyed (so waited for) before what it uses
    constexpr size_t kBatch = 4096;
    for (size_t begin = 0; begin < hashes.size(); begin += kBatch) {
      const size_t end = std::min(hashes.size(), begin + kBatch);
      {
        MutexLock lock(&mu_);
        FERRY_RETURN_IF_ERROR(index_.Exec("BEGIN"));
        for (size_t i = begin; i < end; ++i) {
          if (pending_.count(hashes[i])) {
            elsewhere.push_back(i);
            continue;
          }
          auto loc = FindLocked(hashes[i]);
          if (!loc.ok()) {
            (void)index_.Exec("COMMIT");
            return loc.status();
          }
          if (*loc) {
            locs[i] = std::move(*loc);
          } else {
            elsewhere.push_back(i);
          }
        }
        FERRY_RETURN_IF_ERROR(index_.Exec("COMMIT"));
      }
      if (reading.valid()) FERRY_RETURN_IF_ERROR(reading.get());
      reading = std::async(std::launch::async, read_headers, begin, end);
    }
    if (reading.valid()) FERRY_RETURN_IF_ERROR(reading.get());
    elsewhere.insert(elsewhere.end(), unread.begin(), unread.end());
    for (size_t i : elsewhere) {
      auto size = Size(hashes[i]);
      if (size.ok()) {
        out[i] = *size;
      } else if (size.status().code() != StatusCode::kNotFound) {
        return size.status();
      }
    }
    return out;
  }

  Status Sync() override {
    MutexLock lock(&mu_);
    if (pack_fd_.valid()) FERRY_RETURN_IF_ERROR(FlushLocked());
    // Nothing is indexed before its data is durable; but the rows can be sorted and inserted
    // (uncommitted, so invisible) while the data is synced: on another thread when there are
    // many rows to prepare meanwhile.
    DurableWork work = DurableWorkLocked();
    std::future<Status> durable;  // destroyed (so waited for) before `work`
    if (pending_.size() >= 1024) {
      durable = std::async(std::launch::async, [&work] { return work.Run(); });
    } else {
      FERRY_RETURN_IF_ERROR(work.Run());
    }
    auto synced = [&]() REQUIRES(mu_) {
      Status st = durable.valid() ? durable.get() : Status::Ok();
      if (st.ok()) {  // what was synced need not be again
        packs_dirty_ = false;
        root_dirty_ = false;
        unsynced_loose_.clear();
      }
      return st;
    };
    if (pending_.empty()) return synced();
    // In key order: each insert lands beside the previous one in the index's B-tree. Sorted
    // by the hashes' first 8 characters, loaded big-endian (their order as strings), beside
    // the entries: no pointer chasing to the strings unless those are equal.
    using Row = std::pair<uint64_t, const std::pair<const std::string, Loc>*>;
    std::vector<Row> rows;
    rows.reserve(pending_.size());
    for (const auto& row : pending_) {
      uint64_t prefix = 0;
      for (size_t i = 0; i < 8; ++i)
        prefix = prefix << 8 | static_cast<unsigned char>(row.first[i]);
      rows.emplace_back(prefix, &row);
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      return a.first != b.first ? a.first < b.first : a.second->first < b.second->first;
    });
    Status st = index_.Exec("BEGIN IMMEDIATE");
    for (size_t i = 0; st.ok() && i < rows.size(); ++i) {
      const auto& [hash, loc] = *rows[i].second;
      st = insert_->Bind(1, hash)
               .Bind(2, loc.pack)
               .Bind(3, static_cast<int64_t>(loc.offset))
               .Bind(4, static_cast<int64_t>(loc.length))
               .Run();
    }
    // Only now, with the data durable, do other processes learn where it is.
    Status durable_st = synced();
    if (st.ok()) st = durable_st;
    if (st.ok()) st = index_.Exec("COMMIT");
    if (!st.ok()) {
      (void)index_.Exec("ROLLBACK");
      return st;
    }
    pending_.clear();
    return Status::Ok();
  }

 private:
  friend class LooseReader;

  Result<std::string> GetPacked(const std::string& hash, const Loc& loc) {
    FERRY_ASSIGN_OR_RETURN(std::string raw, ReadRange(PackPath(loc.pack), loc.offset, loc.length));
    auto content = ZstdDecompress(raw);
    if (!content.ok() || Sha256Hex(*content) != hash) {
      return Corrupt(hash, true, "pack " + loc.pack,
                     content.ok() ? "" : content.status().message());
    }
    return std::move(content).value();
  }

  // A loose blob's reader. A frame that does not declare its size (a streamed upload of unknown
  // length) is read through once to learn it.
  Result<std::unique_ptr<ByteSource>> OpenLoose(const std::string& hash);

  // Forgets a blob that failed verification (so that the next upload of its content repairs
  // it) and says so.
  Status Corrupt(const std::string& hash, bool packed, const std::string& where,
                 const std::string& why) {
    Forget(hash, packed);
    return Status::Corruption("blob " + hash + " failed verification (" + where + ")" +
                              (why.empty() ? "" : ": " + why) +
                              "; it will be accepted again on the next upload");
  }

  // Where a packed blob is (written out first when it is still buffered, so it can be read
  // back); nullopt when it is not in a pack (it may be loose).
  Result<std::optional<Loc>> Locate(const std::string& hash) {
    MutexLock lock(&mu_);
    if (!pending_.count(hash)) return FindLocked(hash);
    FERRY_RETURN_IF_ERROR(FlushLocked());  // waits for a write under way: mu_ was let go
    auto it = pending_.find(hash);
    if (it == pending_.end()) return FindLocked(hash);  // indexed meanwhile, or dropped
    return std::optional<Loc>(it->second);
  }

  bool HasPacked(const std::string& hash) {
    MutexLock lock(&mu_);
    if (pending_.count(hash)) return true;
    auto loc = FindLocked(hash);
    return loc.ok() && loc->has_value();
  }

  bool HasLoose(const std::string& hash) const {
    struct stat st;
    return ::stat(LoosePath(hash).c_str(), &st) == 0 && st.st_size > 0;
  }

  std::string LoosePath(const std::string& hash) const {
    std::string p = root_;
    p += '/';
    p.append(hash, 0, 2);
    p += '/';
    p += hash;
    return p;
  }
  std::string PackPath(const std::string& name) const { return root_ + "/packs/" + name + ".pack"; }

  Result<std::optional<Loc>> FindLocked(const std::string& hash) REQUIRES(mu_) {
    find_->Bind(1, hash);
    auto row = find_->Step();
    std::optional<Loc> loc;
    if (row.ok() && *row) {
      loc = Loc{find_->Text(0), static_cast<uint64_t>(find_->Int(1)),
                static_cast<uint64_t>(find_->Int(2))};
    }
    find_->Reset();
    if (!row.ok()) return row.status();
    return loc;
  }

  void Forget(const std::string& hash, bool packed) {
    MutexLock lock(&mu_);
    if (packed) {
      pending_.erase(hash);
      (void)delete_->Bind(1, hash).Run();
    } else {
      ::unlink(LoosePath(hash).c_str());
    }
  }

  // The buffered appends, taken to be written to the pack without holding mu_ (copying a few
  // MiB into the page cache takes milliseconds: other writers append meanwhile).
  struct PackWrite {
    std::string data;
    std::string pack;
    int fd = -1;
    uint64_t offset = 0;
  };
  PackWrite TakeBufferLocked() REQUIRES(mu_) {
    PackWrite w{std::move(write_buffer_), pack_name_, pack_fd_.get(), pack_size_};
    write_buffer_ = std::move(spare_buffer_);
    write_buffer_.clear();
    pack_size_ += w.data.size();  // reserved: later appends follow it
    flushing_ = true;
    return w;
  }
  // Writes what TakeBufferLocked() took (the pack stays open meanwhile: whoever would close
  // or roll it waits for flushing_ to clear).
  Status WriteTaken(PackWrite w) EXCLUDES(mu_) {
    Status st = PwriteAll(w.fd, w.data, w.offset, PackPath(w.pack));
    if (st.ok()) StartWriteBack(w.fd, w.offset, w.data.size());
    MutexLock lock(&mu_);
    flushing_ = false;
    flushed_.SignalAll();
    if (!st.ok()) {
      DropFromLocked(w.offset);
      return st;
    }
    spare_buffer_ = std::move(w.data);
    return Status::Ok();
  }
  // After a failed write at `offset` of the current pack: the pack is cut back there, and the
  // blobs from there on (their Put reported success, but they were never indexed, so a later
  // upload simply stores them again) are forgotten with whatever is still buffered.
  void DropFromLocked(uint64_t offset) REQUIRES(mu_) {
    (void)!::ftruncate(pack_fd_.get(), static_cast<off_t>(offset));
    for (auto it = pending_.begin(); it != pending_.end();) {
      it = it->second.pack == pack_name_ && it->second.offset >= offset ? pending_.erase(it)
                                                                        : std::next(it);
    }
    write_buffer_.clear();
    pack_size_ = offset;
  }
  static Status PwriteAll(int fd, std::string_view data, uint64_t offset, const std::string& path) {
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("cannot write", path, errno);
      offset += static_cast<uint64_t>(n);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }
  // Starts writing the range back now, so that Sync's fdatasync has little left to do.
  static void StartWriteBack(int fd, uint64_t offset, uint64_t length) {
    (void)::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(length),
                            SYNC_FILE_RANGE_WRITE);
  }

  // Writes the buffered appends to the current pack, after any write under way (mu_ is let
  // go while waiting for that). On failure the pack is cut back to its last good size and
  // the buffered blobs are forgotten (DropFromLocked).
  Status FlushLocked() REQUIRES(mu_) {
    while (flushing_) flushed_.Wait(&mu_);
    if (write_buffer_.empty()) return Status::Ok();
    Status st = PwriteAll(pack_fd_.get(), write_buffer_, pack_size_, PackPath(pack_name_));
    if (!st.ok()) {
      DropFromLocked(pack_size_);
      return st;
    }
    StartWriteBack(pack_fd_.get(), pack_size_, write_buffer_.size());
    pack_size_ += write_buffer_.size();
    write_buffer_.clear();
    return Status::Ok();
  }

  Status NewPackLocked() REQUIRES(mu_) {
    if (pack_fd_.valid()) FERRY_RETURN_IF_ERROR(FlushLocked());
    if (pack_fd_.valid() && ::fdatasync(pack_fd_.get()) != 0)
      return ErrnoStatus("cannot sync", PackPath(pack_name_), errno);
    pack_name_ = std::to_string(::getpid()) + "-" + RandomHex(8);
    std::string path = PackPath(pack_name_);
    pack_fd_.Reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!pack_fd_.valid()) return ErrnoStatus("cannot create", path, errno);
    pack_size_ = 0;
    packs_dirty_ = true;
    return Status::Ok();
  }

  static Result<std::string> ReadRange(const std::string& path, uint64_t offset, uint64_t length) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
    std::string out(length, '\0');
    size_t got = 0;
    while (got < length) {
      ssize_t n =
          ::pread(fd.get(), out.data() + got, length - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);  // a short read fails verification below
    return out;
  }

  // compressed: in a CompressBuffer (aligned for O_DIRECT).
  Status PutLoose(const std::string& hash, std::string_view compressed) {
    std::string tmp = TempPath(hash);
    Status st = WriteNewFileDirect(tmp, compressed);
    if (st.ok()) st = PublishLoose(tmp, hash);
    if (!st.ok()) ::unlink(tmp.c_str());
    return st;
  }

  std::string TempPath(const std::string& name) {
    return JoinPath(root_, "tmp/" + name + "." + std::to_string(::getpid()) + "." +
                               std::to_string(counter_.fetch_add(1)));
  }

  // Moves a complete compressed file into place as the loose blob `hash`.
  Status PublishLoose(const std::string& tmp, const std::string& hash) {
    int dir_index = std::stoi(hash.substr(0, 2), nullptr, 16);
    std::string dir = JoinPath(root_, hash.substr(0, 2));
    {
      MutexLock lock(&mu_);
      if (!made_dirs_.test(static_cast<size_t>(dir_index))) {
        if (::mkdir(dir.c_str(), 0755) == 0) {
          root_dirty_ = true;
        } else if (errno != EEXIST) {
          return ErrnoStatus("cannot create", dir, errno);
        }
        made_dirs_.set(static_cast<size_t>(dir_index));
      }
    }
    if (::rename(tmp.c_str(), LoosePath(hash).c_str()) != 0)
      return ErrnoStatus("cannot rename", tmp, errno);
    NoteLoose(hash);
    return Status::Ok();
  }

  // The next Sync makes the loose blob `hash` durable.
  void NoteLoose(const std::string& hash) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    unsynced_loose_.push_back(hash);
  }

  // What Sync() makes durable before it indexes anything: the current pack's appends (and
  // its name, when the pack is new since the last Sync), the loose blobs published since
  // (what O_DIRECT wrote is on the disk already: this commits its allocation, and writes back
  // what went through the page cache), and the directories their names are in (the root
  // too when a fan-out directory was made). Run() touches no member of the store, so it may
  // run on another thread.
  struct DurableWork {
    int pack_fd = -1;
    std::string pack_path, packs_dir;  // packs_dir: "" unless the pack is new
    std::vector<std::string> files, dirs;
    Status Run() const {
      if (pack_fd >= 0 && ::fdatasync(pack_fd) != 0)
        return ErrnoStatus("cannot sync", pack_path, errno);
      if (!packs_dir.empty()) FERRY_RETURN_IF_ERROR(SyncDir(packs_dir));
      // Only these files: syncing the whole file system also waited for every other
      // process's writes.
      FERRY_RETURN_IF_ERROR(SyncPaths(files, /*directories=*/false));
      return SyncPaths(dirs, /*directories=*/true);
    }
  };
  DurableWork DurableWorkLocked() REQUIRES(mu_) {
    DurableWork w;
    if (pack_fd_.valid()) {
      w.pack_fd = pack_fd_.get();
      w.pack_path = PackPath(pack_name_);
      if (packs_dirty_) w.packs_dir = JoinPath(root_, "packs");
    }
    std::bitset<256> dir_seen;
    for (const std::string& hash : unsynced_loose_) {
      w.files.push_back(LoosePath(hash));
      const auto dir_index = static_cast<size_t>(std::stoi(hash.substr(0, 2), nullptr, 16));
      if (!dir_seen.test(dir_index)) w.dirs.push_back(JoinPath(root_, hash.substr(0, 2)));
      dir_seen.set(dir_index);
    }
    if (root_dirty_) w.dirs.push_back(root_);
    return w;
  }

  static Status SyncDir(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid() || ::fsync(fd.get()) != 0) return ErrnoStatus("cannot sync", dir, errno);
    return Status::Ok();
  }

  std::string root_;
  std::atomic<uint64_t> counter_{0};
  Mutex mu_;
  Db index_ GUARDED_BY(mu_);
  std::optional<Stmt> find_ GUARDED_BY(mu_), insert_ GUARDED_BY(mu_), delete_ GUARDED_BY(mu_);
  UniqueFd pack_fd_ GUARDED_BY(mu_);
  std::string pack_name_ GUARDED_BY(mu_);
  // Bytes written to the current pack, or being written (flushing_) by WriteTaken().
  uint64_t pack_size_ GUARDED_BY(mu_) = 0;
  std::string write_buffer_ GUARDED_BY(mu_);  // appends not yet written (they follow pack_size_)
  std::string spare_buffer_ GUARDED_BY(mu_);  // the last written one, kept for its capacity
  bool flushing_ GUARDED_BY(mu_) = false;     // a WriteTaken() is under way
  CondVar flushed_;                           // signalled when it ends
  // Written, not yet synced and indexed.
  std::unordered_map<std::string, Loc> pending_ GUARDED_BY(mu_);
  // Loose blobs (by hash) renamed into place since the last Sync, and whether a directory was
  // made in root_ since: part of what Sync() makes durable (DurableWork).
  std::vector<std::string> unsynced_loose_ GUARDED_BY(mu_);
  bool root_dirty_ GUARDED_BY(mu_) = false;
  bool packs_dirty_ GUARDED_BY(mu_) = false;  // a pack was made since the last Sync
  std::bitset<256> made_dirs_ GUARDED_BY(mu_);
};

// A loose blob read piece by piece: the file is decompressed ByteSource::kPiece at a time and
// hashed as it goes, and one piece is kept ahead, so that the last piece is handed out only
// once the whole content has been checked against the hash and the size its frame declares.
class LooseReader final : public ByteSource {
 public:
  LooseReader(FsBlobStore* store, std::string hash, UniqueFd fd, std::optional<uint64_t> size)
      : store_(store), hash_(std::move(hash)), fd_(std::move(fd)), size_(size) {}
  uint64_t size() const override { return size_.value_or(produced_); }

  Status Read(std::string* piece) override {
    if (!error_.ok()) return error_;
    if (!started_) {
      started_ = true;
      error_ = Next(&ahead_);
      if (!error_.ok()) return error_;
    }
    if (ahead_.empty()) {  // the end, verified when ahead_ ran dry
      piece->clear();
      return Status::Ok();
    }
    piece->swap(ahead_);
    error_ = Next(&ahead_);
    if (!error_.ok()) piece->clear();
    return error_;
  }

 private:
  static constexpr size_t kReadBytes = 256 << 10;

  // The next piece into *out (empty at the end), hashed; at the end, the verdict.
  Status Next(std::string* out) {
    out->clear();
    while (out->size() < kPiece && !zstd_.done()) {
      if (in_.empty()) {
        if (eof_) break;
        FERRY_RETURN_IF_ERROR(Fill());
        continue;
      }
      const size_t before_in = in_.size(), before_out = out->size();
      Status st = zstd_.Run(&in_, out, kPiece);
      if (!st.ok()) return Bad(st.message());
      if (in_.size() == before_in && out->size() == before_out && !zstd_.done())
        return Bad("the zstd frame makes no progress");
    }
    hasher_.Update(*out);
    produced_ += out->size();
    if (size_ && produced_ > *size_)
      return Bad("it holds more than the " + std::to_string(*size_) + " bytes it declares");
    if (!out->empty()) return Status::Ok();
    if (!zstd_.done()) return Bad("the file ends inside its zstd frame");
    if (in_.empty() && !eof_) FERRY_RETURN_IF_ERROR(Fill());
    if (!in_.empty()) return Bad("bytes follow its zstd frame");
    if (size_ && produced_ != *size_) {
      return Bad("it holds " + std::to_string(produced_) + " of the " + std::to_string(*size_) +
                 " bytes it declares");
    }
    if (hasher_.HexDigest() != hash_) return Bad("its content has another hash");
    return Status::Ok();
  }

  Status Fill() {
    buf_.resize(kReadBytes);
    for (;;) {
      const ssize_t n = ::read(fd_.get(), buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("cannot read", store_->LoosePath(hash_), errno);
      buf_.resize(static_cast<size_t>(n));
      eof_ = n == 0;
      in_ = buf_;
      return Status::Ok();
    }
  }

  Status Bad(const std::string& why) {
    return store_->Corrupt(hash_, false, store_->LoosePath(hash_), why);
  }

  FsBlobStore* store_;
  std::string hash_;
  UniqueFd fd_;
  std::optional<uint64_t> size_;  // as the frame declares it
  std::string buf_;               // compressed bytes read
  std::string_view in_;           // those not yet decompressed
  bool eof_ = false;
  ZstdStreamDecompressor zstd_;
  Sha256 hasher_;
  uint64_t produced_ = 0;
  bool started_ = false;
  std::string ahead_;  // the next piece to hand out
  Status error_;       // sticks
};

Result<std::unique_ptr<ByteSource>> FsBlobStore::OpenLoose(const std::string& hash) {
  const std::string path = LoosePath(hash);
  auto open = [&]() -> Result<UniqueFd> {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid()) return fd;
    if (errno == ENOENT) return Status::NotFound("blob " + hash + " is not stored");
    return ErrnoStatus("cannot open", path, errno);
  };
  FERRY_ASSIGN_OR_RETURN(UniqueFd fd, open());
  FERRY_ASSIGN_OR_RETURN(std::string head, ReadRange(path, 0, 18));
  std::optional<uint64_t> size = ZstdFrameContentSize(head);
  if (!size) {
    LooseReader count(this, hash, std::move(fd), std::nullopt);
    std::string piece;
    do {
      FERRY_RETURN_IF_ERROR(count.Read(&piece));
    } while (!piece.empty());
    size = count.size();
    FERRY_ASSIGN_OR_RETURN(fd, open());
  }
  return std::unique_ptr<ByteSource>(
      std::make_unique<LooseReader>(this, hash, std::move(fd), size));
}

Status FsBlobWriter::Append(std::string_view piece) {
  if (!error_.ok()) return error_;
  if (size_ && piece.size() > *size_ - written_) {
    error_ = Status::InvalidArgument("the blob has more bytes than the " + std::to_string(*size_) +
                                     " announced");
    return error_;
  }
  hasher_.Update(piece);
  written_ += piece.size();
  if (!zstd_) {
    small_.append(piece);
    if (small_.size() > kPackThreshold) error_ = Spill();
    return error_;
  }
  error_ = zstd_->Append(piece, &out_);
  if (error_.ok() && out_.size() >= (1u << 20)) error_ = WriteCompressed();
  return error_;
}

Status FsBlobWriter::Spill() {
  tmp_ = store_->TempPath(expected_.empty() ? "upload" : expected_);
  fd_.Reset(::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd_.valid()) {
    Status st = ErrnoStatus("cannot create", tmp_, errno);
    tmp_.clear();
    return st;
  }
  zstd_ = std::make_unique<ZstdStreamCompressor>(1, size_);
  FERRY_RETURN_IF_ERROR(zstd_->Append(small_, &out_));
  small_.clear();
  small_.shrink_to_fit();
  return WriteCompressed();
}

Status FsBlobWriter::WriteCompressed() {
  Status st = WriteAll(fd_.get(), out_, tmp_);
  out_.clear();
  return st;
}

Result<std::string> FsBlobWriter::Commit() {
  if (!error_.ok()) return error_;
  if (size_ && written_ != *size_) {
    return Status::InvalidArgument("the blob ended after " + std::to_string(written_) + " of the " +
                                   std::to_string(*size_) + " bytes announced");
  }
  std::string hash = hasher_.HexDigest();
  if (!expected_.empty() && hash != expected_) {
    Discard();
    return Status::InvalidArgument("blob content does not match its hash " + expected_ + " (got " +
                                   hash + "); the upload was corrupted, retry it");
  }
  if (!zstd_) {
    FERRY_RETURN_IF_ERROR(store_->PutHashed(small_, hash).status());
    return hash;
  }
  Status st = zstd_->Finish(&out_);
  if (st.ok()) st = WriteCompressed();
  fd_.Reset();
  if (st.ok()) {
    if (store_->HasLoose(hash)) {
      store_->NoteLoose(hash);  // stored already (maybe by another process, not synced yet)
    } else {
      st = store_->PublishLoose(tmp_, hash);
    }
  }
  Discard();  // no-op after a rename (the name is gone); removes the file otherwise
  if (!st.ok()) return st;
  return hash;
}

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenFsBlobStore(const std::string& root) {
  FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(root, "tmp")));
  FERRY_RETURN_IF_ERROR(MakeDirs(JoinPath(root, "packs")));
  FERRY_ASSIGN_OR_RETURN(Db index, Db::Open(JoinPath(root, "index.db")));
  auto store = std::make_unique<FsBlobStore>(root, std::move(index));
  FERRY_RETURN_IF_ERROR(store->Init().WithContext("opening the blob index in " + root));
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace ferry::store
