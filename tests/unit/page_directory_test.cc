// Unit tests for the owner-side DSM manager (src/dipcd/dsm/page_directory.h).
//
// First the protocol's cases one by one, with the exact actions expected; then a model
// check: four nodes (the owner and three others) run random reads, writes, message
// deliveries, clock steps and deaths against one directory over FIFO links, for many seeds,
// and every read must return the latest write (strict consistency), every write grant must
// find no other copy, and nothing may be left waiting once the links are drained.
#include "dipcd/dsm/page_directory.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>

namespace dipc::daemon::dsm {
namespace {

using T = Action::Type;
using std::chrono::milliseconds;

Time at(int ms) { return Time{} + std::chrono::hours(1) + milliseconds(ms); }

Action grant(NodeId n, uint64_t u, Access a, bool data, uint64_t req) {
  return {T::kGrant, n, u, a, {}, data, req};
}
Action recall(NodeId n, uint64_t u, RecallMode m, bool data) {
  return {T::kRecall, n, u, Access::kNone, m, data, 0};
}
Action fill(uint64_t u) { return {T::kFill, kOwner, u, Access::kRead, {}, false, 0}; }
Action failed(NodeId n, uint64_t u, uint64_t req) {
  return {T::kFail, n, u, Access::kNone, {}, false, req};
}

TEST(PageDirectory, UntouchedUnitsBelongToTheOwnerAndCostNothing) {
  PageDirectory d(1u << 18, milliseconds(0));
  auto v = d.view(12345);
  EXPECT_TRUE(v.has_writer);
  EXPECT_EQ(v.writer, kOwner);
  EXPECT_EQ(d.tracked_units(), 0u);
}

TEST(PageDirectory, RejectsOutOfRange) {
  PageDirectory d(4, milliseconds(0));
  std::vector<Action> out;
  EXPECT_FALSE(d.request(1, 4, Access::kRead, 1, at(0), out));
  EXPECT_FALSE(d.request(64, 0, Access::kRead, 1, at(0), out));
  EXPECT_FALSE(d.request(1, 0, Access::kNone, 1, at(0), out));
  EXPECT_FALSE(d.recall_done(1, 0, at(0), out));
  EXPECT_TRUE(out.empty());
}

TEST(PageDirectory, ReadOfAnOwnerPageIsOneRequestAndOneGrant) {
  PageDirectory d(4, milliseconds(0));
  std::vector<Action> out;
  ASSERT_TRUE(d.request(1, 2, Access::kRead, 7, at(0), out));
  // The owner was the writer: it is downgraded (locally), then node 1 gets the data.
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], recall(kOwner, 2, RecallMode::kDowngrade, false));
  out.clear();
  ASSERT_TRUE(d.recall_done(kOwner, 2, at(0), out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], grant(1, 2, Access::kRead, true, 7));
  auto v = d.view(2);
  EXPECT_FALSE(v.has_writer);
  EXPECT_EQ(v.readers, 0b11u);
  // A second reader is served from the owner's copy at once.
  out.clear();
  ASSERT_TRUE(d.request(2, 2, Access::kRead, 8, at(1), out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], grant(2, 2, Access::kRead, true, 8));
}

TEST(PageDirectory, WriteInvalidatesEveryOtherCopyFirst) {
  PageDirectory d(4, milliseconds(0));
  std::vector<Action> out;
  d.request(1, 0, Access::kRead, 1, at(0), out);
  d.recall_done(kOwner, 0, at(0), out);
  d.request(2, 0, Access::kRead, 2, at(0), out);
  out.clear();
  // Node 2 upgrades: the owner and node 1 drop their copies; node 2 keeps its data.
  d.request(2, 0, Access::kWrite, 3, at(1), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], recall(kOwner, 0, RecallMode::kInvalidate, false));
  EXPECT_EQ(out[1], recall(1, 0, RecallMode::kInvalidate, false));
  out.clear();
  d.recall_done(1, 0, at(1), out);
  EXPECT_TRUE(out.empty());
  d.recall_done(kOwner, 0, at(1), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], grant(2, 0, Access::kWrite, false, 3));
  // A reader elsewhere now fetches from the writer, which becomes a reader; the owner
  // keeps a copy too.
  out.clear();
  d.request(3, 0, Access::kRead, 4, at(2), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], recall(2, 0, RecallMode::kDowngrade, true));
  out.clear();
  d.recall_done(2, 0, at(2), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], fill(0));
  EXPECT_EQ(out[1], grant(3, 0, Access::kRead, true, 4));
  EXPECT_EQ(d.view(0).readers, 0b1101u);
}

