// nvidia-smi queries and their CSV.
#include "compute/gpu.h"

#include <cstdlib>
#include <set>
#include <sstream>

#include "common/subprocess.h"

namespace ferry::compute {
namespace {

std::vector<std::string> SplitCsvLine(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  for (auto& f : out) {
    size_t a = f.find_first_not_of(" \t\r");
    size_t b = f.find_last_not_of(" \t\r");
    f = a == std::string::npos ? "" : f.substr(a, b - a + 1);
  }
  return out;
}

bool ParseNumber(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return false;  // "[N/A]", "[Not Supported]"
  *out = v;
  return true;
}

}  // namespace

Result<std::vector<GpuDevice>> ParseGpuList(const std::string& csv) {
  std::vector<GpuDevice> out;
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto f = SplitCsvLine(line);
    if (f.size() < 4)
      return Status::InvalidArgument("unexpected nvidia-smi output line: '" + line + "'");
    GpuDevice d;
    double index = 0, mem = 0;
    if (!ParseNumber(f[0], &index))
      return Status::InvalidArgument("unexpected nvidia-smi GPU index in '" + line + "'");
    d.index = static_cast<int>(index);
    // The name may itself hold commas: it is everything between the index and the last two.
    for (size_t i = 1; i + 2 < f.size(); ++i) d.name += (i > 1 ? "," : "") + f[i];
    d.uuid = f[f.size() - 2];
    if (ParseNumber(f.back(), &mem)) d.memory_total_mib = static_cast<int64_t>(mem);
    out.push_back(d);
  }
  return out;
}

std::vector<GpuSample> ParseGpuSamples(const std::string& csv) {
  std::vector<GpuSample> out;
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    auto f = SplitCsvLine(line);
    double index = 0;
    if (f.size() < 3 || !ParseNumber(f[0], &index)) continue;
    GpuSample s;
    s.index = static_cast<int>(index);
    if (!ParseNumber(f[1], &s.utilization_percent)) s.utilization_percent = -1;
    if (!ParseNumber(f[2], &s.memory_used_mib)) s.memory_used_mib = -1;
    out.push_back(s);
  }
  return out;
}

Result<std::vector<GpuDevice>> DiscoverGpus(const std::string& visible, int timeout_ms) {
  std::string smi = FindOnPath("nvidia-smi");
  if (smi.empty()) return std::vector<GpuDevice>{};
  auto r =
      RunCommand({smi, "--query-gpu=index,name,uuid,memory.total", "--format=csv,noheader,nounits"},
                 "", timeout_ms);
  if (!r.ok())
    return Status::Unavailable("nvidia-smi (" + smi + ") failed: " + r.status().message());
  if (r->exit_code != 0) {
    return Status::Unavailable("nvidia-smi (" + smi + ") exited with code " +
                               std::to_string(r->exit_code) +
                               "; is the NVIDIA driver loaded? Output: " + r->out.substr(0, 300));
  }
  FERRY_ASSIGN_OR_RETURN(auto all, ParseGpuList(r->out));
  if (visible.empty()) return all;
  std::set<std::string> want;
  for (auto& v : SplitCsvLine(visible)) want.insert(v);
  std::vector<GpuDevice> out;
  for (auto& d : all) {
    if (want.count(std::to_string(d.index)) || want.count(d.uuid)) out.push_back(d);
  }
  return out;
}

Result<std::vector<GpuSample>> SampleGpus(const std::vector<int>& indices, int timeout_ms) {
  std::string smi = FindOnPath("nvidia-smi");
  if (smi.empty()) return Status::NotFound("nvidia-smi is not on PATH");
  std::vector<std::string> argv = {smi, "--query-gpu=index,utilization.gpu,memory.used",
                                   "--format=csv,noheader,nounits"};
  if (!indices.empty()) {
    std::string ids;
    for (size_t i = 0; i < indices.size(); ++i) ids += (i ? "," : "") + std::to_string(indices[i]);
    argv.push_back("--id=" + ids);
  }
  auto r = RunCommand(argv, "", timeout_ms);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0)
    return Status::Unavailable("nvidia-smi exited with code " + std::to_string(r->exit_code));
  return ParseGpuSamples(r->out);
}

}  // namespace ferry::compute
