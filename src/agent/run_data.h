// A run's data on its node (docs/data.md): each dataset input made available as the run
// asked (mount: the node's read-only copy, shared by runs and made once; download: a private
// copy), each output an empty directory whose files the server keeps when the run completes,
// and the paths handed to the script (arguments, FERRY_INPUT_<name>, FERRY_OUTPUT_<name>).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/snapshot.h"
#include "common/status.h"
#include "model/run_options.h"

namespace ferry::agent {

struct RunData {
  std::map<std::string, std::string> paths;  // input or output name -> path the script sees
  std::map<std::string, std::string> env;    // FERRY_INPUT_x, FERRY_OUTPUT_x, FERRY_INPUTS...
  // Host directories a container must see at the same path: read-only, and writable.
  std::vector<std::string> ro_mounts, rw_mounts;
  std::vector<std::string> notes;  // for logs/ferry-agent.txt
};

struct RunDataDirs {
  std::string home;        // this node's Ferry home (<home>/datacache: the node's copies)
  std::string agent_dir;   // the run's agent directory (private copies)
  std::string work;        // the working copy on this node
  std::string work_shown;  // the working copy as the script sees it (a container's path)
};

// Errors name the input and the file (a file of an external datastore that changed since the
// version was made, a datastore directory missing on this node).
// input_urls: the plan's presigned URLs of inputs in S3 datastores.
Result<RunData> PrepareRunData(const model::RunOptions& options, Snapshot& snapshot,
                               const RunDataDirs& dirs, const nlohmann::json& input_urls);

// The script's arguments with "DatasetConsumptionConfig:<name>",
// "ModelConsumptionConfig:<name>" and "OutputFileDatasetConfig:<name>" replaced by those paths.
std::vector<std::string> SubstituteDataArguments(const std::vector<std::string>& args,
                                                 const RunData& data);

}  // namespace ferry::agent