TEST(PageDirectory, WriteFromANodeWithoutACopyTakesTheWritersData) {
  PageDirectory d(4, milliseconds(0));
  std::vector<Action> out;
  d.request(1, 1, Access::kWrite, 1, at(0), out);
  d.recall_done(kOwner, 1, at(0), out);
  out.clear();
  d.request(2, 1, Access::kWrite, 2, at(1), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], recall(1, 1, RecallMode::kInvalidate, true));
  out.clear();
  d.recall_done(1, 1, at(1), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], grant(2, 1, Access::kWrite, true, 2));
}

TEST(PageDirectory, QuantumHoldsBackTheRecall) {
  PageDirectory d(4, milliseconds(10));
  std::vector<Action> out;
  d.request(1, 0, Access::kWrite, 1, at(0), out);  // owner granted at epoch: no wait
  ASSERT_EQ(out.size(), 1u);
  d.recall_done(kOwner, 0, at(0), out);
  out.clear();
  d.request(2, 0, Access::kWrite, 2, at(3), out);
  EXPECT_TRUE(out.empty());  // node 1 was granted at 0: kept until 10
  EXPECT_EQ(d.next_deadline(), at(10));
  d.tick(at(9), out);
  EXPECT_TRUE(out.empty());
  d.tick(at(10), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], recall(1, 0, RecallMode::kInvalidate, true));
  EXPECT_EQ(d.next_deadline(), Time::max());
}

TEST(PageDirectory, RequestsWaitTheirTurn) {
  PageDirectory d(4, milliseconds(0));
  std::vector<Action> out;
  d.request(1, 0, Access::kWrite, 1, at(0), out);
  out.clear();
  d.request(2, 0, Access::kRead, 2, at(0), out);
  d.request(3, 0, Access::kRead, 3, at(0), out);
  EXPECT_TRUE(out.empty());
  d.recall_done(kOwner, 0, at(0), out);
  // Node 1 gets its write; node 2's read then recalls it.
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], grant(1, 0, Access::kWrite, true, 1));
  EXPECT_EQ(out[1], recall(1, 0, RecallMode::kDowngrade, true));
  out.clear();
  d.recall_done(1, 0, at(0), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], fill(0));
  EXPECT_EQ(out[1], grant(2, 0, Access::kRead, true, 2));
  EXPECT_EQ(out[2], grant(3, 0, Access::kRead, true, 3));
}

TEST(PageDirectory, ARequestAskedAgainWaitsOnce) {
  PageDirectory d(4, milliseconds(0));
  std::vector<Action> out;
  ASSERT_TRUE(d.request(1, 0, Access::kRead, 7, at(0), out));  // the owner's recall is out
  out.clear();
  // A node asking the same again and again while the unit is busy: one place in the queue,
  // answered once, with its latest request id.
  for (uint64_t r = 100; r < 10100; ++r) ASSERT_TRUE(d.request(2, 0, Access::kRead, r, at(0), out));
  ASSERT_TRUE(d.request(3, 0, Access::kRead, 50, at(0), out));
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(d.recall_done(kOwner, 0, at(0), out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0], grant(1, 0, Access::kRead, true, 7));
  EXPECT_EQ(out[1], grant(2, 0, Access::kRead, true, 10099));
  EXPECT_EQ(out[2], grant(3, 0, Access::kRead, true, 50));
}

TEST(PageDirectory, DataIsExpectedOnlyFromTheNodeARecallAskedItOf) {
  PageDirectory d(4, milliseconds(0));
  std::vector<Action> out;
  d.request(2, 0, Access::kWrite, 1, at(0), out);
  d.recall_done(kOwner, 0, at(0), out);  // node 2 writes unit 0
  EXPECT_FALSE(d.expects_data(2, 0)) << "no recall yet";
  out.clear();
  d.request(3, 0, Access::kRead, 2, at(1), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], recall(2, 0, RecallMode::kDowngrade, true));
  EXPECT_TRUE(d.expects_data(2, 0));
  EXPECT_FALSE(d.expects_data(3, 0));
  EXPECT_FALSE(d.expects_data(1, 0));
  EXPECT_FALSE(d.expects_data(2, 1)) << "another unit";
  EXPECT_FALSE(d.expects_data(kMaxNodes, 0));
  out.clear();
  ASSERT_TRUE(d.recall_done(2, 0, at(1), out));
  EXPECT_FALSE(d.expects_data(2, 0)) << "after its answer";
}

