// The agent's spool and its shipping (see spool.h).
#include "agent/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/fs.h"

namespace ferry::agent {

using nlohmann::json;

double WallClockNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Result<std::string> ReadAgentFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid() && errno == ELOOP) {
    return Status::FailedPrecondition(path + " is a symbolic link; not followed");
  }
  if (!fd.valid()) return ErrnoStatus("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Status::FailedPrecondition(path + " is not a regular file");
  return ReadAll(fd.get(), path, static_cast<size_t>(st.st_size));
}

Spool::Spool(const Options& options, ServerApi* server, NoteFn note)
    : o_(options), server_(server), note_(std::move(note)) {}

void Spool::Recover() {
  // spool.base: "log <bytes>\nmetrics <seq>\n", written whole (fsynced, renamed) right after
  // that attempt started its spool files afresh; anything else is not trusted. The server
  // takes log bytes by offset and metric points by sequence number, so nothing is doubled.
  auto text = ReadFile(o_.base_path);
  if (!text.ok()) return;
  unsigned long long prev_log = 0;
  long long prev_seq = 0;
  char end = 0;
  if (std::sscanf(text->c_str(), "log %llu\nmetrics %lld%c", &prev_log, &prev_seq, &end) != 3 ||
      end != '\n') {
    return;
  }
  if (PathExists(o_.capture_path) && log_base_ >= prev_log) {
    auto tail = ReadAgentFile(o_.capture_path);
    if (tail.ok() && tail->size() > log_base_ - prev_log) {
      std::string rest = tail->substr(log_base_ - prev_log);
      auto r = server_->PostLogs(log_base_, o_.rank, rest);
      if (r.ok() && !r->gap) log_base_ = r->size;
    }
  }
  if (PathExists(o_.metrics_path)) {
    int64_t prev = prev_seq;
    const int64_t next_base = seq_base_;
    seq_base_ = prev;
    final_drain_ = true;
    while (ShipMetrics()) {
    }
    seq_base_ = std::max(next_base, prev + next_seq_);
    final_drain_ = false;
    next_seq_ = 0;
    metrics_offset_ = 0;
    partial_.clear();
  }
}

void Spool::RecordBases() {
  (void)WriteFileAtomic(o_.base_path, "log " + std::to_string(log_base_) + "\nmetrics " +
                                          std::to_string(seq_base_) + "\n");
}

void Spool::ShipOnce(bool heartbeat) {
  ShipLogs(heartbeat);
  ShipMetrics();
}

void Spool::Drain() {
  final_drain_ = true;
  for (;;) {
    bool more_logs = ShipLogs(false);
    bool more_metrics = ShipMetrics();
    if (!more_logs && !more_metrics) return;
  }
}

bool Spool::ShipLogs(bool heartbeat) {
  // Never through a symlink the script put in the capture file's place.
  UniqueFd fd(::open(o_.capture_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size <= log_acked_ && !heartbeat) return false;
  std::string chunk;
  if (size > log_acked_) {
    uint64_t n = std::min<uint64_t>(size - log_acked_, 1 << 20);
    chunk.resize(n);
    ssize_t got = ::pread(fd.get(), chunk.data(), n, static_cast<off_t>(log_acked_));
    if (got <= 0) return false;
    chunk.resize(static_cast<size_t>(got));
  }
  // The server's log offset is this attempt's file offset plus what earlier attempts of the
  // run (before a requeue) left in it. After a gap the answer carries the server's size.
  auto r = server_->PostLogs(log_base_ + log_acked_, o_.rank, chunk);
  if (!r.ok()) return false;
  log_acked_ = r->size >= log_base_ ? r->size - log_base_ : 0;
  if (r->cancel_requested) cancel_requested_ = true;
  return size > log_acked_;
}

// Parses new complete lines of the metrics file into pending points and sends them.
bool Spool::ShipMetrics() {
  ReadNewMetricLines();
  if (!pending_tags_.empty()) {
    Status st = server_->PostTags(pending_tags_);
    if (st.ok() || st.code() != StatusCode::kUnavailable) pending_tags_.clear();
  }
  if (!pending_values_.empty()) {
    const size_t kValueBatch = 200;  // values are up to 1 MiB of JSON each
    size_t n = std::min(kValueBatch, pending_values_.size());
    std::vector<model::RunValue> batch(pending_values_.begin(),
                                       pending_values_.begin() + static_cast<long>(n));
    auto r = server_->PostValues(batch);
    if (!r.ok() && r.status().code() == StatusCode::kUnavailable) return false;
    if (!r.ok()) {
      note_("the server refused " + std::to_string(n) + " metric values: " + r.status().message());
    } else if (r->cancel_requested) {
      cancel_requested_ = true;
    }
    pending_values_.erase(pending_values_.begin(), pending_values_.begin() + static_cast<long>(n));
    if (!pending_values_.empty()) return true;
  }
  if (pending_.empty()) return false;
  const size_t kBatch = 20000;
  size_t n = std::min(kBatch, pending_.size());
  std::vector<model::MetricPoint> batch(pending_.begin(), pending_.begin() + static_cast<long>(n));
  auto r = server_->PostMetrics(batch);
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kUnavailable) return false;  // stopping; still spooled
    // A refusal (bad batch, run gone) will not change on a resend: drop it, say so.
    note_("the server refused " + std::to_string(n) + " metric points: " + r.status().message());
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
    return !pending_.empty();
  }
  if (r->cancel_requested) cancel_requested_ = true;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
  return !pending_.empty();
}

