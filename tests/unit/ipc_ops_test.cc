// Unit tests for the owner's msgrcv (src/dipcd/ipc_ops.cc) on real queues of this IPC
// namespace: a receive waits with a buffer sized to what arrives, not to msgsz, and still
// answers exactly as Linux does (whole messages, E2BIG, MSG_NOERROR truncation, types).
// The memory test blocks a 1 MiB receive on a thread and measures the heap (mallinfo2)
// while it waits: the old code held the whole msgsz. The tests run in an IPC namespace of
// their own (root only, else skipped) whose msgmax allows messages longer than the first
// receive buffer.
#include "dipcd/ipc_ops.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/ipc.h>
#include <sched.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace dipc::daemon {
namespace {

class MsgRcvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static bool own = [] {
      if (unshare(CLONE_NEWIPC) != 0) return false;
      std::ofstream("/proc/sys/kernel/msgmax") << (64 * 1024);
      std::ofstream("/proc/sys/kernel/msgmnb") << (4 * 1024 * 1024);
      return true;
    }();
    if (!own) GTEST_SKIP() << "needs root for an IPC namespace of its own";
    q_ = int(syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600));
    ASSERT_GE(q_, 0) << strerror(errno);
  }
  void TearDown() override {
    if (q_ >= 0) syscall(SYS_msgctl, q_, IPC_RMID, nullptr);
  }

  void Send(long type, const std::string& text) {
    std::vector<char> buf(sizeof(long) + text.size());
    std::memcpy(buf.data(), &type, sizeof type);
    std::memcpy(buf.data() + sizeof(long), text.data(), text.size());
    ASSERT_EQ(syscall(SYS_msgsnd, q_, buf.data(), text.size(), IPC_NOWAIT), 0) << strerror(errno);
  }
  OpResult Receive(int64_t msgsz, long type = 0, int flags = IPC_NOWAIT) {
    OwnedOp op;
    op.kind = proto::Kind::kMsg;
    op.op = proto::Op::kMsgRcv;
    op.id = q_;
    op.flags = flags;
    op.arg1 = type;
    op.arg2 = msgsz;
    return run_op(op);
  }
  long Count() {
    msqid_ds ds{};
    syscall(SYS_msgctl, q_, IPC_STAT, &ds);
    return long(ds.msg_qnum);
  }
  int q_ = -1;
};

std::string Text(size_t n, char c) {
  std::string s(n, c);
  for (size_t i = 0; i < n; i += 97) s[i] = char('a' + i % 26);
  return s;
}

// The namespace's msgmax (raised to 64 KiB in SetUp).
size_t MsgMax() {
  std::ifstream f("/proc/sys/kernel/msgmax");
  size_t n = 8192;
  f >> n;
  return n;
}

TEST_F(MsgRcvTest, ShortAndLongMessagesArriveWhole) {
  size_t longer = std::min<size_t>(MsgMax(), 4 * kFirstReceive);
  ASSERT_GT(longer, kFirstReceive) << "msgmax too small for this test";
  std::string small = Text(100, 's'), big = Text(longer, 'b');
  Send(1, small);
  Send(2, big);
  OpResult r = Receive(1 << 20);
  EXPECT_EQ(r.ret, 100);
  EXPECT_EQ(r.aux, 1);
  EXPECT_EQ(r.data, small);
  r = Receive(1 << 20);
  EXPECT_EQ(r.ret, int64_t(longer));
  EXPECT_EQ(r.aux, 2);
  EXPECT_EQ(r.data, big);
  EXPECT_EQ(Count(), 0);
  r = Receive(1 << 20);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, ENOMSG);
}

TEST_F(MsgRcvTest, LongerThanMsgszIsE2bigAndStaysOnTheQueue) {
  size_t longer = std::min<size_t>(MsgMax(), 2 * kFirstReceive);
  std::string big = Text(longer, 'x');
  Send(3, big);
  OpResult r = Receive(int64_t(longer - 1));
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, E2BIG);
  EXPECT_EQ(Count(), 1);
  // Also when msgsz is below the first buffer.
  r = Receive(10);
  EXPECT_EQ(r.err, E2BIG);
  EXPECT_EQ(Count(), 1);
  r = Receive(int64_t(longer));
  EXPECT_EQ(r.data, big);
}

TEST_F(MsgRcvTest, MsgNoerrorTruncatesToMsgszNotToTheFirstBuffer) {
  size_t longer = std::min<size_t>(MsgMax(), 3 * kFirstReceive);
  size_t msgsz = kFirstReceive + (longer - kFirstReceive) / 2;
  std::string big = Text(longer, 'n');
  Send(4, big);
  OpResult r = Receive(int64_t(msgsz), 0, IPC_NOWAIT | MSG_NOERROR);
  EXPECT_EQ(r.ret, int64_t(msgsz));
  EXPECT_EQ(r.data, big.substr(0, msgsz));
  EXPECT_EQ(Count(), 0);
  Send(5, big);
  r = Receive(20, 0, IPC_NOWAIT | MSG_NOERROR);
  EXPECT_EQ(r.data, big.substr(0, 20));
}

TEST_F(MsgRcvTest, TypesAndNegativeSizesAsLinux) {
  Send(7, Text(2 * kFirstReceive < MsgMax() ? 2 * kFirstReceive : MsgMax(), '7'));
  Send(3, "three");
  OpResult r = Receive(1 << 20, 3);
  EXPECT_EQ(r.data, "three");
  r = Receive(1 << 20, -5);  // the lowest type <= 5: none left
  EXPECT_EQ(r.err, ENOMSG);
  r = Receive(1 << 20, 7, IPC_NOWAIT | MSG_EXCEPT);
  EXPECT_EQ(r.err, ENOMSG);
  r = Receive(-1);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EINVAL);
  EXPECT_EQ(Count(), 1);
}

