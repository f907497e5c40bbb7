// System metrics of a run, sampled by its agent: CPU and resident memory of the script's
// whole process tree (from /proc), and utilisation and memory of the run's GPUs (nvidia-smi).
// Stored as ordinary metrics under the "system/" prefix.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ferry::agent {

struct ProcessTreeUsage {
  int processes = 0;
  uint64_t cpu_ticks = 0;  // utime+stime (+ reaped children's) of the tree, in clock ticks
  uint64_t rss_bytes = 0;
};

// Sums /proc/<pid>/stat over `root` and all its descendants (found through parent pids, so
// children that start their own process group or session are counted too).
ProcessTreeUsage SampleProcessTree(pid_t root);

class SystemSampler {
 public:
  // gpus: the devices the run was given (none: no GPU metrics).
  SystemSampler(pid_t root, std::vector<int> gpus) : root_(root), gpus_(std::move(gpus)) {}
  // Follows another root from now on (e.g. a container's init once it is known).
  void set_root(pid_t root) { root_ = root; }
  // One sample: metric name -> value. CPU % needs a previous sample (absent the first time).
  // A GPU query that fails turns GPU sampling off and sets *note once.
  std::map<std::string, double> Sample(double now_s, std::string* note);

 private:
  pid_t root_;
  std::vector<int> gpus_;
  bool gpu_off_ = false;
  bool have_prev_ = false;
  uint64_t prev_ticks_ = 0;
  double prev_time_ = 0;
};

}  // namespace ferry::agent
