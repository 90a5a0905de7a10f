// SemUndo: SEM_UNDO adjustments kept for processes of other nodes, and their range, as the
// kernel keeps and checks them (a real set in this process's IPC namespace for the values).
#include "dipcd/sem_undo.h"

#include <gtest/gtest.h>
#include <sys/ipc.h>
#include <errno.h>
#include <sys/sem.h>

#include <utility>

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

TEST_F(SemUndoTest, FirstOutOfRangeNamesTheOperation) {
  u_.record(p_, id_, {op(1, 32767)});  // adjustment -32767
  EXPECT_EQ(u_.first_out_of_range(p_, id_, {op(0, -1), op(1, 1), op(1, 1)}), 2);
  EXPECT_EQ(u_.first_out_of_range(p_, id_, {op(1, 2), op(0, 1)}), 0);
  EXPECT_EQ(u_.first_out_of_range(p_, id_, {op(1, 1)}), -1);
}

TEST_F(SemUndoTest, TheKernelAnswersFirstForSetsNumbersAndPermission) {
  EXPECT_FALSE(SemUndo::refused_first(id_, {op(1, 2)}, root_));
  EXPECT_TRUE(SemUndo::refused_first(id_, {op(1, 2), op(5, 1)}, root_));  // EFBIG
  Identity stranger{12345, 12345, {}, "stranger"};  // the set is 0600, root's
  EXPECT_TRUE(SemUndo::refused_first(id_, {op(1, 2)}, stranger));  // EACCES
  EXPECT_TRUE(SemUndo::refused_first(id_ + 1000000, {op(1, 2)}, root_));  // gone
}

// The wait stands for Linux's evaluation up to the range check: it blocks while that would
// (and says EAGAIN where an IPC_NOWAIT operation would), then says ERANGE and changes nothing.
TEST_F(SemUndoTest, RangeWaitBlocksAsLinuxThenSaysErangeChangingNothing) {
  auto run = [this](std::vector<sembuf> w) {
    for (auto& s : w) s.sem_flg |= IPC_NOWAIT;  // "would block" is EAGAIN here
    return semop(id_, w.data(), w.size()) == 0 ? 0 : errno;
  };
  auto vals = [this] { return std::make_pair(semctl(id_, 0, GETVAL), semctl(id_, 1, GETVAL)); };
  set(0, 0);
  set(1, 0);
  // Out of range at operation 1 (a negative one, value 0 after it); operation 0 blocks.
  std::vector<sembuf> sops{op(0, -1), op(1, -1), op(1, 5)};
  auto w = SemUndo::range_wait(sops, 1);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0].sem_flg & SEM_UNDO, 0);
  EXPECT_EQ(run(w), EAGAIN);
  set(0, 1);
  EXPECT_EQ(run(w), EAGAIN);  // operation 1 blocks too
  set(1, 1);
  EXPECT_EQ(run(w), ERANGE);
  EXPECT_EQ(vals(), std::make_pair(1, 1));
  semid_ds ds{};
  ASSERT_EQ(semctl(id_, 0, IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.sem_otime, 0);
  EXPECT_EQ(semctl(id_, 0, GETNCNT), 0);
  // A positive operation out of range: one overflow suffices, from any value.
  auto up = SemUndo::range_wait({op(1, 3)}, 0);
  EXPECT_EQ(up.size(), 2u);
  set(1, 0);
  EXPECT_EQ(run(up), ERANGE);
  set(1, 32767);
  EXPECT_EQ(run(up), ERANGE);
  EXPECT_EQ(semctl(id_, 1, GETVAL), 32767);
}

// Linux gives a process an undo list for a set at its first SEM_UNDO call, whatever that
// call's outcome, and its exit sets the set's sem_otime even with nothing to adjust.
TEST_F(SemUndoTest, ExitSetsOtimeForEveryListAndClampsAdjustments) {
  set(0, 5);
  set(1, 2);
  u_.open_list(p_, id_);  // a call that failed: a list without adjustments
  auto exit = u_.take(p_);
  ASSERT_EQ(exit.size(), 1u);
  EXPECT_EQ(exit[0].semnum, -1);
  EXPECT_EQ(u_.lists(), 0u);
  apply_exit(exit);
  semid_ds ds{};
  ASSERT_EQ(semctl(id_, 0, IPC_STAT, &ds), 0);
  EXPECT_NE(ds.sem_otime, 0);
  EXPECT_EQ(semctl(id_, 0, GETVAL), 5);
  EXPECT_EQ(semctl(id_, 1, GETVAL), 2);
  // Adjustments: -3 on 0 (5 -> 2) and +32767 on 1 (clamped to 32767).
  u_.record(p_, id_, {op(0, 3), op(1, -32767)});
  apply_exit(u_.take(p_));
  EXPECT_EQ(semctl(id_, 0, GETVAL), 2);
  EXPECT_EQ(semctl(id_, 1, GETVAL), 32767);
  // A list on a set that is gone is dropped with it.
  u_.open_list(p_, id_);
  u_.drop_set(id_);
  EXPECT_TRUE(u_.take(p_).empty());
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