// 'S' once the thread sleeps (in msgrcv: it does nothing else).
bool Sleeping(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(f, line);
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'S';
}

size_t HeapInUse() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

TEST_F(MsgRcvTest, ABlockedOneMebibyteReceiveHoldsLittleMemory) {
  size_t before = HeapInUse();
  pid_t tid = 0;
  OpResult got;
  std::thread t([&] {
    tid = pid_t(syscall(SYS_gettid));
    got = Receive(1 << 20, 0, 0);  // blocks
  });
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((tid == 0 || !Sleeping(tid)) && std::chrono::steady_clock::now() < end)
    std::this_thread::yield();
  ASSERT_TRUE(tid != 0 && Sleeping(tid)) << "the receive did not block";
  size_t held = HeapInUse() - std::min(before, HeapInUse());
  std::string text = Text(std::min<size_t>(MsgMax(), 3 * kFirstReceive), 'w');
  Send(9, text);
  t.join();
  EXPECT_EQ(got.data, text);
  EXPECT_LT(held, size_t(256 * 1024)) << "a blocked receive of 1 MiB holds " << held << " bytes";
}

// A request as the wire brings it, decoded, and made an OwnedOp from its payload.
OwnedOp FromWire(const proto::OpRequest& req) {
  std::vector<uint8_t> payload(req.fixed_size() + req.data.size());
  proto::Writer w(payload.data(), payload.size());
  req.encode(w);
  EXPECT_TRUE(w.ok());
  proto::Reader r(payload.data(), payload.size());
  proto::OpRequest got;
  EXPECT_TRUE(got.decode(r));
  return OwnedOp::from(got, std::move(payload));
}

std::string Sops(std::initializer_list<sembuf> l) {
  std::string out(l.size() * 6, '\0');
  proto::Writer w(reinterpret_cast<uint8_t*>(out.data()), out.size());
  for (auto& s : l) {
    w.u16(s.sem_num);
    w.i16(s.sem_op);
    w.i16(s.sem_flg);
  }
  return out;
}

// The message text stays in the frame's buffer, and msgsnd finds `long mtype` before it.
TEST_F(MsgRcvTest, MsgsndFromAFramesPayloadSendsTheTextAsItCame) {
  std::string text = Text(3000, 'm');
  proto::OpRequest req;
  req.kind = proto::Kind::kMsg;
  req.op = proto::Op::kMsgSnd;
  req.id = q_;
  req.arg1 = 42;
  req.user = "root";
  req.data = text;
  OwnedOp op = FromWire(req);
  ASSERT_EQ(op.data.view(), text);
  OpResult r = run_op(op, /*nowait=*/true);
  ASSERT_EQ(r.ret, 0) << strerror(r.err);
  OpResult got = Receive(8192);
  EXPECT_EQ(got.aux, 42);
  EXPECT_EQ(got.data, text);
}

// sembufs are decoded once, when they come; malformed ones never reach the kernel.
TEST_F(MsgRcvTest, SembufsAreDecodedOnceAndMalformedOnesAreRefused) {
  int s = int(syscall(SYS_semget, IPC_PRIVATE, 2, IPC_CREAT | 0600));
  ASSERT_GE(s, 0);
  proto::OpRequest req;
  req.kind = proto::Kind::kSem;
  req.op = proto::Op::kSemOp;
  req.id = s;
  req.user = "root";
  std::string sops = Sops({{1, 3, 0}, {0, 1, SEM_UNDO}});
  req.data = sops;
  req.arg1 = 2;
  OwnedOp op = FromWire(req);
  ASSERT_EQ(op.sops.size(), 2u);
  EXPECT_EQ(op.sops[0].sem_num, 1);
  EXPECT_EQ(op.sops[0].sem_op, 3);
  EXPECT_EQ(op.sops[1].sem_flg, SEM_UNDO);
  EXPECT_TRUE(has_undo(op.sops));
  op.sops[1].sem_flg = 0;  // as the owner does for a remote caller's SEM_UNDO
  ASSERT_EQ(run_op(op).ret, 0);
  EXPECT_EQ(syscall(SYS_semctl, s, 1, GETVAL, 0), 3);
  EXPECT_EQ(syscall(SYS_semctl, s, 0, GETVAL, 0), 1);
  // Waiting with nowait: EAGAIN instead of blocking (semaphore 0 is 1, -2 would wait).
  req.data = Sops({{0, -2, 0}});
  req.arg1 = 1;
  OwnedOp wait = FromWire(req);
  OpResult r = run_op(wait, /*nowait=*/true);
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EAGAIN);
  // nsops that does not match the bytes, or above the limit: EINVAL, nothing applied.
  req.data = sops;
  req.arg1 = 3;
  OwnedOp bad = FromWire(req);
  EXPECT_TRUE(bad.sops.empty());
  r = run_op(bad);
  EXPECT_EQ(r.err, EINVAL);
  req.arg1 = int64_t(proto::kMaxSops) + 1;
  r = run_op(FromWire(req));
  EXPECT_EQ(r.err, EINVAL);
  // nsops 0: the kernel's own answer.
  req.data = {};
  req.arg1 = 0;
  r = run_op(FromWire(req));
  EXPECT_EQ(r.ret, -1);
  EXPECT_EQ(r.err, EINVAL);
  EXPECT_EQ(syscall(SYS_semctl, s, 1, GETVAL, 0), 3);
  syscall(SYS_semctl, s, 0, IPC_RMID, 0);
}

}  // namespace
}  // namespace dipc::daemon
