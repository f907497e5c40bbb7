// Must NOT compile under -Werror=thread-safety: each function breaks a lock annotation. The
// test thread_safety_analysis_rejects_unguarded_access (clang-tsa build) expects the failure.
#include "common/mutex.h"

namespace ferry {

class Account {
 public:
  void DepositUnlocked(int n) { balance_ += n; }  // writes a GUARDED_BY member without mu_
  int Peek() { return BalanceLocked(); }          // calls a REQUIRES method without mu_
  void Twice() {
    MutexLock a(&mu_);
    MutexLock b(&mu_);  // takes mu_ while holding it
  }

 private:
  int BalanceLocked() REQUIRES(mu_) { return balance_; }
  Mutex mu_;
  int balance_ GUARDED_BY(mu_) = 0;
};

}  // namespace ferry
