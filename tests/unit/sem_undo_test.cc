// SemUndo: SEM_UNDO adjustments kept for processes of other nodes, and their range, as the
// kernel keeps and checks them (a real set in this process's IPC namespace for the values).
#include "dipcd/sem_undo.h"

#include <gtest/gtest.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include "dipcd/executor.h"

namespace dipc::daemon {
namespace {

sembuf op(unsigned short num, short v, short flg = SEM_UNDO) { return sembuf{num, v, flg}; }

class SemUndoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    id_ = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    ASSERT_GE(id_, 0);
  }
  void TearDown() override { semctl(id_, 0, IPC_RMID); }
  void set(int num, int v) { ASSERT_EQ(semctl(id_, num, SETVAL, v), 0); }
  int id_ = -1;
  SemUndo u_;
  const SemUndo::Proc p_{"node2", 42};
  const Identity root_{};
};

TEST_F(SemUndoTest, RecordsTheOppositeOfEachOperationAndTakesThemOnce) {
  u_.record(p_, id_, {op(0, 3), op(1, -1), op(0, 2, 0)});  // the last has no SEM_UNDO
  auto adj = u_.take(p_);
  ASSERT_EQ(adj.size(), 2u);
  std::map<int, int> by_num;
  for (auto& a : adj) by_num[a.semnum] = a.adj;
  EXPECT_EQ(by_num[0], -3);
  EXPECT_EQ(by_num[1], 1);
  EXPECT_TRUE(u_.take(p_).empty());
}

TEST_F(SemUndoTest, RangeIsTheKernelsMinus32768To32767) {
  std::vector<sembuf> up{op(0, 32767)};
  EXPECT_TRUE(u_.in_range(p_, id_, up));
  u_.record(p_, id_, up);                             // adjustment -32767
  EXPECT_TRUE(u_.in_range(p_, id_, {op(0, 1)}));       // -32768: still allowed
  EXPECT_FALSE(u_.in_range(p_, id_, {op(0, 2)}));      // -32769: out of range
  EXPECT_TRUE(u_.in_range(p_, id_, {op(0, 2, 0)}));    // no SEM_UNDO: no adjustment
  // Another process, or another set, starts from zero.
  EXPECT_TRUE(u_.in_range({"node2", 43}, id_, {op(0, 2)}));
}

TEST_F(SemUndoTest, RangeErrorFollowsTheKernelsOrder) {
  set(0, 0);
  u_.record(p_, id_, {op(1, 32767)});
  // An operation that would block (IPC_NOWAIT) before the one out of range: EAGAIN.
  EXPECT_EQ(u_.range_error(p_, id_, {op(0, -1, SEM_UNDO | IPC_NOWAIT), op(1, 1)}, root_), EAGAIN);
  // The range is exceeded first: ERANGE.
  EXPECT_EQ(u_.range_error(p_, id_, {op(1, 2), op(0, -1, SEM_UNDO | IPC_NOWAIT)}, root_), ERANGE);
  // At the edge (-32768) it is still in range, and the blocking one decides.
  EXPECT_EQ(u_.range_error(p_, id_, {op(1, 1), op(0, -1, SEM_UNDO | IPC_NOWAIT)}, root_), EAGAIN);
  // A semaphore number past the set: the kernel's own answer (EFBIG), so 0 here.
  EXPECT_EQ(u_.range_error(p_, id_, {op(5, 1)}, root_), 0);
}

TEST_F(SemUndoTest, RangeErrorLeavesPermissionToTheKernel) {
  u_.record(p_, id_, {op(1, 32767)});
  Identity stranger{12345, 12345, {}, "stranger"};  // the set is 0600, root's
  EXPECT_EQ(u_.range_error(p_, id_, {op(1, 2)}, stranger), 0);  // EACCES comes first
}

TEST_F(SemUndoTest, SetvalAndSetallClearAndNodesAreTakenWhole) {
  u_.record(p_, id_, {op(0, 1), op(1, 1)});
  u_.clear(id_, 0);  // SETVAL of semaphore 0
  auto adj = u_.take(p_);
  ASSERT_EQ(adj.size(), 1u);
  EXPECT_EQ(adj[0].semnum, 1);
  u_.record(p_, id_, {op(0, 1)});
  u_.record({"node3", 7}, id_, {op(0, 1)});
  u_.clear(id_, -1);  // SETALL
  EXPECT_EQ(u_.size(), 0u);
  u_.record(p_, id_, {op(0, 1)});
  u_.record({"node2", 99}, id_, {op(1, 1)});
  u_.record({"node3", 7}, id_, {op(0, 1)});
  EXPECT_EQ(u_.take_node("node2").size(), 2u);
  EXPECT_EQ(u_.size(), 1u);
  u_.drop_set(id_);
  EXPECT_EQ(u_.size(), 0u);
}

}  // namespace
}  // namespace dipc::daemon
