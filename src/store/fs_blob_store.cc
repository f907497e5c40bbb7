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

#include <atomic>
#include <bitset>
#include <cerrno>
#include <unordered_map>

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
    FERRY_RETURN_IF_ERROR(
        index_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"
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
    if (content.size() > kPackThreshold ? HasLoose(hash) : HasPacked(hash)) return false;
    std::string compressed = ZstdCompress(content, 1);
    if (content.size() > kPackThreshold) {
      FERRY_RETURN_IF_ERROR(PutLoose(hash, compressed));
      return true;
    }
    MutexLock lock(&mu_);
    if (pending_.count(hash)) return false;
    if (!pack_fd_.valid() || pack_size_ + write_buffer_.size() >= kPackRollBytes) {
      FERRY_RETURN_IF_ERROR(NewPackLocked());
    }
    // Appends are buffered (one write per few MiB, not one per blob); nothing is indexed
    // before Sync() has written and flushed them.
    uint64_t offset = pack_size_ + write_buffer_.size();
    write_buffer_.append(compressed);
    pending_[hash] = Loc{pack_name_, offset, compressed.size()};
    if (write_buffer_.size() >= kWriteBufferBytes) FERRY_RETURN_IF_ERROR(FlushLocked());
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

  Status Sync() override {
    MutexLock lock(&mu_);
    if (pack_fd_.valid()) FERRY_RETURN_IF_ERROR(FlushLocked());
    if (pack_fd_.valid() && ::fdatasync(pack_fd_.get()) != 0)
      return ErrnoStatus("cannot sync", PackPath(pack_name_), errno);
    if (loose_dirty_) {
      UniqueFd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd.valid() || ::syncfs(fd.get()) != 0) return ErrnoStatus("cannot sync", root_, errno);
      loose_dirty_ = false;
    }
    if (pending_.empty()) return Status::Ok();
    // Only now, with the data durable, do other processes learn where it is.
    FERRY_RETURN_IF_ERROR(index_.Exec("BEGIN IMMEDIATE"));
    for (const auto& [hash, loc] : pending_) {
      Status st = insert_->Bind(1, hash)
                      .Bind(2, loc.pack)
                      .Bind(3, static_cast<int64_t>(loc.offset))
                      .Bind(4, static_cast<int64_t>(loc.length))
                      .Run();
      if (!st.ok()) {
        (void)index_.Exec("ROLLBACK");
        return st;
      }
    }
    Status st = index_.Exec("COMMIT");
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
    auto it = pending_.find(hash);
    if (it == pending_.end()) return FindLocked(hash);
    if (!write_buffer_.empty()) FERRY_RETURN_IF_ERROR(FlushLocked());
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

  // Writes the buffered appends to the current pack. On failure the pack is cut back to
  // its last good size and the buffered blobs are forgotten (their Put reported success,
  // but they were never indexed, so a later upload simply stores them again).
  Status FlushLocked() REQUIRES(mu_) {
    std::string_view data(write_buffer_);
    uint64_t pos = pack_size_;
    while (!data.empty()) {
      ssize_t n = ::pwrite(pack_fd_.get(), data.data(), data.size(), static_cast<off_t>(pos));
      if (n < 0) {
        if (errno == EINTR) continue;
        Status st = ErrnoStatus("cannot write", PackPath(pack_name_), errno);
        (void)!::ftruncate(pack_fd_.get(), static_cast<off_t>(pack_size_));
        for (auto it = pending_.begin(); it != pending_.end();) {
          it = it->second.pack == pack_name_ && it->second.offset >= pack_size_ ? pending_.erase(it)
                                                                                : std::next(it);
        }
        write_buffer_.clear();
        return st;
      }
      pos += static_cast<uint64_t>(n);
      data.remove_prefix(static_cast<size_t>(n));
    }
    pack_size_ = pos;
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

  Status PutLoose(const std::string& hash, const std::string& compressed) {
    std::string tmp = TempPath(hash);
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoStatus("cannot create", tmp, errno);
    Status st = WriteAll(fd.get(), compressed, tmp);
    fd.Reset();
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
        if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
          return ErrnoStatus("cannot create", dir, errno);
        made_dirs_.set(static_cast<size_t>(dir_index));
      }
    }
    if (::rename(tmp.c_str(), LoosePath(hash).c_str()) != 0)
      return ErrnoStatus("cannot rename", tmp, errno);
    MutexLock lock(&mu_);
    loose_dirty_ = true;
    return Status::Ok();
  }

  std::string root_;
  std::atomic<uint64_t> counter_{0};
  Mutex mu_;
  Db index_ GUARDED_BY(mu_);
  std::optional<Stmt> find_ GUARDED_BY(mu_), insert_ GUARDED_BY(mu_), delete_ GUARDED_BY(mu_);
  UniqueFd pack_fd_ GUARDED_BY(mu_);
  std::string pack_name_ GUARDED_BY(mu_);
  uint64_t pack_size_ GUARDED_BY(mu_) = 0;    // bytes written to the current pack
  std::string write_buffer_ GUARDED_BY(mu_);  // appends not yet written (they follow pack_size_)
  // Written, not yet synced and indexed.
  std::unordered_map<std::string, Loc> pending_ GUARDED_BY(mu_);
  bool loose_dirty_ GUARDED_BY(mu_) = false;
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
  if (st.ok() && !store_->HasLoose(hash)) st = store_->PublishLoose(tmp_, hash);
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
