// ParallelRunStep's configuration, mini-batch split and stop rule (parallel.h).
#include "pipeline/parallel.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

namespace ferry::pipeline {

using nlohmann::json;

namespace {

Status Bad(const std::string& where, const std::string& key, const std::string& what) {
  return Status::InvalidArgument(where + "key 'parallel_run_config." + key + "': " + what);
}

// A whole number, from a JSON number or a string of digits (Azure's SDK takes both).
Result<int64_t> WholeNumber(const json& v, const std::string& where, const std::string& key) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
    return static_cast<int64_t>(v.get<double>());
  }
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    char* end = nullptr;
    const long long n = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end == s.c_str() + s.size()) return static_cast<int64_t>(n);
  }
  return Bad(where, key, "expected a whole number, got " + v.dump());
}

}  // namespace

Result<int64_t> ParseMiniBatchSize(const std::string& text, bool bytes) {
  std::string s;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) s += c;
  }
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  std::string unit = s.substr(digits);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string rule =
      bytes ? "a size such as 1024, 100KB, 1MB or 1GB (a tabular dataset is split by size)"
            : "a number of files such as 10 (a file dataset is split by files)";
  if (digits == 0 || digits > 12) {
    return Status::InvalidArgument("mini_batch_size '" + text + "': expected " + rule);
  }
  int64_t n = std::stoll(s.substr(0, digits));
  int64_t scale = 1;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (bytes && (unit == "KB" || unit == "K")) {
    scale = int64_t{1} << 10;
  } else if (bytes && (unit == "MB" || unit == "M")) {
    scale = int64_t{1} << 20;
  } else if (bytes && (unit == "GB" || unit == "G")) {
    scale = int64_t{1} << 30;
  } else {
    return Status::InvalidArgument("mini_batch_size '" + text + "': expected " + rule);
  }
  if (n <= 0) return Status::InvalidArgument("mini_batch_size '" + text + "' must be above 0");
  return n * scale;
}

Result<ParallelConfig> ParallelConfigFromJson(const json& j, const std::string& where) {
  if (!j.is_object())
    return Status::InvalidArgument(where + "parallel_run_config: expected an object");
  static const char* const kKnown[] = {
      "entry_script", "mini_batch_size", "error_threshold", "allowed_failed_count",
      "allowed_failed_percent", "output_action", "append_row_file_name", "node_count",
      "process_count_per_node", "run_invocation_timeout", "run_max_try", "partition_keys",
      "logging_level", "input", "output", "input_kind", "input_format", "partition_format",
      // Azure's, carried by the step itself or meaningless here.
      "environment", "compute_target", "source_directory", "description"};
  for (const auto& [k, v] : j.items()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown)) {
      std::string list;
      for (const char* a : kKnown) list += std::string(list.empty() ? "" : ", ") + a;
      return Bad(where, k, "unknown key; the keys of a ParallelRunConfig are: " + list);
    }
  }
  ParallelConfig c;
  for (auto [key, out] : {std::pair<const char*, std::string*>{"entry_script", &c.entry_script},
                          {"output_action", &c.output_action},
                          {"append_row_file_name", &c.append_row_file_name},
                          {"logging_level", &c.logging_level},
                          {"input", &c.input},
                          {"output", &c.output},
                          {"input_kind", &c.input_kind},
                          {"input_format", &c.input_format},
                          {"partition_format", &c.partition_format}}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string()) return Bad(where, key, "expected a string");
    *out = it->get<std::string>();
  }
  if (c.entry_script.empty()) {
    return Bad(where, "entry_script", "required: the script with init() and run(mini_batch)");
  }
  if (auto it = j.find("mini_batch_size"); it != j.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      c.mini_batch_size = std::to_string(it->get<int64_t>());
    } else if (it->is_string()) {
      c.mini_batch_size = it->get<std::string>();
    } else {
      return Bad(where, "mini_batch_size", "expected a number of files or a size such as 1MB");
    }
  }
  struct IntKey {
    const char* key;
    int64_t low, high;
    int64_t* out;
  };
  int64_t node = c.node_count, procs = c.process_count_per_node, timeout = c.run_invocation_timeout,
          tries = c.run_max_try;
  for (const IntKey& k :
       {IntKey{"error_threshold", -1, INT64_MAX, &c.error_threshold},
        IntKey{"node_count", 1, 1024, &node}, IntKey{"process_count_per_node", 0, 1024, &procs},
        IntKey{"run_invocation_timeout", 1, int64_t{7} * 24 * 3600, &timeout},
        IntKey{"run_max_try", 1, 100, &tries}}) {
    auto it = j.find(k.key);
    if (it == j.end() || it->is_null()) continue;
    FERRY_ASSIGN_OR_RETURN(int64_t v, WholeNumber(*it, where, k.key));
    if (v < k.low || v > k.high) {
      return Bad(where, k.key,
                 std::to_string(v) + " is out of range (" + std::to_string(k.low) + " to " +
                     std::to_string(k.high) + ")");
    }
    *k.out = v;
  }
  c.node_count = static_cast<int>(node);
  c.process_count_per_node = static_cast<int>(procs);
  c.run_invocation_timeout = static_cast<int>(timeout);
  c.run_max_try = static_cast<int>(tries);
  if (auto it = j.find("allowed_failed_count"); it != j.end() && !it->is_null()) {
    FERRY_ASSIGN_OR_RETURN(int64_t v, WholeNumber(*it, where, "allowed_failed_count"));
    if (v < 0) return Bad(where, "allowed_failed_count", "must be 0 or more");
    c.allowed_failed_count = v;
  }
  if (auto it = j.find("allowed_failed_percent"); it != j.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 100) {
      return Bad(where, "allowed_failed_percent", "expected a number from 0 to 100");
    }
    c.allowed_failed_percent = it->get<double>();
  }
  if (auto it = j.find("partition_keys"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return Bad(where, "partition_keys", "expected a list of column names");
    for (const auto& k : *it) {
      if (!k.is_string() || k.get<std::string>().empty()) {
        return Bad(where, "partition_keys", "expected a list of column names");
      }
      c.partition_keys.push_back(k.get<std::string>());
    }
  }
  if (c.output_action != "append_row" && c.output_action != "summary_only") {
    return Bad(where, "output_action",
               "'" + c.output_action + "' is not append_row or summary_only");
  }
  if (c.append_row_file_name.empty() || c.append_row_file_name.find('/') != std::string::npos) {
    return Bad(where, "append_row_file_name", "expected a file name (no '/')");
  }
  if (c.input_kind != "file" && c.input_kind != "tabular") {
    return Bad(where, "input_kind", "'" + c.input_kind + "' is not file or tabular");
  }
  if (!c.mini_batch_size.empty()) {
    FERRY_RETURN_IF_ERROR(ParseMiniBatchSize(c.mini_batch_size, c.input_kind == "tabular")
                              .status()
                              .WithContext(where + "key 'parallel_run_config.mini_batch_size'"));
  }
  return c;
}

