// /proc process-tree sampling and GPU sampling for system metrics.
#include "agent/system_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

#include "common/fs.h"
#include "compute/gpu.h"

namespace ferry::agent {
namespace {

struct ProcStat {
  pid_t ppid = 0;
  uint64_t ticks = 0;
  uint64_t rss_pages = 0;
};

bool ReadProcStat(pid_t pid, ProcStat* out) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return false;
  const std::string& s = *text;
  size_t rp = s.rfind(')');
  if (rp == std::string::npos || rp + 2 >= s.size()) return false;
  // Fields after "(comm)": 3 state, 4 ppid, ..., 14 utime, 15 stime, 16 cutime, 17 cstime, ..., 24
  // rss.
  std::vector<std::string> f;
  size_t pos = rp + 2;
  while (pos < s.size() && f.size() < 22) {
    size_t sp = s.find(' ', pos);
    if (sp == std::string::npos) sp = s.size();
    f.push_back(s.substr(pos, sp - pos));
    pos = sp + 1;
  }
  if (f.size() < 22) return false;
  if (f[0] == "Z") return false;  // a zombie holds no memory and no more CPU
  auto num = [&](int field) {
    return std::strtoull(f[static_cast<size_t>(field - 3)].c_str(), nullptr, 10);
  };
  out->ppid = static_cast<pid_t>(num(4));
  out->ticks = num(14) + num(15) + num(16) + num(17);
  out->rss_pages = num(24);
  return true;
}

}  // namespace

ProcessTreeUsage SampleProcessTree(pid_t root) {
  ProcessTreeUsage u;
  if (root <= 0) return u;
  std::map<pid_t, ProcStat> all;
  DIR* d = ::opendir("/proc");
  if (!d) return u;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    ProcStat st;
    if (ReadProcStat(static_cast<pid_t>(pid), &st)) all[static_cast<pid_t>(pid)] = st;
  }
  ::closedir(d);
  std::multimap<pid_t, pid_t> children;
  for (auto& [pid, st] : all) children.emplace(st.ppid, pid);
  static const long page = ::sysconf(_SC_PAGESIZE);
  std::vector<pid_t> stack = {root};
  std::set<pid_t> seen;
  while (!stack.empty()) {
    pid_t p = stack.back();
    stack.pop_back();
    if (!seen.insert(p).second) continue;
    auto it = all.find(p);
    if (it == all.end()) continue;
    ++u.processes;
    u.cpu_ticks += it->second.ticks;
    u.rss_bytes += it->second.rss_pages * static_cast<uint64_t>(page);
    auto [a, b] = children.equal_range(p);
    for (auto c = a; c != b; ++c) stack.push_back(c->second);
  }
  return u;
}

std::map<std::string, double> SystemSampler::Sample(double now_s, std::string* note) {
  std::map<std::string, double> m;
  ProcessTreeUsage u = SampleProcessTree(root_);
  static const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  if (u.processes > 0) {
    m["system/memory_rss_mib"] = static_cast<double>(u.rss_bytes) / (1024.0 * 1024.0);
    m["system/processes"] = u.processes;
    if (have_prev_ && now_s > prev_time_) {
      // A process that exited between samples takes its ticks along: never report negative.
      double dt = u.cpu_ticks >= prev_ticks_ ? static_cast<double>(u.cpu_ticks - prev_ticks_) : 0.0;
      m["system/cpu_percent"] = 100.0 * dt / hz / (now_s - prev_time_);
    }
    have_prev_ = true;
    prev_ticks_ = u.cpu_ticks;
    prev_time_ = now_s;
  }
  if (!gpus_.empty() && !gpu_off_) {
    auto s = compute::SampleGpus(gpus_);
    if (!s.ok()) {
      gpu_off_ = true;
      if (note) *note = "GPU metrics are off for this run: " + s.status().message();
      return m;
    }
    double util = 0, mem = 0;
    int n_util = 0, n_mem = 0;
    for (auto& g : *s) {
      if (g.utilization_percent >= 0) {
        util += g.utilization_percent;
        ++n_util;
      }
      if (g.memory_used_mib >= 0) {
        mem += g.memory_used_mib;
        ++n_mem;
      }
      if (s->size() > 1) {
        std::string prefix = "system/gpu" + std::to_string(g.index) + "/";
        if (g.utilization_percent >= 0) m[prefix + "utilization_percent"] = g.utilization_percent;
        if (g.memory_used_mib >= 0) m[prefix + "memory_used_mib"] = g.memory_used_mib;
      }
    }
    if (n_util) m["system/gpu_utilization_percent"] = util / n_util;
    if (n_mem) m["system/gpu_memory_used_mib"] = mem;
  }
  return m;
}

}  // namespace ferry::agent
