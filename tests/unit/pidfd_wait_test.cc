// wait_for_exit: a pidfd wait that completes while the process runs is made again; the
// process's exit is still seen. The sequence that made dipcd take a live caller for exited:
// a descriptor the reactor has found readable is closed before its record is handled, and a
// pidfd opened next takes that record (asio's epoll reactor reuses them, newest first).
#include "dipcd/pidfd_wait.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>

namespace dipc::daemon {
namespace {

using Descriptor = asio::posix::stream_descriptor;

// A child that runs until it is killed (at the latest when the test ends).
struct Child {
  pid_t pid = fork();
  Child() {
    if (pid == 0) {
      for (;;) pause();
    }
  }
  void kill_now() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
  ~Child() { kill_now(); }
};

// Runs io until done() or about 2 s have passed.
template <typename Done>
void run_until(asio::io_context& io, Done done) {
  for (int i = 0; i < 200 && !done(); ++i) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
}

// Makes a socket readable so that the reactor has its record queued, then, in a handler
// that runs before that record is handled, closes the socket and calls arm(pidfd of the
// live child) with a descriptor made right after (it gets the socket's record).
template <typename Arm>
void stale_readiness(asio::io_context& io, const Child& child, std::unique_ptr<Descriptor>& pidfd,
                     Arm arm) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  auto sock = std::make_unique<Descriptor>(io, sv[0]);
  sock->async_wait(Descriptor::wait_read, [](std::error_code) {});
  ASSERT_EQ(write(sv[1], "x", 1), 1);
  asio::post(io, [&] {
    sock.reset();
    int fd = int(syscall(SYS_pidfd_open, child.pid, 0));
    ASSERT_GE(fd, 0);
    pidfd = std::make_unique<Descriptor>(io, fd);
    arm(*pidfd);
  });
  io.restart();
  io.run_for(std::chrono::milliseconds(100));
  close(sv[1]);
}

TEST(PidfdWait, TheReactorHandsAClosedDescriptorsReadinessToTheNextOne) {
  // Why wait_for_exit asks the pidfd: a plain wait completes for a process that runs. (If a
  // newer asio no longer does this, wait_for_exit's check is only a poll more.)
  asio::io_context io;
  Child child;
  ASSERT_GT(child.pid, 0);
  std::unique_ptr<Descriptor> pidfd;
  bool completed = false;
  stale_readiness(io, child, pidfd, [&](Descriptor& d) {
    d.async_wait(Descriptor::wait_read, [&](std::error_code ec) { completed = !ec; });
  });
  EXPECT_TRUE(completed) << "the stale readiness did not reach the pidfd's wait";
  EXPECT_FALSE(pidfd_exited(pidfd->native_handle())) << "the child runs";
}

TEST(PidfdWait, ALiveProcessIsNotTakenForExitedAndItsExitIsSeen) {
  asio::io_context io;
  Child child;
  ASSERT_GT(child.pid, 0);
  std::unique_ptr<Descriptor> pidfd;
  int exits = 0;
  stale_readiness(io, child, pidfd, [&](Descriptor& d) {
    wait_for_exit(d, [] { return true; }, [&] { ++exits; });
  });
  EXPECT_EQ(exits, 0) << "a running process was taken for exited";
  child.kill_now();
  run_until(io, [&] { return exits > 0; });
  EXPECT_EQ(exits, 1);
}

TEST(PidfdWait, NothingAfterTheDescriptorWentOrWasReplaced) {
  asio::io_context io;
  Child child;
  ASSERT_GT(child.pid, 0);
  int fd = int(syscall(SYS_pidfd_open, child.pid, 0));
  ASSERT_GE(fd, 0);
  auto d = std::make_unique<Descriptor>(io, fd);
  bool current = false;  // the owner says this is no longer its descriptor
  int exits = 0;
  wait_for_exit(*d, [&] { return current; }, [&] { ++exits; });
  child.kill_now();
  io.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(exits, 0);
  // A wait on a descriptor closed before the exit never reports one.
  Child second;
  ASSERT_GT(second.pid, 0);
  fd = int(syscall(SYS_pidfd_open, second.pid, 0));
  ASSERT_GE(fd, 0);
  d = std::make_unique<Descriptor>(io, fd);
  wait_for_exit(*d, [] { return true; }, [&] { ++exits; });
  d->close();
  second.kill_now();
  io.restart();
  io.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(exits, 0);
}

}  // namespace
}  // namespace dipc::daemon