json ParallelConfigToJson(const ParallelConfig& c) {
  json j = {{"entry_script", c.entry_script},
            {"mini_batch_size", c.mini_batch_size},
            {"error_threshold", c.error_threshold},
            {"output_action", c.output_action},
            {"append_row_file_name", c.append_row_file_name},
            {"node_count", c.node_count},
            {"process_count_per_node", c.process_count_per_node},
            {"run_invocation_timeout", c.run_invocation_timeout},
            {"run_max_try", c.run_max_try},
            {"partition_keys", c.partition_keys},
            {"logging_level", c.logging_level},
            {"input", c.input},
            {"output", c.output},
            {"input_kind", c.input_kind},
            {"input_format", c.input_format},
            {"partition_format", c.partition_format}};
  j["allowed_failed_count"] = c.allowed_failed_count ? json(*c.allowed_failed_count) : json();
  j["allowed_failed_percent"] = c.allowed_failed_percent ? json(*c.allowed_failed_percent) : json();
  return j;
}

namespace {

// The values of `keys` in a path laid out as `format` ("{year}/{month}/*.csv"): each {name}
// matches one path segment's text up to the next literal. nullopt when the path does not fit.
std::optional<std::vector<std::string>> PartitionValues(const std::string& format,
                                                        const std::string& path,
                                                        const std::vector<std::string>& keys) {
  std::map<std::string, std::string> found;
  size_t f = 0, p = 0;
  while (f < format.size()) {
    if (format[f] == '{') {
      const size_t close = format.find('}', f);
      if (close == std::string::npos) return std::nullopt;
      const std::string name = format.substr(f + 1, close - f - 1);
      const char stop = close + 1 < format.size() ? format[close + 1] : '\0';
      size_t end = p;
      while (end < path.size() && path[end] != stop && path[end] != '/') ++end;
      found[name] = path.substr(p, end - p);
      p = end;
      f = close + 1;
    } else if (format[f] == '*') {
      // Any text in this segment up to the literal that follows (its last place there).
      size_t lit_end = f + 1;
      while (lit_end < format.size() && format[lit_end] != '{' && format[lit_end] != '*' &&
             format[lit_end] != '/') {
        ++lit_end;
      }
      const std::string literal = format.substr(f + 1, lit_end - f - 1);
      size_t seg_end = path.find('/', p);
      if (seg_end == std::string::npos) seg_end = path.size();
      const std::string segment = path.substr(p, seg_end - p);
      const size_t at = literal.empty() ? segment.size() : segment.rfind(literal);
      if (at == std::string::npos) return std::nullopt;
      p += at + literal.size();
      f = lit_end;
    } else {
      if (p >= path.size() || path[p] != format[f]) return std::nullopt;
      ++p;
      ++f;
    }
  }
  if (p != path.size()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& k : keys) {
    auto it = found.find(k);
    if (it == found.end()) return std::nullopt;
    out.push_back(it->second);
  }
  return out;
}

}  // namespace

