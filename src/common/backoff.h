// Exponential back-off for retry loops: one helper for every loop that waits longer after each
// failure (the agent's server calls, a target's monitor), with a cap and optional jitter.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace ferry {

// The delays of one retry loop: initial, initial*factor, ... up to max, each optionally
// shortened by a random part (jitter) so that many clients that failed together do not retry
// together. Holds no clock and never sleeps: the caller waits Next() however it waits (a
// sleep, a timer, a deadline). Not thread-safe; one per loop.
class Backoff {
 public:
  struct Options {
    std::chrono::milliseconds initial{20};
    std::chrono::milliseconds max{2000};
    double factor = 2.0;
    // 0: every delay exactly as above. j in (0, 1]: each delay drawn uniformly from
    // [d * (1 - j), d], so the cap still holds.
    double jitter = 0.0;
    // Seed of the jitter's generator; 0 draws one from std::random_device.
    uint32_t seed = 0;
  };

  explicit Backoff(const Options& options);

  // The delay before the next retry; the one after it is longer (until the cap).
  std::chrono::milliseconds Next();
  // After a success: the next failure waits `initial` again.
  void Reset() { current_ms_ = 0; }

 private:
  Options options_;
  double current_ms_ = 0;  // the un-jittered delay Next() returned last; 0 before the first
  std::minstd_rand random_;
};

}  // namespace ferry
