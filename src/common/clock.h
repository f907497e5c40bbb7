// Injectable wall clock (unix seconds) so logic can be tested with a fake time.
#pragma once

namespace ferry {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch, with sub-second precision. Thread-safe.
  virtual double Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  double Now() const override;
};

// Shared system clock instance (stateless, so not a mutable singleton).
const Clock& DefaultClock();

}  // namespace ferry
