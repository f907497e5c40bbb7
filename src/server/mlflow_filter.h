// MLflow's search syntax for runs: filter strings ("metrics.acc > 0.9 and params.lr = '0.1'")
// and order-by clauses ("metrics.acc DESC"), parsed once and applied to runs in memory.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace ferry::server::mlflow {

// What a filter or an ordering reads of a run.
struct RunView {
  std::map<std::string, double> metrics;  // latest value per key
  std::map<std::string, std::string> params, tags;
  std::map<std::string, std::string>
      attributes;  // status, run_id, run_name, user_id, artifact_uri, lifecycle_stage
  std::map<std::string, double> times;  // start_time, end_time, created (ms)
};

struct Comparison {
  std::string kind;  // "metrics", "params", "tags", "attributes"
  std::string key;
  std::string op;                   // =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN
  std::vector<std::string> values;  // one, or the IN list
  double number = 0;                // the value as a number, for metrics and time attributes
};

// AND of comparisons; the empty filter matches every run.
struct Filter {
  std::vector<Comparison> all;
  bool Matches(const RunView& run) const;
};

// Errors name the clause and what is wrong with it (MLflow: INVALID_PARAMETER_VALUE).
Result<Filter> ParseFilter(const std::string& text);

struct OrderBy {
  std::string kind, key;
  bool ascending = true;
};
Result<std::vector<OrderBy>> ParseOrderBy(const std::vector<std::string>& clauses);
// True when a sorts before b; runs without the key sort last; ties keep the default order
// (start time, newest first, then run id).
bool Before(const std::vector<OrderBy>& order, const RunView& a, const RunView& b);

// SQL LIKE: % any run, _ any one character; ILIKE ignores ASCII case.
bool Like(const std::string& text, const std::string& pattern, bool ignore_case);

}  // namespace ferry::server::mlflow
