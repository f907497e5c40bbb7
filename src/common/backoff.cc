// Exponential back-off (see backoff.h).
#include "common/backoff.h"

#include <algorithm>

namespace ferry {

Backoff::Backoff(const Options& options)
    : options_(options), random_(options.seed ? options.seed : std::random_device{}()) {}

std::chrono::milliseconds Backoff::Next() {
  const double cap = static_cast<double>(options_.max.count());
  current_ms_ = current_ms_ == 0 ? static_cast<double>(options_.initial.count())
                                 : current_ms_ * std::max(1.0, options_.factor);
  current_ms_ = std::min(current_ms_, cap);
  double delay = current_ms_;
  const double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  if (jitter > 0) {
    std::uniform_real_distribution<double> part(0.0, jitter);
    delay *= 1.0 - part(random_);
  }
  return std::chrono::milliseconds(static_cast<int64_t>(delay));
}

}  // namespace ferry
