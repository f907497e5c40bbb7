// What the agent asks of the workspace server: the run's plan, status reports, log bytes and
// metric points, blobs both ways and artifact registration. One interface so that the agent
// can be tested against a fake server (agent_test.cc); HttpServerApi is the real one.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/status.h"
#include "model/run.h"

namespace ferry::agent {

// The server's answer to shipped log bytes or metric points.
struct ShipAck {
  // Logs: the size of the server's log stream after the post; after a refused post that
  // left a gap (the server's log is shorter than the offset), the server's size, to resend
  // from. Metrics: unused.
  uint64_t size = 0;
  bool cancel_requested = false;  // a user asked to cancel the run
  // Logs: the post was refused because the server's log is shorter than the offset; `size`
  // is the server's, to resend from.
  bool gap = false;
};

// Every call is for the agent's own run (the token authorises only it). Calls wait for a
// server that is down or restarting (retrying with back-off) until their patience runs out,
// and then return Unavailable; Unavailable also means "stopping" (see SetInterruptible) or
// that the workspace is gone. Any other error is the server's refusal of this request, which
// a resend will not change. Not thread-safe: one agent thread calls it.
class ServerApi {
 public:
  virtual ~ServerApi() = default;

  // GET the plan (for `rank`, or the run's without a rank when rank < 0): {"run": {...},
  // "manifest_id", "log_size", "next_metric_seq", "mlflow_token"}. See plan.h.
  virtual Result<nlohmann::json> GetPlan(int rank, std::chrono::seconds patience) = 0;
  // Stores a status transition: {"status", "reason", optional "error", "exit_code",
  // "finalizing_reason", "artifacts"}. Waits as long as it takes (a year).
  virtual Status PostStatus(const nlohmann::json& body) = 0;
  // Log bytes of `rank`'s stream at `offset` (the server's offset: idempotent).
  virtual Result<ShipAck> PostLogs(uint64_t offset, int rank, std::string_view bytes) = 0;
  // Metric points (sequence numbers make a resend idempotent).
  virtual Result<ShipAck> PostMetrics(const std::vector<model::MetricPoint>& points) = 0;
  // Non-numeric metric values (strings, tables...); sequence numbers as for points.
  virtual Result<ShipAck> PostValues(const std::vector<model::RunValue>& values) = 0;
  virtual Status PostTags(const std::map<std::string, std::string>& tags) = 0;
  // One small blob whole (a manifest; the caller verifies its hash) / many small ones:
  // records "<hash> <length>\n<bytes>" (at most 256 MiB in all).
  virtual Result<std::string> GetBlob(const std::string& hash) = 0;
  virtual Result<std::string> FetchBlobs(const std::vector<std::string>& hashes) = 0;
  // One blob of any size, handed to write() piece by piece as it arrives (never held whole).
  // begin() runs before each attempt, the first too: a transfer that broke and is retried
  // starts over, so it must drop what write() was given before. The caller verifies the hash.
  virtual Status StreamBlob(const std::string& hash, const std::function<Status()>& begin,
                            const std::function<Status(std::string_view piece)>& write) = 0;
  // Stores blobs given as records "<hash> <length>\n<bytes>" (the server verifies them).
  virtual Status PutBlobs(std::string_view records) = 0;
  // Stores one blob of any size, its bytes read from the source open() makes (again for each
  // attempt) as they are sent. InvalidArgument when they do not match hash.
  virtual Status PutBlobFrom(const std::string& hash,
                             const std::function<Result<std::unique_ptr<ByteSource>>()>& open) = 0;
  // Registers artifacts: [{"path", "size", "hash"}] whose blobs are stored.
  virtual Status PostArtifacts(const nlohmann::json& files) = 0;
  // The server's URL as this node reaches it ("" when unknown): for the script's MLflow.
  virtual std::string Url() = 0;
  // While true, a call waiting for the server gives up (Unavailable) once the agent has been
  // asked to stop (SIGTERM): while the script runs, the agent must get back to stopping it.
  virtual void SetInterruptible(bool interruptible) = 0;
};

// The server over HTTP, found through `home`/server.json, which is read again after
// connection failures (a restarted server may listen on another port). Transport failures
// and 5xx answers are retried with back-off (common/backoff.h).
std::unique_ptr<ServerApi> NewHttpServerApi(std::string home, std::string run_id,
                                            std::string token);

// JSON for the wire: a script's bytes (its output in an error, a tag) may be anything;
// invalid UTF-8 becomes U+FFFD instead of an exception that would end the agent.
std::string DumpJson(const nlohmann::json& j);

}  // namespace ferry::agent