void Spool::ReadNewMetricLines() {
  // Only the regular file: not through a symlink (nor a pipe) the script put in its place.
  UniqueFd fd(::open(o_.metrics_path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  char buf[1 << 16];
  for (;;) {
    ssize_t n =
        ::pread(fd.get(), buf, sizeof buf, static_cast<off_t>(metrics_offset_ + partial_.size()));
    if (n <= 0) break;
    partial_.append(buf, static_cast<size_t>(n));
    if (partial_.size() > (64u << 20)) break;  // bound memory per pass
  }
  size_t start = 0;
  for (;;) {
    size_t nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    ParseMetricLine(std::string_view(partial_).substr(start, nl - start));
    start = nl + 1;
  }
  if (final_drain_ && start < partial_.size()) {
    ParseMetricLine(std::string_view(partial_).substr(start));
    start = partial_.size();
  }
  metrics_offset_ += start;
  partial_.erase(0, start);
}

void Spool::ParseMetricLine(std::string_view line) {
  int64_t seq = seq_base_ + next_seq_++;
  if (line.empty()) return;
  json j = json::parse(line, nullptr, false);
  if (!j.is_object()) {
    note_("ignoring malformed metrics line " + std::to_string(next_seq_) + ": " +
          std::string(line.substr(0, 200)));
    return;
  }
  if (auto t = j.find("tags"); t != j.end() && t->is_object()) {
    for (auto& [k, v] : t->items())
      pending_tags_[k] = v.is_string() ? v.get<std::string>() : v.dump();
    return;
  }
  model::MetricPoint p;
  p.seq = seq;
  auto k = j.find("k");
  auto v = j.find("v");
  if (auto x = j.find("x"); k != j.end() && k->is_string() && x != j.end()) {
    // A non-numeric value: {"k":key,"x":value,"y":type,"s":step,"t":time}.
    model::RunValue rv;
    rv.seq = seq;
    rv.key = k->get<std::string>();
    auto y = j.find("y");
    rv.type = y != j.end() && y->is_string() ? y->get<std::string>() : "string";
    rv.value = x->dump(-1, ' ', false, json::error_handler_t::replace);
    auto s = j.find("s");
    rv.step = s != j.end() && s->is_number_integer() ? s->get<int64_t>() : 0;
    auto t = j.find("t");
    rv.time = t != j.end() && t->is_number() ? t->get<double>() : WallClockNow();
    pending_values_.push_back(std::move(rv));
    return;
  }
  if (k == j.end() || !k->is_string() || v == j.end()) {
    note_("ignoring metrics line " + std::to_string(next_seq_) + " without \"k\" and \"v\"");
    return;
  }
  p.key = k->get<std::string>();
  if (v->is_number()) {
    p.value = v->get<double>();
  } else if (v->is_string() && (*v == "nan" || *v == "inf" || *v == "-inf")) {
    std::string s = v->get<std::string>();
    p.value = s == "nan" ? std::nan("") : s == "inf" ? INFINITY : -INFINITY;
  } else {
    note_("ignoring metric '" + p.key + "' with non-numeric value " + v->dump());
    return;
  }
  auto s = j.find("s");
  int64_t& counter = step_counters_[p.key];
  if (s != j.end() && s->is_number_integer()) {
    p.step = s->get<int64_t>();
    counter = std::max(counter, p.step + 1);
  } else {
    p.step = counter++;
  }
  auto t = j.find("t");
  p.time = t != j.end() && t->is_number() ? t->get<double>() : WallClockNow();
  pending_.push_back(std::move(p));
}

}  // namespace ferry::agent
