#include "dipcd/executor.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace dipc::daemon {
namespace {

constexpr int kCancelSignal = SIGUSR2;
thread_local const std::atomic<bool>* t_cancel = nullptr;

void on_cancel_signal(int) {}

void install_cancel_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = on_cancel_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the blocked call must return EINTR
    sigaction(kCancelSignal, &sa, nullptr);
  });
}

// Per-thread identity switch with raw system calls (see the header).
bool set_groups(const std::vector<gid_t>& groups) {
  return syscall(SYS_setgroups, groups.size(), groups.data()) == 0;
}

// Only the effective ids change: the kernel checks IPC permissions with them, and a real
// uid of 0 keeps the caller from signalling this thread (kill(2) compares real and saved
// uids), so no user can stop or kill dipcd through a thread that worked for them.
bool set_effective(const Identity& who) {
  return syscall(SYS_setresgid, 0, who.gid, 0) == 0 && syscall(SYS_setresuid, 0, who.uid, 0) == 0;
}

void effective_root() {
  syscall(SYS_setresuid, 0, 0, 0);
  syscall(SYS_setresgid, 0, 0, 0);
}

bool become(const Identity& who) { return set_groups(who.groups) && set_effective(who); }

bool same_identity(const Identity& a, const Identity& b) {
  return a.uid == b.uid && a.gid == b.gid && a.groups == b.groups;
}

void become_root() {
  effective_root();
  set_groups({});
}

}  // namespace

struct OwnerExecutor::Worker {
  std::thread thread;
  pthread_t handle{};
  std::mutex mu;
  std::condition_variable cv;
  Work work;
  Done done;
  ReplyNow reply_now;
  Identity who;
  uint64_t ticket = 0;
  std::atomic<bool> cancel{false};
  std::atomic<bool> active{false};
  bool quit = false;
};

OwnerExecutor::OwnerExecutor(asio::io_context& io, size_t max_threads,
                             std::chrono::milliseconds idle_timeout)
    : io_(io), max_threads_(max_threads), idle_timeout_(idle_timeout) {
  install_cancel_handler();
}

OwnerExecutor::~OwnerExecutor() { shutdown(); }

// At exit: wake every worker and let the process end without waiting for them (a worker
// may be inside a system call that ignores the cancel, e.g. one just about to return).
void OwnerExecutor::shutdown() {
  std::lock_guard lk(mu_);
  if (stopping_) return;
  stopping_ = true;
  for (auto& w : all_) {
    {
      std::lock_guard wl(w->mu);
      w->quit = true;
      w->cancel = true;
    }
    w->cv.notify_one();
    pthread_kill(w->handle, kCancelSignal);
    w->thread.detach();
    (void)w.release();  // the detached thread still uses it until the process exits
  }
  all_.clear();
}

// The supplementary groups run_as left this thread with (valid when t_groups_set).
thread_local std::vector<gid_t> t_groups;
thread_local bool t_groups_set = false;

OpResult OwnerExecutor::run_as(const Identity& who, const Work& work) {
  if (who.uid == 0) return work();
  // Back to root, run_as keeps the caller's supplementary groups on the thread (a root
  // thread's groups grant nothing that its capabilities do not, and objects and files it
  // creates take its effective gid, which does go back to 0): the next call of a caller
  // with the same groups, the common case, is 4 system calls instead of 6.
  bool ok = true;
  if (!t_groups_set || t_groups != who.groups) {
    t_groups_set = ok = set_groups(who.groups);
    if (ok) t_groups = who.groups;
  }
  ok = ok && set_effective(who);
  OpResult result = ok ? work() : OpResult::error(EACCES);
  effective_root();
  if (!ok) {
    set_groups({});
    t_groups_set = false;
  }
  return result;
}

bool OwnerExecutor::cancelled() { return t_cancel != nullptr && t_cancel->load(); }

