// read_caller_creds: the credentials of a call read from procfs (status parsing, a live thread's
// ids and groups, a changed group list, a process that is gone).
#include "dipcd/caller_creds.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace dipc::daemon {
namespace {

TEST(CallerCreds, ParsesTheEffectiveIdsAndGroups) {
  Identity c;
  ASSERT_TRUE(parse_status_creds(
      "Name:\tx\nUid:\t0\t1000\t0\t1000\nGid:\t0\t100\t0\t100\nGroups:\t4 24 27 \nNgid:\t0\n", c));
  EXPECT_EQ(c.uid, 1000u);
  EXPECT_EQ(c.gid, 100u);
  EXPECT_EQ(c.groups, (std::vector<gid_t>{4, 24, 27}));
  ASSERT_TRUE(parse_status_creds("Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\n", c));
  EXPECT_EQ(c.uid, 2u);
  EXPECT_TRUE(c.groups.empty());
}

TEST(CallerCreds, RefusesMissingOrMalformedLines) {
  Identity c;
  EXPECT_FALSE(parse_status_creds("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", c));  // no Groups
  EXPECT_FALSE(parse_status_creds("Uid:\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\n", c));
  EXPECT_FALSE(parse_status_creds("Uid:\t0\t0\t0\t0\nGid:\t0\tx\t0\t0\nGroups:\n", c));
  EXPECT_FALSE(parse_status_creds("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t1 -2\n", c));
  EXPECT_FALSE(parse_status_creds("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t99999999999\n", c));
  // "XUid:" is not "Uid:".
  EXPECT_FALSE(parse_status_creds("XUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\n", c));
}

int pidfd_of(pid_t pid) { return int(syscall(SYS_pidfd_open, pid, 0)); }

TEST(CallerCreds, ReadsThisThreadAndSeesAGroupChange) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (setgroups)";
  int pfd = pidfd_of(getpid());
  ASSERT_GE(pfd, 0);
  // A thread of our own changes only its groups (the raw system call: this thread only).
  std::thread t([&] {
    pid_t tid = pid_t(syscall(SYS_gettid));
    gid_t g[] = {4242, 4343};
    ASSERT_EQ(syscall(SYS_setgroups, 2, g), 0);
    Identity c;
    ASSERT_TRUE(read_caller_creds(getpid(), tid, pfd, c));
    EXPECT_EQ(c.uid, 0u);
    EXPECT_EQ(c.groups, (std::vector<gid_t>{4242, 4343}));
    ASSERT_EQ(syscall(SYS_setgroups, 0, nullptr), 0);
    ASSERT_TRUE(read_caller_creds(getpid(), tid, pfd, c));
    EXPECT_TRUE(c.groups.empty());
    // A tid that is not a thread of the process: the process's own status is read.
    ASSERT_TRUE(read_caller_creds(getpid(), 1, pfd, c));
  });
  t.join();
  close(pfd);
}

TEST(CallerCreds, AProcessThatIsGoneHasNone) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  int pfd = pidfd_of(child);
  ASSERT_GE(pfd, 0);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  Identity c{7, 8, {9}, "x"};
  EXPECT_FALSE(read_caller_creds(child, 0, pfd, c));
  EXPECT_EQ(c.uid, 7u);  // untouched
  EXPECT_EQ(c.groups, (std::vector<gid_t>{9}));
  EXPECT_FALSE(read_caller_creds(getpid(), 0, -1, c));  // no pidfd: not believed
  // Nor through a thread pidfd (read_caller_ids).
  CallerThread t;
  EXPECT_FALSE(read_caller_ids(child, child, pfd, t, c));
  EXPECT_EQ(c.uid, 7u);
  EXPECT_FALSE(read_caller_ids(getpid(), 0, -1, t, c));
  close(pfd);
}

// What one read costs (docs/security.md quotes it); bounded so that a slow machine does
// not fail, generous so that a read that blocks would.
TEST(CallerCreds, AReadIsCheap) {
  int pfd = pidfd_of(getpid());
  ASSERT_GE(pfd, 0);
  pid_t tid = pid_t(syscall(SYS_gettid));
  Identity c;
  constexpr int kReads = 2000;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kReads; ++i) ASSERT_TRUE(read_caller_creds(getpid(), tid, pfd, c));
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - t0).count();
  std::printf("read_caller_creds: %.1f us per read\n", double(us) / kReads);
  EXPECT_LT(us / kReads, 1000);
  close(pfd);
}

// read_caller_ids: the effective ids through a kept pidfd of the thread, seen changed at the
// next read; a tid that is not ours reads the main thread (gone: AProcessThatIsGoneHasNone).
TEST(CallerCreds, ReadsIdsThroughAThreadPidfd) {
  int pfd = pidfd_of(getpid());
  ASSERT_GE(pfd, 0);
  CallerThread t;
  Identity c{7, 8, {9}, "x"};
  if (!read_caller_ids(getpid(), pid_t(syscall(SYS_gettid)), pfd, t, c)) {
    close(pfd);
    GTEST_SKIP() << "no PIDFD_GET_INFO on this kernel";
  }
  EXPECT_EQ(c.uid, geteuid());
  EXPECT_EQ(c.gid, getegid());
  EXPECT_EQ(c.groups, (std::vector<gid_t>{9}));  // not touched
  EXPECT_TRUE(read_caller_ids(getpid(), 1, pfd, t, c));  // not our thread: the main one
  EXPECT_EQ(c.uid, geteuid());
  if (geteuid() == 0) {
    // Another thread changes its own effective ids (raw system calls: that thread only);
    // each read through the same kept pidfd sees what it has now.
    std::thread th([&] {
      pid_t tid = pid_t(syscall(SYS_gettid));
      CallerThread mine;
      Identity m;
      ASSERT_TRUE(read_caller_ids(getpid(), tid, pfd, mine, m));
      EXPECT_EQ(m.uid, 0u);
      ASSERT_EQ(syscall(SYS_setresgid, -1, 4242, -1), 0);
      ASSERT_EQ(syscall(SYS_setresuid, -1, 4343, -1), 0);
      ASSERT_TRUE(read_caller_ids(getpid(), tid, pfd, mine, m));
      EXPECT_EQ(m.uid, 4343u);
      EXPECT_EQ(m.gid, 4242u);
      ASSERT_EQ(syscall(SYS_setresuid, -1, 0, -1), 0);
      ASSERT_EQ(syscall(SYS_setresgid, -1, 0, -1), 0);
      ASSERT_TRUE(read_caller_ids(getpid(), tid, pfd, mine, m));
      EXPECT_EQ(m.uid, 0u);
      EXPECT_EQ(m.gid, 0u);
    });
    th.join();
  }
  close(pfd);
}

TEST(CallerCreds, AnIdsReadIsCheap) {
  int pfd = pidfd_of(getpid());
  ASSERT_GE(pfd, 0);
  CallerThread t;
  Identity c;
  pid_t tid = pid_t(syscall(SYS_gettid));
  if (!read_caller_ids(getpid(), tid, pfd, t, c)) {
    close(pfd);
    GTEST_SKIP() << "no PIDFD_GET_INFO on this kernel";
  }
  constexpr int kReads = 2000;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kReads; ++i) ASSERT_TRUE(read_caller_ids(getpid(), tid, pfd, t, c));
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now() - t0).count();
  std::printf("read_caller_ids: %.2f us per read\n", double(ns) / kReads / 1000);
  EXPECT_LT(ns / kReads, 1000000);
  close(pfd);
}

}  // namespace
}  // namespace dipc::daemon
