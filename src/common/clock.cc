// System clock.
#include "common/clock.h"

#include <chrono>

namespace ferry {

double SystemClock::Now() const {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

const Clock& DefaultClock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace ferry
