// Back-off delays: growth, cap, reset and jitter bounds.
#include "common/backoff.h"

#include <gtest/gtest.h>

#include <vector>

namespace ferry {
namespace {

using std::chrono::milliseconds;

std::vector<int64_t> Delays(Backoff& b, int n) {
  std::vector<int64_t> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) out.push_back(b.Next().count());
  return out;
}

TEST(BackoffTest, DoublesUpToTheCap) {
  Backoff b({.initial = milliseconds(20), .max = milliseconds(2000)});
  EXPECT_EQ(Delays(b, 9), (std::vector<int64_t>{20, 40, 80, 160, 320, 640, 1280, 2000, 2000}));
}

TEST(BackoffTest, OtherFactorAndSeconds) {
  Backoff b({.initial = std::chrono::seconds(1), .max = std::chrono::seconds(30)});
  EXPECT_EQ(Delays(b, 7), (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 30000, 30000}));
  Backoff slow({.initial = milliseconds(200), .max = milliseconds(5000), .factor = 1.5});
  EXPECT_EQ(Delays(slow, 3), (std::vector<int64_t>{200, 300, 450}));
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff b({.initial = milliseconds(10), .max = milliseconds(100)});
  Delays(b, 5);
  b.Reset();
  EXPECT_EQ(b.Next().count(), 10);
  EXPECT_EQ(b.Next().count(), 20);
}

TEST(BackoffTest, JitterStaysWithinItsShareAndTheCap) {
  Backoff b({.initial = milliseconds(100), .max = milliseconds(1000), .jitter = 0.5, .seed = 7});
  int64_t nominal = 100;
  bool varied = false;
  for (int i = 0; i < 50; ++i) {
    int64_t d = b.Next().count();
    EXPECT_GE(d, nominal / 2 - 1) << i;
    EXPECT_LE(d, nominal) << i;
    varied = varied || d != nominal;
    nominal = std::min<int64_t>(nominal * 2, 1000);
  }
  EXPECT_TRUE(varied);
}

TEST(BackoffTest, SameSeedSameDelays) {
  Backoff a({.initial = milliseconds(100), .max = milliseconds(1000), .jitter = 1.0, .seed = 3});
  Backoff b({.initial = milliseconds(100), .max = milliseconds(1000), .jitter = 1.0, .seed = 3});
  EXPECT_EQ(Delays(a, 10), Delays(b, 10));
}

}  // namespace
}  // namespace ferry