Result<std::vector<MiniBatchItems>> SplitIntoMiniBatches(const ParallelConfig& c,
                                                         const std::vector<InputFile>& given) {
  if (given.empty()) {
    return Status::FailedPrecondition("input '" + c.input +
                                      "' has no file: a ParallelRunStep needs data to split");
  }
  std::vector<InputFile> files = given;
  std::sort(files.begin(), files.end(),
            [](const InputFile& a, const InputFile& b) { return a.path < b.path; });
  std::vector<MiniBatchItems> out;
  const bool tabular = c.input_kind == "tabular";
  if (!c.partition_keys.empty()) {
    if (c.partition_format.empty()) {
      return Status::FailedPrecondition(
          "partition_keys need a tabular dataset partitioned by path (partition_format, e.g. "
          "'{year}/{month}/*.csv'); input '" +
          c.input + "' has none");
    }
    std::map<std::vector<std::string>, MiniBatchItems> parts;
    for (const auto& f : files) {
      auto values = PartitionValues(c.partition_format, f.path, c.partition_keys);
      if (!values) {
        return Status::FailedPrecondition("file '" + f.path + "' does not fit partition_format '" +
                                          c.partition_format + "'");
      }
      MiniBatchItems& b = parts[*values];
      b.items.push_back(f.path);
      b.item_count += 1;
    }
    for (auto& [values, b] : parts) out.push_back(std::move(b));
    return out;
  }
  if (!tabular) {
    int64_t per = 10;  // Azure's default for file datasets
    if (!c.mini_batch_size.empty()) {
      FERRY_ASSIGN_OR_RETURN(per, ParseMiniBatchSize(c.mini_batch_size, false));
    }
    for (size_t i = 0; i < files.size(); i += static_cast<size_t>(per)) {
      MiniBatchItems b;
      for (size_t k = i; k < std::min(files.size(), i + static_cast<size_t>(per)); ++k) {
        b.items.push_back(files[k].path);
      }
      b.item_count = static_cast<int64_t>(b.items.size());
      out.push_back(std::move(b));
    }
    return out;
  }
  int64_t budget = int64_t{1} << 20;  // Azure's default for tabular datasets: 1MB
  if (!c.mini_batch_size.empty()) {
    FERRY_ASSIGN_OR_RETURN(budget, ParseMiniBatchSize(c.mini_batch_size, true));
  }
  MiniBatchItems cur;
  int64_t used = 0;
  auto flush = [&] {
    if (cur.item_count > 0) out.push_back(std::move(cur));
    cur = MiniBatchItems{};
    used = 0;
  };
  for (const auto& f : files) {
    // Parquet files are read whole; delimited and JSON-lines files larger than the budget are
    // split into byte ranges, which the worker cuts on line boundaries.
    if (f.size > budget && c.input_format != "parquet") {
      flush();
      for (int64_t start = 0; start < f.size; start += budget) {
        MiniBatchItems b;
        b.items.push_back(
            {{"path", f.path}, {"start", start}, {"end", std::min(f.size, start + budget)}});
        b.item_count = 1;
        out.push_back(std::move(b));
      }
      continue;
    }
    if (used > 0 && used + f.size > budget) flush();
    cur.items.push_back({{"path", f.path}});
    cur.item_count += 1;
    used += f.size;
  }
  flush();
  return out;
}

std::string AbortReason(const ParallelConfig& c, const QueueCounts& q) {
  if (c.error_threshold >= 0 && q.failed_items > c.error_threshold) {
    return std::to_string(q.failed_items) + " failed items, more than error_threshold (" +
           std::to_string(c.error_threshold) + ")";
  }
  if (c.allowed_failed_count && q.failed > *c.allowed_failed_count) {
    return std::to_string(q.failed) + " failed mini-batches, more than allowed_failed_count (" +
           std::to_string(*c.allowed_failed_count) + ")";
  }
  if (c.allowed_failed_percent && q.total > 0 &&
      100.0 * static_cast<double>(q.failed) / static_cast<double>(q.total) >
          *c.allowed_failed_percent) {
    return std::to_string(q.failed) + " of " + std::to_string(q.total) +
           " mini-batches failed, more than allowed_failed_percent (" +
           std::to_string(*c.allowed_failed_percent) + "%)";
  }
  return "";
}

}  // namespace ferry::pipeline
