// ferry::Mutex, MutexLock and CondVar: exclusion, waits that wake and waits that time out.
#include "common/mutex.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace ferry {
namespace {

struct Counter {
  Mutex mu;
  int value GUARDED_BY(mu) = 0;
  bool ready GUARDED_BY(mu) = false;
  CondVar cv;
};

TEST(MutexTest, MutexLockExcludesOtherThreads) {
  Counter c;
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) {
        MutexLock lock(&c.mu);
        ++c.value;
      }
    });
  }
  for (auto& t : threads) t.join();
  MutexLock lock(&c.mu);
  EXPECT_EQ(c.value, 40000);
}

TEST(MutexTest, TryLockFailsWhileHeld) {
  Mutex mu;
  mu.Lock();
  bool got = true;
  std::thread([&] {
    if (mu.TryLock()) {
      mu.Unlock();
    } else {
      got = false;
    }
  }).join();
  mu.Unlock();
  EXPECT_FALSE(got);
  if (mu.TryLock()) {
    mu.Unlock();
  } else {
    ADD_FAILURE() << "TryLock failed on a free mutex";
  }
}

TEST(MutexTest, SignalWakesAWaiterThatHoldsTheMutexAgain) {
  Counter c;
  std::thread waiter([&c] {
    MutexLock lock(&c.mu);
    while (!c.ready) c.cv.Wait(&c.mu);
    c.value = 1;  // still held after the wait
  });
  {
    MutexLock lock(&c.mu);
    c.ready = true;
  }
  c.cv.SignalAll();
  waiter.join();
  MutexLock lock(&c.mu);
  EXPECT_EQ(c.value, 1);
}

TEST(MutexTest, WaitForTimesOutWithoutASignal) {
  Counter c;
  MutexLock lock(&c.mu);
  bool woken = true;
  // Spurious wake-ups return true early: wait until the deadline says no.
  while (woken) woken = c.cv.WaitFor(&c.mu, std::chrono::milliseconds(20));
  EXPECT_FALSE(woken);
  c.value = 2;  // the mutex is held again after a timed-out wait
  EXPECT_EQ(c.value, 2);
}

TEST(MutexTest, WaitUntilAPassedDeadlineReturnsFalse) {
  Counter c;
  MutexLock lock(&c.mu);
  EXPECT_FALSE(c.cv.WaitUntil(&c.mu, std::chrono::steady_clock::now() - std::chrono::seconds(1)));
}

}  // namespace
}  // namespace ferry
