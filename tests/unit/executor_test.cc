// OwnerExecutor: blocking calls on worker threads, and their cancellation, including a
// cancel that comes before the worker has even entered its system call.
#include "dipcd/executor.h"

#include <gtest/gtest.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

namespace dipc::daemon {
namespace {

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    q_ = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ASSERT_GE(q_, 0);
  }
  void TearDown() override {
    ex_.shutdown();
    msgctl(q_, IPC_RMID, nullptr);
  }
  // A msgrcv that waits for ever unless cancelled (no message is ever sent).
  OwnerExecutor::Work blocking_receive() {
    int q = q_;
    return [q] {
      struct {
        long t;
        char b[8];
      } m;
      if (OwnerExecutor::cancelled()) return OpResult::error(EINTR);
      long r = syscall(SYS_msgrcv, q, &m, sizeof m.b, 1L, 0);
      return OpResult::sys(r);
    };
  }
  template <typename Pred>
  bool run_until(Pred pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pred() && std::chrono::steady_clock::now() < end) {
      io_.run_for(std::chrono::milliseconds(2));
      io_.restart();
    }
    return pred();
  }
  asio::io_context io_;
  OwnerExecutor ex_{io_, 64};
  int q_ = -1;
};

TEST_F(ExecutorTest, CancelInterruptsABlockedCallEvenRightAfterSubmit) {
  // Cancelled at once (often before the worker is in msgrcv), fifty times: each ends with
  // EINTR and its completion runs exactly once.
  for (int i = 0; i < 50; ++i) {
    int done = 0;
    OpResult got;
    uint64_t t = ex_.submit(Identity{}, blocking_receive(), [&](OpResult r) {
      got = r;
      ++done;
    });
    ASSERT_NE(t, 0u);
    if (i % 2) io_.poll();  // sometimes let the worker get going first
    ex_.cancel(t);
    ASSERT_TRUE(run_until([&] { return done > 0; })) << "call " << i << " was not interrupted";
    EXPECT_EQ(done, 1);
    EXPECT_EQ(got.ret, -1);
    EXPECT_EQ(got.err, EINTR);
    ex_.cancel(t);  // a late cancel of a finished ticket does nothing
    io_.poll();
    EXPECT_EQ(done, 1);
  }
}

TEST_F(ExecutorTest, CompletedWorkIsNotDisturbedByACancelOfItsTicket) {
  int done = 0;
  OpResult got;
  uint64_t t = ex_.submit(Identity{}, [] { return OpResult::ok(7); }, [&](OpResult r) {
    got = r;
    ++done;
  });
  ASSERT_TRUE(run_until([&] { return done > 0; }));
  ex_.cancel(t);
  // The idle worker takes the next call; the old ticket's cancel must not reach it.
  int done2 = 0;
  uint64_t t2 = ex_.submit(Identity{}, [] { return OpResult::ok(8); }, [&](OpResult r) {
    EXPECT_EQ(r.ret, 8);
    ++done2;
  });
  EXPECT_NE(t, t2);
  ASSERT_TRUE(run_until([&] { return done2 > 0; }));
  EXPECT_EQ(got.ret, 7);
  EXPECT_EQ(done, 1);
}

TEST_F(ExecutorTest, PastItsThreadsACallGetsEagain) {
  OwnerExecutor small(io_, 2);
  int eagain = 0, interrupted = 0;
  std::vector<uint64_t> tickets;
  for (int i = 0; i < 3; ++i) {
    uint64_t t = small.submit(Identity{}, blocking_receive(), [&](OpResult r) {
      if (r.err == EAGAIN) ++eagain;
      if (r.err == EINTR) ++interrupted;
    });
    if (t) tickets.push_back(t);
  }
  ASSERT_TRUE(run_until([&] { return eagain == 1; }));
  EXPECT_EQ(tickets.size(), 2u);
  for (auto t : tickets) small.cancel(t);
  ASSERT_TRUE(run_until([&] { return interrupted == 2; }));
  small.shutdown();
}

