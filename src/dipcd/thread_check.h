// ThreadCheck: the io-thread rule, checked rather than only written.
//
// A room whose members may run on one thread only holds a ThreadCheck and calls
// DIPC_ON_THREAD(check_) at the top of its entry points. The first call binds the check to
// the calling thread; a later call from any other thread is a broken invariant: it logs
// where and exits (a daemon must not carry on over tables that two threads changed).
// The cost is one comparison of thread ids, so the check stays on in every build.
// Thread safety: any thread may call check(); that is its purpose.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace dipc::daemon {

class ThreadCheck {
 public:
  void check(const char* file, int line) const {
    std::thread::id me = std::this_thread::get_id();
    std::thread::id none{};
    if (owner_.compare_exchange_strong(none, me) || none == me) return;
    std::fprintf(stderr, "dipcd: %s:%d called off its owning thread: exiting\n", file, line);
    std::abort();
  }

 private:
  mutable std::atomic<std::thread::id> owner_{};
};

#define DIPC_ON_THREAD(tc) (tc).check(__FILE__, __LINE__)

}  // namespace dipc::daemon