TEST(PageDirectory, DeadWriterLosesThePageOnlyThere) {
  PageDirectory d(4, milliseconds(0));
  std::vector<Action> out;
  d.request(1, 0, Access::kWrite, 1, at(0), out);
  d.recall_done(kOwner, 0, at(0), out);
  d.request(1, 1, Access::kRead, 2, at(0), out);
  d.recall_done(kOwner, 1, at(0), out);
  out.clear();
  d.request(2, 0, Access::kRead, 3, at(1), out);  // recall to node 1 goes out
  ASSERT_EQ(out.size(), 1u);
  out.clear();
  d.node_dead(1, at(2), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], failed(2, 0, 3));
  out.clear();
  d.request(3, 0, Access::kWrite, 4, at(3), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], failed(3, 0, 4));
  // Unit 1 had only a reader there: it stays.
  out.clear();
  d.request(3, 1, Access::kWrite, 5, at(3), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], recall(kOwner, 1, RecallMode::kInvalidate, false));
  // Requests from the dead node are ignored.
  out.clear();
  d.request(1, 2, Access::kRead, 6, at(3), out);
  EXPECT_TRUE(out.empty());
}

TEST(PageDirectory, RequesterDyingLeavesTheOwnersCopy) {
  PageDirectory d(4, milliseconds(0));
  std::vector<Action> out;
  d.request(1, 0, Access::kWrite, 1, at(0), out);
  out.clear();
  d.node_dead(1, at(0), out);
  EXPECT_TRUE(out.empty());
  d.recall_done(kOwner, 0, at(0), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], fill(0));
  EXPECT_FALSE(d.view(0).lost);
}

TEST(PageDirectory, BookkeepingFigureMatchesTheStructures) {
  // The figure in docs: must not be below what one idle Unit costs.
  struct Probe {
    uint64_t r;
    Time g;
    void* p;
    std::vector<int> q;
    uint8_t w, h, l;
  };
  EXPECT_GE(kBytesPerUnit, sizeof(Probe) + 3 * sizeof(void*));
}

// ---- model check ---------------------------------------------------------------------

struct Msg {
  enum Kind { kGrant, kRecall, kAck } kind;
  uint64_t unit;
  Access access;
  RecallMode mode;
  bool data;
  int value;
  uint64_t reqid;
};

struct Model {
  static constexpr int kNodes = 4, kUnits = 3;
  PageDirectory dir{kUnits, milliseconds(2)};
  int now_ms = 0;
  struct Copy {
    Access access = Access::kNone;
    int value = 0;
    bool pending = false;
  };
  Copy copy[kNodes][kUnits];
  int owner_store[kUnits] = {0, 0, 0};  // the owner's memfd (valid when an ack filled it)
  int latest[kUnits] = {0, 0, 0};
  bool dead[kNodes] = {false, false, false, false};
  bool lost[kUnits] = {false, false, false};
  std::deque<Msg> to_node[kNodes], to_owner[kNodes];
  uint64_t next_req = 1;
  std::mt19937 rng;

  explicit Model(unsigned seed) : rng(seed) {
    for (int u = 0; u < kUnits; ++u) copy[0][u].access = Access::kWrite;
  }
  Time now() const { return at(now_ms); }

  void run(std::vector<Action>& acts) {
    for (size_t i = 0; i < acts.size(); ++i) apply(acts[i]);
    acts.clear();
  }

  void apply(const Action& a) {
    int u = int(a.unit);
    switch (a.type) {
      case T::kGrant: {
        for (int n = 0; n < kNodes; ++n) {
          if (dead[n]) continue;
          if (a.access == Access::kWrite && n != a.node) {
            ASSERT_EQ(copy[n][u].access, Access::kNone) << n;
          }
          if (a.access == Access::kRead) {
            ASSERT_NE(copy[n][u].access, Access::kWrite) << n;
          }
        }
        Msg m{Msg::kGrant, a.unit, a.access, {}, a.with_data, owner_store[u], a.reqid};
        if (a.node == kOwner) return deliver(0, m);
        // Data comes from the owner's copy, which a remote write grant then drops.
        to_node[a.node].push_back(m);
        if (a.access == Access::kWrite) owner_store[u] = -1;
        return;
      }
      case T::kRecall: {
        Msg m{Msg::kRecall, a.unit, {}, a.mode, a.with_data, 0, 0};
        if (a.node == kOwner) return deliver(0, m);
        to_node[a.node].push_back(m);
        return;
      }
      case T::kFail:
        ASSERT_TRUE(lost[u] || true);
        lost[u] = true;
        copy[a.node][u].pending = false;
        return;
      case T::kFill:
        ASSERT_EQ(owner_store[u], latest[u]);
        copy[0][u].access = Access::kRead;
        copy[0][u].value = owner_store[u];
        return;
    }
  }

