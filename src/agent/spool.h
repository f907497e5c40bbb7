// The spool: the script's output (the capture file, log bytes) and metrics (a JSON-lines
// file) on disk in the agent directory, shipped to the server by byte offset and line
// sequence number until acknowledged. The server's writes are idempotent, so a resend after a
// lost acknowledgement or a server restart neither loses nor doubles anything.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/server_api.h"
#include "common/status.h"
#include "model/run.h"

namespace ferry::agent {

// Adds a line from the agent to the run's log (what was skipped or refused, and why).
using NoteFn = std::function<void(const std::string&)>;

// One of the agent's own files (its directory is writable by the script, which knows where
// FERRY_METRICS_FILE is): read only when it is still a regular file, never through a symlink
// the script put in its place (FailedPrecondition then).
Result<std::string> ReadAgentFile(const std::string& path);

// Ships one rank's spool. Not thread-safe: the agent's thread only.
class Spool {
 public:
  struct Options {
    std::string capture_path;  // log bytes, as the script wrote them
    std::string metrics_path;  // one JSON object per line (the in-script library's format)
    std::string base_path;     // spool.base: where this attempt's numbering starts
    int rank = 0;
  };
  // `server` outlives the spool; `note` adds a line from the agent to the run's log.
  Spool(const Options& options, ServerApi* server, NoteFn note);

  // Where the server's log and metric numbering of this attempt start (from the plan).
  void SetBases(uint64_t log_base, int64_t seq_base) {
    log_base_ = log_base;
    seq_base_ = seq_base;
  }

  // An earlier attempt of this run that used the same home (a cluster's shared directory, or
  // this machine) may have died with log bytes and metric lines written but not shipped.
  // Ships them before this attempt's spool replaces them; moves the bases past them.
  void Recover();
  // Records this attempt's bases for a later Recover (durable before the script writes).
  void RecordBases();

  // Ships what is new; heartbeat=true sends an empty log post so cancel requests are seen.
  void ShipOnce(bool heartbeat);
  // Everything written so far, acknowledged, retrying until the server takes it. The script
  // has exited, so a last metrics line without its newline is complete too.
  void Drain();

  // Whether an acknowledgement said that a user asked to cancel the run.
  bool cancel_requested() const { return cancel_requested_; }
  // The server said so another way (the plan read again).
  void MarkCancelRequested() { cancel_requested_ = true; }

 private:
  bool ShipLogs(bool heartbeat);  // true when more log data is waiting
  bool ShipMetrics();             // true when more metric points remain
  void ReadNewMetricLines();
  void ParseMetricLine(std::string_view line);

  Options o_;
  ServerApi* server_;
  NoteFn note_;
  bool cancel_requested_ = false;
  bool final_drain_ = false;
  uint64_t log_acked_ = 0;
  uint64_t log_base_ = 0;
  int64_t seq_base_ = 0;
  uint64_t metrics_offset_ = 0;
  std::string partial_;
  int64_t next_seq_ = 0;
  std::map<std::string, int64_t> step_counters_;
  std::vector<model::MetricPoint> pending_;
  std::vector<model::RunValue> pending_values_;  // non-numeric metric values
  std::map<std::string, std::string> pending_tags_;
};

// Seconds since the Unix epoch (metric times).
double WallClockNow();

}  // namespace ferry::agent
