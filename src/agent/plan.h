// The run's plan: what the server tells the agent to run (GET /runs/<id>/plan), checked once
// so that the rest of the agent reads typed fields, and a malformed plan is a clear error
// instead of an exception.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace ferry::agent {

struct Plan {
  nlohmann::json run;       // the run as the API shows it (model::RunOptionsFromJson reads it)
  std::string manifest_id;  // the snapshot's manifest blob
  std::string status;       // the run's status when the plan was read ("Queued": started again)
  std::string experiment;
  std::string script;
  std::vector<std::string> arguments;
  std::string python = "python3";
  std::vector<int> gpu_ids;  // the devices the scheduler gave the run
  int attempt = 1;
  bool cancel_requested = false;
  // Where this rank's log and metrics continue (a requeued run continues after the earlier
  // attempt's): the server's log size and next metric sequence number of the rank. Each rank
  // has its own range of sequence numbers, [rank << 40, (rank + 1) << 40).
  uint64_t log_size = 0;
  int64_t next_metric_seq = 0;
  std::string mlflow_token;  // MLFLOW_TRACKING_TOKEN for the script ("" when none)
  // Inputs in S3 datastores: {input name: [{path, url, size, etag}]} (presigned for an hour).
  nlohmann::json input_urls = nlohmann::json::object();
};

// Checks the plan's shape (InvalidArgument naming the field otherwise) and reads it for
// `rank`. Fields the agent can do without take their defaults when absent.
Result<Plan> ParsePlan(const nlohmann::json& plan, int rank);

}  // namespace ferry::agent
