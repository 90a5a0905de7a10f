// OwnerExecutor: runs System V IPC calls on behalf of callers, as those callers.
//
// A call may block for ever (msgrcv on an empty queue), so each runs on a worker thread of
// its own, taken from a pool that grows on demand and keeps idle threads for reuse. Before
// the call the worker takes the caller's uid, gid and groups as its effective ids with the
// raw setresuid, setresgid and setgroups system calls, which change only the calling thread
// (glibc's wrappers would change every thread of dipcd); its real and saved ids stay 0, so
// it can go back and the caller cannot signal it.
// Losing euid 0 clears the thread's effective capabilities, so the kernel checks
// permissions exactly as for the caller.
//
// Cancel: the worker's calls run with every signal blocked but kCancelSignal, whose
// handler does nothing and is installed without SA_RESTART; cancel() sets a flag and
// sends that signal until the call has returned, so a blocked call returns EINTR. A work
// function checks cancelled() right before its system call.
//
// Bounds: at most max_threads workers (4096); a worker idle for 30 s ends, so a burst of
// blocked calls does not keep its threads for ever. Per-caller quotas are the owner's
// (OwnerSide).
// Thread safety: submit() and cancel() are called on the io thread; completions are posted
// back to it.
#pragma once

#include <errno.h>
#include <sys/types.h>

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dipc::daemon {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string name;
};

struct OpResult {
  int64_t ret = -1;
  int err = 0;
  int64_t aux = 0;
  std::string data;
  static OpResult error(int e) { return OpResult{-1, e, 0, {}}; }
  // The result of a system call that has just returned r: errno is read here, after the
  // call, never as a sibling argument (whose order of evaluation is unspecified).
  static OpResult sys(int64_t r) { return r < 0 ? error(errno) : OpResult{r, 0, 0, {}}; }
  static OpResult ok(int64_t r) { return OpResult{r, 0, 0, {}}; }
};

class OwnerExecutor {
 public:
  using Work = std::function<OpResult()>;
  using Done = std::function<void(OpResult)>;
  // Runs on the worker right after the work, before done: lets the caller's answer leave
  // without waking the io thread first. Must be safe on any thread.
  using ReplyNow = std::function<void(const OpResult&)>;

  // A worker idle for idle_timeout ends (threads and their stacks are given back after a
  // burst of blocked calls).
  static constexpr std::chrono::milliseconds kIdleTimeout{30'000};
  explicit OwnerExecutor(asio::io_context& io, size_t max_threads = 4096,
                         std::chrono::milliseconds idle_timeout = kIdleTimeout);
  ~OwnerExecutor();
  OwnerExecutor(const OwnerExecutor&) = delete;
  OwnerExecutor& operator=(const OwnerExecutor&) = delete;

  // Runs work as who on a worker thread, then done(result) on the io thread. Returns a
  // ticket for cancel(), or 0 when no thread could be had (done then gets EAGAIN).
  uint64_t submit(const Identity& who, Work work, Done done, ReplyNow reply_now = nullptr);
  // Interrupts the work of ticket if it is still running; its done still runs once.
  void cancel(uint64_t ticket);
  // True on a worker whose work has been cancelled.
  static bool cancelled();
  // Runs work as who on the calling thread, then goes back to root (uid and gid 0; who's
  // supplementary groups stay until the next run_as with other groups, see the .cc). For
  // calls that cannot block (the io thread tries those before handing a call to a worker).
  static OpResult run_as(const Identity& who, const Work& work);
  size_t busy() const { return running_.size(); }
  size_t threads() {
    std::lock_guard lk(mu_);
    return all_.size();
  }
  void shutdown();

 private:
  struct Worker;
  void worker_loop(Worker* w);
  void kick(uint64_t ticket);

  asio::io_context& io_;
  size_t max_threads_;
  std::chrono::milliseconds idle_timeout_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Worker>> all_;
  std::vector<Worker*> idle_;
  std::map<uint64_t, Worker*> running_;  // io thread only
  uint64_t next_ticket_ = 1;
  bool stopping_ = false;
};

}  // namespace dipc::daemon
