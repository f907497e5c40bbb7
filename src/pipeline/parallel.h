// ParallelRunStep (Azure ML SDK v1's batch-scoring step): its ParallelRunConfig, the split of its
// input into mini-batches, and when failed mini-batches stop the step. Pure logic; the server
// keeps the queue (store/pipeline_store.h), python/ferry/_parallel_run.py works it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::pipeline {

struct ParallelConfig {
  std::string entry_script;      // init() and run(mini_batch), in the step's source directory
  std::string mini_batch_size;   // files per batch ("10"), or bytes for tabular data ("1MB")
  int64_t error_threshold = -1;  // failed items (files / rows) tolerated; -1: any number
  std::optional<int64_t> allowed_failed_count;   // failed mini-batches tolerated
  std::optional<double> allowed_failed_percent;  // of all mini-batches
  std::string output_action = "append_row";      // append_row | summary_only
  std::string append_row_file_name = "parallel_run_step.txt";
  int node_count = 1;
  int process_count_per_node = 0;           // 0: one per CPU of the node
  int run_invocation_timeout = 60;          // seconds one run() call may take
  int run_max_try = 3;                      // tries of a mini-batch (failure, timeout, worker lost)
  std::vector<std::string> partition_keys;  // one mini-batch per partition of a tabular dataset
  std::string logging_level = "INFO";
  // Filled by the server when the step's run is made: the input it splits, the output rows go
  // to, the input's kind (file | tabular), format (delimited | parquet | json_lines) and
  // partition_format (tabular datasets partitioned by path).
  std::string input, output, input_kind = "file", input_format = "delimited", partition_format;
};

// The JSON form (what the SDK sends as parallel_run_config, and the run carries). Errors name
// `where` and the key. Unknown keys are refused; Azure-only keys that mean nothing here
// (environment, compute_target, source_directory, description) are accepted and ignored.
Result<ParallelConfig> ParallelConfigFromJson(const nlohmann::json& j, const std::string& where);
nlohmann::json ParallelConfigToJson(const ParallelConfig& c);

// A ParallelRunConfig YAML file (CLI v1's `parallel_run_config: FILE` of a ParallelRunStep) as
// the JSON ParallelConfigFromJson reads; errors name the file and line. (spec_yaml.cc)
Result<nlohmann::json> ParseParallelRunConfigYaml(std::string_view text, const std::string& file);

// "10" files, or "1024", "100KB", "1MB", "1GB" (powers of 1024) bytes; errors name the value.
Result<int64_t> ParseMiniBatchSize(const std::string& text, bool bytes);

struct InputFile {
  std::string path;  // relative to the input's root
  int64_t size = 0;
};

struct MiniBatchItems {
  nlohmann::json items = nlohmann::json::array();  // paths, or {"path","start","end"} ranges
  int64_t item_count = 0;  // files (file datasets) or ranges/files (tabular)
};

// The input split in order (files sorted by path): file datasets mini_batch_size files at a
// time; tabular datasets by size (whole files packed up to the size, a larger file in byte
// ranges of it, which the worker cuts on line boundaries); with partition_keys, one batch per
// partition (its values read from each path with partition_format, e.g. "{year}/{month}/*.csv").
// An input with no file is an error (a step over nothing is a mistake).
Result<std::vector<MiniBatchItems>> SplitIntoMiniBatches(const ParallelConfig& c,
                                                         const std::vector<InputFile>& files);

struct QueueCounts {
  int64_t total = 0, done = 0, failed = 0, failed_items = 0;
};
// Why the failures so far stop the step ("" when they do not): more failed items than
// error_threshold, more failed mini-batches than allowed_failed_count or
// allowed_failed_percent.
std::string AbortReason(const ParallelConfig& c, const QueueCounts& q);

}  // namespace ferry::pipeline