// Workers idle past the time-out end, so a burst of blocked calls does not keep its threads
// for ever, and the pool grows again on demand afterwards.
TEST(ExecutorIdle, IdleWorkersEndAndThePoolGrowsAgain) {
  asio::io_context io;
  OwnerExecutor ex(io, 64, std::chrono::milliseconds(200));
  int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  ASSERT_GE(q, 0);
  auto run_until = [&io](auto pred, std::chrono::seconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < end) {
      io.run_for(std::chrono::milliseconds(5));
      io.restart();
    }
    return pred();
  };
  auto receive = [q] {
    struct {
      long t;
      char b[8];
    } m;
    if (OwnerExecutor::cancelled()) return OpResult::error(EINTR);
    return OpResult::sys(syscall(SYS_msgrcv, q, &m, sizeof m.b, 1L, 0));
  };
  // Four calls blocked at once take four threads.
  int done = 0;
  std::vector<uint64_t> tickets;
  for (int i = 0; i < 4; ++i)
    tickets.push_back(ex.submit(Identity{}, receive, [&](OpResult) { ++done; }));
  ASSERT_TRUE(run_until([&] { return ex.busy() == 4; }, std::chrono::seconds(5)));
  EXPECT_EQ(ex.threads(), 4u);
  for (auto t : tickets) ex.cancel(t);
  ASSERT_TRUE(run_until([&] { return done == 4; }, std::chrono::seconds(5)));
  // Idle now: every thread ends within a few time-outs.
  EXPECT_TRUE(run_until([&] { return ex.threads() == 0; }, std::chrono::seconds(10)))
      << ex.threads() << " workers still alive";
  // And a new call still gets a worker.
  OpResult got;
  struct {
    long t;
    char b[8];
  } m{1, "hi"};
  ASSERT_EQ(syscall(SYS_msgsnd, q, &m, 3, 0), 0);
  ex.submit(Identity{}, receive, [&](OpResult r) {
    got = r;
    ++done;
  });
  ASSERT_TRUE(run_until([&] { return done == 5; }, std::chrono::seconds(5)));
  EXPECT_EQ(got.ret, 3);
  ex.shutdown();
  msgctl(q, IPC_RMID, nullptr);
}

// run_as on the calling thread: each call sees exactly its caller's ids and groups, also
// when the groups are kept from the call before (same groups) or not (other groups), and
// the thread is root again after each (uid and gid 0).
TEST(RunAs, EachCallHasItsCallersIdsAndGroups) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  std::thread t([] {
    auto seen = [](const Identity& who) {
      std::vector<gid_t> got;
      uid_t euid = 0;
      gid_t egid = 0;
      OwnerExecutor::run_as(who, [&] {
        euid = geteuid();
        egid = getegid();
        int n = int(syscall(SYS_getgroups, 0, nullptr));
        got.resize(size_t(n > 0 ? n : 0));
        if (n > 0) syscall(SYS_getgroups, n, got.data());
        return OpResult{0, 0, 0, {}};
      });
      EXPECT_EQ(euid, who.uid);
      EXPECT_EQ(egid, who.gid);
      EXPECT_EQ(syscall(SYS_geteuid), 0);
      EXPECT_EQ(syscall(SYS_getegid), 0);
      return got;
    };
    Identity a{4301, 4302, {4303, 4304}, "a"}, b{4311, 4312, {4313}, "b"}, c{4321, 4322, {}, "c"};
    EXPECT_EQ(seen(a), a.groups);
    EXPECT_EQ(seen(a), a.groups);  // kept
    EXPECT_EQ(seen(b), b.groups);
    EXPECT_EQ(seen(c), c.groups);
    EXPECT_EQ(seen(a), a.groups);
  });
  t.join();
}

}  // namespace
}  // namespace dipc::daemon
