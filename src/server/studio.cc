// Studio's static files and event streams.
#include "server/studio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/utf8.h"
#include "model/run.h"
#include "scheduler/scheduler.h"
#include "server/api.h"
#include "server/api_json.h"
#include "server/log_store.h"
#include "store/metadata_store.h"

namespace ferry::server {
namespace {

using nlohmann::json;

std::string ContentTypeFor(const std::string& path) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json"},
      {".woff2", "font/woff2"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"}};
  auto dot = path.rfind('.');
  if (dot != std::string::npos && path.find('/', dot) == std::string::npos) {
    auto it = kTypes.find(path.substr(dot));
    if (it != kTypes.end()) return it->second;
  }
  return "application/octet-stream";
}

void AddPageHeaders(net::HttpResponse* r) {
  // The UI keeps its token in the page: no framing, no referrer, no foreign scripts.
  r->headers.push_back(
      {"Content-Security-Policy",
       "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"});
  r->headers.push_back({"X-Content-Type-Options", "nosniff"});
  r->headers.push_back({"X-Frame-Options", "DENY"});
  r->headers.push_back({"Referrer-Policy", "no-referrer"});
}

std::string SseEvent(const char* name, const json& data) {
  return std::string("event: ") + name +
         "\ndata: " + data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

// The length of the longest prefix of s that does not end inside a UTF-8 sequence.
size_t CompleteUtf8Prefix(const std::string& s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

// The regular file dir/rel, opened without following a symbolic link anywhere in rel: each
// directory is opened with O_NOFOLLOW relative to the one before (a symlinked directory in
// the web directory must not lead outside it). Invalid when any part is not a plain
// directory or the last is not a regular file.
UniqueFd OpenRegular(const std::string& dir, const std::string& rel) {
  UniqueFd at(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  size_t start = 0;
  while (at.valid()) {
    size_t slash = rel.find('/', start);
    const std::string part =
        rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return UniqueFd();
    if (slash == std::string::npos) {
      UniqueFd fd(::openat(at.get(), part.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
      struct stat st {};
      if (fd.valid() && (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))) return UniqueFd();
      return fd;
    }
    at.Reset(::openat(at.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    start = slash + 1;
  }
  return UniqueFd();
}

// What one run stream has sent so far.
struct RunStreamState {
  std::string run_text;  // the last `run` event's data
  struct Series {
    int64_t count = 0;    // points the client holds (as the store counts them)
    int64_t max_seq = 0;  // the highest sequence number sent
  };
  std::map<std::string, Series> series;
  std::map<int, uint64_t> log_offsets;  // per rank: the next byte to send
};

constexpr uint64_t kLogTail = 1 << 20;     // a new viewer gets the last 1 MiB of each log
constexpr uint64_t kLogChunk = 512 << 10;  // per rank per poll
constexpr size_t kMaxRanks = 1024;

}  // namespace

std::string StudioFiles::FindDir() {
  if (const char* p = std::getenv("FERRY_WEB_DIR"); p && *p)
    return PathExists(std::string(p) + "/index.html") ? p : "";
  std::string exe = ExecutableDir();
  for (const char* rel : {"/../share/ferry/web", "/../web"}) {
    std::string cand = AbsolutePath(exe + rel);
    if (PathExists(cand + "/index.html")) return cand;
  }
  return "";
}

namespace {

// "" and the pages of Studio's router (web/src/lib/router.ts): runs[/<id>], compare,
// sweeps/<id>, compute[s][/<name>], experiments[/<name>]. The app routes in the URL's
// fragment ("/#/runs/<id>"); these paths without the "#" open it too.
bool IsStudioPage(std::string_view rel) {
  std::string_view seg[3];
  size_t n = 0;
  for (size_t start = 0; start < rel.size();) {
    size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    if (end > start) {
      if (n == 3) return false;
      seg[n++] = rel.substr(start, end - start);
    }
    start = end + 1;
  }
  if (n == 0) return true;
  const std::string_view page = seg[0];
  // A dataset's or a model's version: /datasets/NAME/VERSION, /models/NAME/VERSION.
  if (n == 3) return page == "datasets" || page == "models";
  if (page == "compare") return n == 1;
  if (page == "sweeps") return n == 2;
  return page == "runs" || page == "compute" || page == "computes" || page == "experiments" ||
         page == "datastores" || page == "datasets" || page == "models";
}

// A path that is neither Studio's page nor one of its files: plain text, or JSON for a
// client that asks for it (Accept: application/json), never the page with 200.
net::HttpResponse NotFound(const net::HttpRequest& req, const std::string& rel) {
  net::HttpResponse r;
  AddPageHeaders(&r);
  r.status = 404;
  std::string shown = EscapeBytes("/" + rel);
  if (req.Header("accept").find("application/json") != std::string::npos) {
    r.content_type = "application/json";
    r.body = nlohmann::json{{"error",
                             {{"code", "NotFound"},
                              {"message", "no such page or file: " + shown +
                                              "; Ferry's API is under /api/v1, Studio at /"}}}}
                 .dump();
  } else {
    r.content_type = "text/plain; charset=utf-8";
    r.body = "no such page or file: " + shown + "\n";
  }
  return r;
}

}  // namespace

net::HttpResponse StudioFiles::Serve(const net::HttpRequest& req) const {
  net::HttpResponse r;
  AddPageHeaders(&r);
  if (req.method != "GET" && req.method != "HEAD") {
    r.status = 405;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "only GET and HEAD are served outside /api\n";
    return r;
  }
  if (dir_.empty()) {
    r.status = 404;
    r.content_type = "text/html; charset=utf-8";
    r.body =
        "<!doctype html><title>Ferry</title><h1>Ferry Studio is not installed here</h1>"
        "<p>Build it with <code>make</code> (needs Node.js 18+ and npm), or set "
        "<code>FERRY_WEB_DIR</code> to a "
        "built <code>web/</code> directory, then restart the server. The REST API is at "
        "<code>/api/v1</code>.</p>\n";
    return r;
  }
  std::string rel = req.path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  bool bad = rel.find('\0') != std::string::npos || rel.find('\\') != std::string::npos;
  for (size_t start = 0; !bad && start <= rel.size();) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    std::string part = rel.substr(start, end - start);
    if (part == ".." || part == "." || (part.empty() && end != rel.size())) bad = true;
    start = end + 1;
  }
  if (bad) {
    r.status = 400;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "bad path\n";
    return r;
  }
  // Studio's pages get the app; anything else is one of its files or a 404.
  std::string file = IsStudioPage(rel) ? "index.html" : rel;
  // No symbolic link is followed, in any part of the path, and only regular files are
  // served: nothing outside the directory. A pre-compressed copy (scripts/build_web.sh) goes
  // to browsers that take gzip.
  std::string full = dir_ + "/" + file;
  bool gzipped = req.Header("accept-encoding").find("gzip") != std::string::npos;
  UniqueFd fd;
  if (gzipped) fd = OpenRegular(dir_, file + ".gz");
  if (!fd.valid()) {
    gzipped = false;
    fd = OpenRegular(dir_, file);
  }
  if (!fd.valid()) return NotFound(req, rel);
  auto content = ReadAll(fd.get(), full);
  if (!content.ok()) {
    r.status = 500;
    r.content_type = "text/plain; charset=utf-8";
    r.body = content.status().message() + "\n";
    return r;
  }
  r.content_type = ContentTypeFor(file);
  // Vite names assets by content hash: cache them for good; the page itself never.
  r.headers.push_back({"Cache-Control", rel.rfind("assets/", 0) == 0
                                            ? "public, max-age=31536000, immutable"
                                            : "no-cache"});
  r.headers.push_back({"Vary", "Accept-Encoding"});
  if (gzipped) r.headers.push_back({"Content-Encoding", "gzip"});
  if (req.method == "GET") r.body = std::move(content).value();
  return r;
}

net::EventStream WorkspaceEventStream(const ApiDeps& d) {
  net::EventStream es;
  es.channels = {kRunsChannel};
  es.min_interval = std::chrono::milliseconds(500);
  // Targets change state without a run changing (a host drops, a tunnel comes up): their
  // states are compared on every poll, which runs at least every 5 s.
  es.keepalive = std::chrono::milliseconds(5000);
  const ApiDeps* deps = &d;
  struct Seen {
    std::optional<uint64_t> changes;
    std::string targets;
  };
  auto seen = std::make_shared<Seen>();
  es.poll = [deps, seen](bool*) {
    uint64_t now = deps->run_changes ? deps->run_changes->load() : 0;
    std::string targets;
    if (auto list = deps->store->ListTargets(); list.ok()) {
      for (const auto& t : *list) {
        auto target = deps->scheduler->GetTarget(t.name);
        targets += t.name + "\x1f" + (target ? target->NotReady() : "(unavailable)") + "\x1e";
      }
    }
    if (!seen->changes.has_value()) {
      seen->changes = now;
      seen->targets = std::move(targets);
      return SseEvent("ready", {{"time", deps->clock->Now()}});
    }
    if (*seen->changes == now && seen->targets == targets) return std::string();
    bool computes = seen->targets != targets;
    seen->changes = now;
    seen->targets = std::move(targets);
    return SseEvent("changed", {{"time", deps->clock->Now()}, {"computes", computes}});
  };
  return es;
}

net::EventStream RunEventStream(const ApiDeps& deps, const std::string& run_id,
                                int64_t max_points) {
  net::EventStream es;
  es.channels = {RunChannel(run_id)};
  auto state = std::make_shared<RunStreamState>();
  const ApiDeps* d = &deps;
  es.poll = [d, state, run_id, max_points](bool* done) -> std::string {
    std::string out;
    auto run = d->store->GetRun(run_id);
    if (!run.ok()) {
      *done = true;
      return SseEvent("error", {{"message", run.status().message()}});
    }
    const bool terminal = model::IsTerminal(run->status);
    // The run, as GET /runs/{id} shows it, with its status history.
    json detail = RunDetailJson(*d, *run);
    auto history = d->store->History(run_id);
    detail["history"] = history.ok() ? HistoryJson(*history) : json::array();
    std::string text = detail.dump(-1, ' ', false, json::error_handler_t::replace);
    if (text != state->run_text) {
      out += "event: run\ndata: " + text + "\n\n";
      state->run_text = std::move(text);
    }
    // Whether this poll sent any data (then it is not the end yet: the client polls again).
    bool sent_data = false;
    // Metric series: the whole (downsampled) series first, then only new points. When the
    // new points cannot be read past the cursor (another rank's lower sequence numbers) or
    // are too many, the series is sent whole again.
    bool metrics_current = true;
    auto sums = d->store->MetricSummaries(run_id);
    if (sums.ok()) {
      for (const auto& s : *sums) {
        auto it = state->series.find(s.key);
        if (it != state->series.end() && it->second.count == s.count) continue;
        if (it != state->series.end() && s.count > it->second.count &&
            s.count - it->second.count <= max_points) {
          int64_t want = s.count - it->second.count;
          auto pts = d->store->GetMetricsAfter(run_id, s.key, it->second.max_seq, max_points);
          if (pts.ok() && static_cast<int64_t>(pts->size()) >= want) {
            json arr = json::array();
            for (auto& p : *pts) arr.push_back(MetricPointJson(p));
            it->second.count += static_cast<int64_t>(pts->size());
            if (!pts->empty()) it->second.max_seq = pts->back().seq;
            out += SseEvent("points", {{"key", s.key}, {"points", std::move(arr)}});
            sent_data = true;
            continue;
          }
        }
        int64_t total = 0, max_seq = 0;
        auto pts = d->store->GetMetricSeries(run_id, s.key, max_points, &total, &max_seq);
        if (!pts.ok()) {
          metrics_current = false;
          continue;
        }
        json arr = json::array();
        for (auto& p : *pts) arr.push_back(MetricPointJson(p));
        state->series[s.key] = {total, max_seq};
        out += SseEvent("series", {{"key", s.key},
                                   {"points", std::move(arr)},
                                   {"total", total},
                                   {"downsampled", total > static_cast<int64_t>(pts->size())}});
        sent_data = true;
      }
    }
    // Logs: each rank's stream (rank 0 is the run's log), from the last 1 MiB on.
    bool logs_current = true;
    // Every rank that has written (a rank's stream appears with its first bytes).
    std::vector<int> ranks = d->logs->Ranks(run_id);
    if (ranks.size() > kMaxRanks) ranks.resize(kMaxRanks);
    for (int rank : ranks) {
      std::string key = rank == 0 ? run_id : run_id + "/rank" + std::to_string(rank);
      auto size = d->logs->Size(key);
      if (!size.ok()) continue;
      auto off_it = state->log_offsets.find(rank);
      uint64_t offset = 0, truncated_before = 0;
      if (off_it == state->log_offsets.end()) {
        if (*size == 0) continue;  // nothing yet: no event for this rank
        offset = *size > kLogTail ? *size - kLogTail : 0;
        truncated_before = offset;
      } else {
        offset = off_it->second;
      }
      if (offset >= *size) continue;
      auto data = d->logs->Read(key, offset, kLogChunk);
      if (!data.ok() || data->empty()) continue;
      std::string text = std::move(data).value();
      uint64_t start = offset;
      if (truncated_before > 0) {
        // Start at a line: skip the partial first line of the tail.
        size_t nl = text.find('\n');
        if (nl != std::string::npos && nl + 1 < text.size()) {
          text.erase(0, nl + 1);
          start += nl + 1;
          truncated_before = start;
        }
      }
      size_t keep = text.size();
      if (!terminal || start + text.size() < *size) keep = CompleteUtf8Prefix(text);
      if (keep == 0) continue;
      text.resize(keep);
      uint64_t next = start + keep;
      state->log_offsets[rank] = next;
      if (next < *size) logs_current = false;
      json ev = {
          {"rank", rank}, {"offset", start}, {"next_offset", next}, {"text", std::move(text)}};
      if (truncated_before > 0) ev["truncated_before"] = truncated_before;
      out += SseEvent("log", ev);
      sent_data = true;
    }
    if (terminal && logs_current && metrics_current && !sent_data) {
      out += SseEvent("end", {{"status", model::RunStatusName(run->status)}});
      *done = true;
    }
    return out;
  };
  return es;
}

std::string ArtifactLinkQuery(const std::string& secret, const std::string& run_id,
                              const std::string& path, int64_t now) {
  std::string expires = std::to_string(now + kArtifactLinkSeconds);
  std::string sig =
      HmacSha256Hex(secret, "artifact-link\n" + run_id + "\n" + path + "\n" + expires);
  return "path=" + net::UrlEncode(path) + "&expires=" + expires + "&sig=" + sig;
}

bool ArtifactLinkValid(const std::string& secret, const std::string& run_id,
                       const std::string& path, const std::string& expires, const std::string& sig,
                       int64_t now) {
  if (expires.empty() || expires.size() > 12 ||
      expires.find_first_not_of("0123456789") != std::string::npos)
    return false;
  if (std::stoll(expires) < now) return false;
  return ConstantTimeEquals(
      sig, HmacSha256Hex(secret, "artifact-link\n" + run_id + "\n" + path + "\n" + expires));
}

}  // namespace ferry::server