uint64_t OwnerExecutor::submit(const Identity& who, Work work, Done done, ReplyNow reply_now) {
  Worker* w = nullptr;
  {
    std::lock_guard lk(mu_);
    if (stopping_) {
      asio::post(io_, [done] { done(OpResult::error(EIDRM)); });
      return 0;
    }
    if (!idle_.empty()) {
      w = idle_.back();
      idle_.pop_back();
    } else if (all_.size() < max_threads_) {
      all_.push_back(std::make_unique<Worker>());
      w = all_.back().get();
      w->thread = std::thread([this, w] { worker_loop(w); });
      w->handle = w->thread.native_handle();
    }
  }
  if (w == nullptr) {
    asio::post(io_, [done] { done(OpResult::error(EAGAIN)); });
    return 0;
  }
  uint64_t ticket = next_ticket_++;
  running_[ticket] = w;
  {
    std::lock_guard lk(w->mu);
    w->work = std::move(work);
    w->done = std::move(done);
    w->reply_now = std::move(reply_now);
    w->who = who;
    w->ticket = ticket;
    w->cancel = false;
  }
  w->cv.notify_one();
  return ticket;
}

void OwnerExecutor::cancel(uint64_t ticket) {
  auto it = running_.find(ticket);
  if (it == running_.end()) return;
  it->second->cancel = true;
  kick(ticket);
}

// Sends the cancel signal every few milliseconds until the work returns: a signal that
// lands just before the worker enters its system call would otherwise be lost.
void OwnerExecutor::kick(uint64_t ticket) {
  auto it = running_.find(ticket);
  if (it == running_.end()) return;
  Worker* w = it->second;
  if (w->active.load()) pthread_kill(w->handle, kCancelSignal);
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(2));
  timer->async_wait([this, ticket, timer](std::error_code) { kick(ticket); });
}

void OwnerExecutor::worker_loop(Worker* w) {
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, kCancelSignal);
  pthread_sigmask(SIG_SETMASK, &all, nullptr);
  t_cancel = &w->cancel;
  Identity current;  // root
  for (;;) {
    Work work;
    Done done;
    ReplyNow reply_now;
    Identity who;
    uint64_t ticket;
    {
      std::unique_lock lk(w->mu);
      if (!w->cv.wait_for(lk, idle_timeout_, [w] { return w->quit || w->work; })) {
        // Idle for a while: give the thread back, unless it is being handed work now.
        lk.unlock();
        std::unique_ptr<Worker> self;
        {
          std::lock_guard el(mu_);
          auto idle = std::find(idle_.begin(), idle_.end(), w);
          if (idle != idle_.end() && !stopping_) {
            idle_.erase(idle);
            for (auto& p : all_)
              if (p.get() == w) self = std::move(p);
            std::erase(all_, nullptr);
          }
        }
        if (self) {
          self->thread.detach();
          return;  // self (the Worker) goes with this thread
        }
        continue;
      }
      if (w->quit && !w->work) return;
      work = std::move(w->work);
      done = std::move(w->done);
      reply_now = std::move(w->reply_now);
      who = w->who;
      ticket = w->ticket;
      w->work = nullptr;
      w->active = true;
    }
    // A worker keeps the identity of its last caller: the next call is often the same
    // caller's, and switching costs a few system calls each way.
    OpResult result;
    if (!same_identity(who, current)) {
      if (current.uid != 0) become_root();
      current = Identity{};
      if (who.uid != 0 && !become(who)) {
        become_root();
        result = OpResult::error(EACCES);
      } else {
        current = who;
      }
    }
    if (same_identity(who, current)) result = work();
    w->active = false;
    if (reply_now) reply_now(result);
    // The worker becomes idle only on the io thread, after its ticket is gone, so that a
    // late cancel of this ticket can never signal the worker's next call.
    asio::post(io_, [this, w, ticket, done = std::move(done), result = std::move(result)]() mutable {
      running_.erase(ticket);
      {
        std::lock_guard lk(mu_);
        if (!stopping_) idle_.push_back(w);
      }
      done(std::move(result));
    });
  }
}

}  // namespace dipc::daemon
