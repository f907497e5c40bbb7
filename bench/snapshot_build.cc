// Times snapshot::BuildSnapshot alone (walk + stat cache + hashing + manifest), without the
// CLI, the server or the upload, so bench/snapshot.py can split a submit into its parts.
//
// usage: snapshot_build SOURCE_DIR [--cache PATH] [--threads N] [--reps N]
// Prints one line per rep and a final "RESULT key=value ..." line (median seconds).
// This is a benchmark helper, not a test: the exit status is 0 unless something failed to run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "snapshot/snapshot.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: snapshot_build SOURCE_DIR [--cache PATH] [--threads N] [--reps N]\n");
    return 2;
  }
  ferry::snapshot::SnapshotOptions o;
  o.source_dir = argv[1];
  int reps = 1;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "snapshot_build: missing value for %s\n", a.c_str());
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--cache")
      o.stat_cache_path = v;
    else if (a == "--threads")
      o.hash_threads = std::stoi(v);
    else if (a == "--reps")
      reps = std::stoi(v);
    else {
      std::fprintf(stderr, "snapshot_build: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::vector<double> secs;
  ferry::snapshot::SnapshotResult last;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto snap = ferry::snapshot::BuildSnapshot(o);
    auto t1 = std::chrono::steady_clock::now();
    if (!snap.ok()) {
      std::fprintf(stderr, "snapshot_build: %s\n", snap.status().ToString().c_str());
      return 2;
    }
    double s = std::chrono::duration<double>(t1 - t0).count();
    secs.push_back(s);
    std::printf(
        "rep %d: %.3f s  files %llu bytes %llu  hashed %llu files %llu bytes  id %s\n", r + 1, s,
        static_cast<unsigned long long>(snap->files), static_cast<unsigned long long>(snap->bytes),
        static_cast<unsigned long long>(snap->files_hashed),
        static_cast<unsigned long long>(snap->bytes_hashed), snap->id.substr(0, 12).c_str());
    last = std::move(snap).value();
  }
  std::sort(secs.begin(), secs.end());
  double med = secs.size() % 2 ? secs[secs.size() / 2]
                               : (secs[secs.size() / 2 - 1] + secs[secs.size() / 2]) / 2;
  std::printf(
      "RESULT seconds=%.4f files=%llu bytes=%llu files_hashed=%llu bytes_hashed=%llu reps=%d\n",
      med, static_cast<unsigned long long>(last.files), static_cast<unsigned long long>(last.bytes),
      static_cast<unsigned long long>(last.files_hashed),
      static_cast<unsigned long long>(last.bytes_hashed), reps);
  return 0;
}