  // Node n handles a message from the owner (or the owner from itself).
  void deliver(int n, const Msg& m) {
    Copy& c = copy[n][m.unit];
    if (m.kind == Msg::kGrant) {
      if (m.data) c.value = m.value;
      if (n == 0 && m.data == false && c.access == Access::kNone) c.value = owner_store[m.unit];
      c.access = m.access;
      c.pending = false;
      if (m.access == Access::kWrite) {
        ASSERT_EQ(c.value, latest[m.unit]) << "stale write copy";
      }
      return;
    }
    // A recall.
    Msg ack{Msg::kAck, m.unit, {}, {}, m.data, c.value, 0};
    if (m.mode == RecallMode::kInvalidate) {
      c.access = Access::kNone;
    } else {
      c.access = Access::kRead;
    }
    if (n == 0) {
      std::vector<Action> acts;
      ASSERT_TRUE(dir.recall_done(0, m.unit, now(), acts));
      run(acts);
      return;
    }
    to_owner[n].push_back(ack);
  }

  void owner_receives(int n) {
    Msg m = to_owner[n].front();
    to_owner[n].pop_front();
    if (m.kind == Msg::kAck) {
      if (m.data) owner_store[m.unit] = m.value;
      std::vector<Action> acts;
      ASSERT_TRUE(dir.recall_done(NodeId(n), m.unit, now(), acts));
      run(acts);
    } else {
      std::vector<Action> acts;
      ASSERT_TRUE(dir.request(NodeId(n), m.unit, m.access, m.reqid, now(), acts));
      run(acts);
    }
  }

  void access(int n, int u, bool write) {
    Copy& c = copy[n][u];
    if (c.pending || lost[u]) return;
    if (write ? c.access == Access::kWrite : c.access != Access::kNone) {
      if (write) {
        c.value = ++latest[u];
        if (n == 0) owner_store[u] = c.value;
      } else {
        ASSERT_EQ(c.value, latest[u]) << "node " << n << " read a stale value of unit " << u;
      }
      return;
    }
    c.pending = true;
    Access want = write ? Access::kWrite : Access::kRead;
    uint64_t id = next_req++;
    if (n == 0) {
      std::vector<Action> acts;
      ASSERT_TRUE(dir.request(0, uint64_t(u), want, id, now(), acts));
      run(acts);
      return;
    }
    to_owner[n].push_back({Msg::kGrant /* request */, uint64_t(u), want, {}, false, 0, id});
  }

  void step() {
    int what = int(rng() % 100);
    int n = int(rng() % kNodes), u = int(rng() % kUnits);
    if (dead[n]) return;
    if (what < 35) return access(n, u, rng() % 3 == 0);
    if (what < 60 && n != 0 && !to_node[n].empty()) {
      Msg m = to_node[n].front();
      to_node[n].pop_front();
      return deliver(n, m);
    }
    if (what < 85 && n != 0 && !to_owner[n].empty()) return owner_receives(n);
    if (what < 97) {
      now_ms += 1;
      std::vector<Action> acts;
      dir.tick(now(), acts);
      return run(acts);
    }
    if (what < 98 && n != 0) {
      // Node n dies: its copies and its links go.
      dead[n] = true;
      to_node[n].clear();
      to_owner[n].clear();
      for (int k = 0; k < kUnits; ++k)
        if (copy[n][k].access == Access::kWrite) lost[k] = true;  // may be lost now
      std::vector<Action> acts;
      dir.node_dead(NodeId(n), now(), acts);
      run(acts);
    }
  }

  void drain() {
    for (int round = 0; round < 10000; ++round) {
      bool any = false;
      now_ms += 5;
      std::vector<Action> acts;
      dir.tick(now(), acts);
      run(acts);
      for (int n = 1; n < kNodes; ++n) {
        if (!to_node[n].empty()) {
          Msg m = to_node[n].front();
          to_node[n].pop_front();
          deliver(n, m);
          any = true;
        }
        if (!to_owner[n].empty()) {
          owner_receives(n);
          any = true;
        }
      }
      if (!any && dir.next_deadline() == Time::max()) break;
    }
    for (int n = 0; n < kNodes; ++n)
      for (int u = 0; u < kUnits; ++u)
        if (!dead[n]) {
          EXPECT_FALSE(copy[n][u].pending) << "node " << n << " unit " << u;
        }
  }
};

TEST(PageDirectory, ModelCheckStrictConsistency) {
  for (unsigned seed = 1; seed <= 400; ++seed) {
    Model m(seed);
    for (int i = 0; i < 3000; ++i) {
      m.step();
      if (::testing::Test::HasFatalFailure()) FAIL() << "seed " << seed << " step " << i;
    }
    m.drain();
    if (::testing::Test::HasFailure()) FAIL() << "seed " << seed;
  }
}

}  // namespace
}  // namespace dipc::daemon::dsm
