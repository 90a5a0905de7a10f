// Unit tests for the referee (src/dipcd/referee.h): the cluster's name service and creation
// lock, driven directly with a recording Outbox instead of sockets.
//
// Each test plays the frames a set of nodes would send (lookup, commit, abort, remove, a
// node's death) and checks exactly which answers and removal notices go to whom, including
// the answers that must not be sent yet (a lookup waiting on a creation lock). The clock is
// a variable the test moves (lock leases), and after every test the referee's per-node
// quota counters must match what its tables hold.
#include "dipcd/referee.h"

#include <errno.h>
#include <gtest/gtest.h>
#include <sys/ipc.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace dipc::daemon {
namespace {

using proto::Kind;
using proto::RegRecord;
using proto::RegStatus;

// A RegRecord with its views copied: the referee's views point into its own tables, which
// change as soon as the call returns.
struct Sent {
  std::string to;
  uint64_t reqid = 0;  // 0 for a removal notice
  bool removed = false;
  Kind kind{};
  int32_t key = 0;
  RegStatus status{};
  int32_t err = 0;
  std::string owner, owner_addr;
  uint16_t owner_port = 0;
  int32_t id = 0;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0;
};

class RecordingOutbox : public Referee::Outbox {
 public:
  void reg_reply(const std::string& node, uint64_t reqid, const RegRecord& r) override {
    sent.push_back(Copy(node, reqid, false, r));
  }
  void reg_removed(const std::string& holder, const RegRecord& r) override {
    sent.push_back(Copy(holder, 0, true, r));
  }
  // Returns what was sent since the last call and forgets it.
  std::vector<Sent> Take() {
    std::vector<Sent> out;
    out.swap(sent);
    return out;
  }
  std::vector<Sent> sent;

 private:
  static Sent Copy(const std::string& to, uint64_t reqid, bool removed, const RegRecord& r) {
    Sent s;
    s.to = to;
    s.reqid = reqid;
    s.removed = removed;
    s.kind = r.kind;
    s.key = r.key;
    s.status = r.status;
    s.err = r.err;
    s.owner = std::string(r.owner);
    s.owner_addr = std::string(r.owner_addr);
    s.owner_port = r.owner_port;
    s.id = r.id;
    s.mode = r.mode;
    s.uid = r.uid;
    s.gid = r.gid;
    s.size = r.size;
    return s;
  }
};

constexpr int32_t kKey = 0x1234;
constexpr int kCreat = IPC_CREAT | 0600;
constexpr int kExcl = IPC_CREAT | IPC_EXCL | 0600;

using namespace std::chrono_literals;

// Counts what the tables hold for node, the way the quotas are meant to count it.
Referee::Usage Counted(const Referee& ref, const std::string& node) {
  Referee::Usage u;
  for (auto& [k, e] : ref.entries()) {
    if (e.owner == node) {
      ++u.entries;
      if (e.locked) ++u.locks;
    }
    for (auto& w : e.waiting)
      if (w.node == node) ++u.waiting;
  }
  for (auto& [k, held] : ref.holdings()) u.holds += held.count(node);
  return u;
}

void ExpectUsageConsistent(const Referee& ref) {
  for (const char* n : {"a", "b", "c", "evil"}) {
    Referee::Usage want = Counted(ref, n), got = ref.usage(n);
    EXPECT_EQ(got.entries, want.entries) << "entries of " << n;
    EXPECT_EQ(got.locks, want.locks) << "locks of " << n;
    EXPECT_EQ(got.waiting, want.waiting) << "waiting lookups of " << n;
    EXPECT_EQ(got.holds, want.holds) << "announced holdings of " << n;
  }
}

class RefereeTest : public ::testing::Test {
 protected:
  RefereeTest() : RefereeTest(Referee::Limits{}) {}
  explicit RefereeTest(Referee::Limits limits) : ref_(out_, limits, [this] { return now_; }) {
    ref_.node_joined("a", "10.0.0.1", 7001);
    ref_.node_joined("b", "10.0.0.2", 7002);
    ref_.node_joined("c", "10.0.0.3", 7003);
  }
  void TearDown() override { ExpectUsageConsistent(ref_); }

  // The commit a node sends once it has created the object.
  void Commit(const std::string& from, int32_t id, Kind kind = Kind::kMsg, int32_t key = kKey) {
    RegRecord r;
    r.kind = kind;
    r.key = key;
    r.id = id;
    r.mode = 0640;
    r.uid = 1000;
    r.gid = 100;
    r.size = 3;
    ref_.commit(from, r);
  }

  // Node from looks key up and is expected to get exactly one answer with this status.
  Sent LookupAnswered(const std::string& from, uint64_t reqid, int flags, Kind kind = Kind::kMsg,
                      int32_t key = kKey) {
    ref_.lookup(from, reqid, kind, key, flags);
    auto sent = out_.Take();
    EXPECT_EQ(sent.size(), 1u) << "lookup from " << from << " was not answered exactly once";
    if (sent.empty()) return {};
    EXPECT_EQ(sent[0].to, from);
    EXPECT_EQ(sent[0].reqid, reqid);
    EXPECT_FALSE(sent[0].removed);
    EXPECT_EQ(sent[0].kind, kind);
    EXPECT_EQ(sent[0].key, key);
    return sent[0];
  }

  void LookupWaits(const std::string& from, uint64_t reqid, int flags) {
    ref_.lookup(from, reqid, Kind::kMsg, kKey, flags);
    EXPECT_TRUE(out_.Take().empty()) << "lookup from " << from << " answered while locked";
  }

  // After a's lock on kKey went (abort, lease), b (waiting, IPC_EXCL) gets it and c
  // (waiting, IPC_EXCL) gets EEXIST once b commits.
  void ExpectBCreatesThenCGetsEexist() {
    auto sent = out_.Take();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, "b");
    EXPECT_EQ(sent[0].status, RegStatus::kCreate);
    Commit("b", 2);
    sent = out_.Take();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].to, "c");
    EXPECT_EQ(sent[0].err, EEXIST);
  }

  const Referee::Entry* Find(Kind kind = Kind::kMsg, int32_t key = kKey) {
    auto it = ref_.entries().find({uint8_t(kind), key});
    return it == ref_.entries().end() ? nullptr : &it->second;
  }

  Referee::Clock::time_point now_{};
  RecordingOutbox out_;
  Referee ref_;
};

TEST_F(RefereeTest, AbsentKeyWithoutCreateIsEnoent) {
  Sent s = LookupAnswered("a", 1, 0600);
  EXPECT_EQ(s.status, RegStatus::kError);
  EXPECT_EQ(s.err, ENOENT);
  EXPECT_EQ(Find(), nullptr);
}

TEST_F(RefereeTest, AbsentKeyWithCreateLocksItForTheAsker) {
  Sent s = LookupAnswered("a", 1, kCreat);
  EXPECT_EQ(s.status, RegStatus::kCreate);
  const Referee::Entry* e = Find();
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->locked);
  EXPECT_EQ(e->owner, "a");
  EXPECT_TRUE(e->holders.empty());
}

TEST_F(RefereeTest, LookupWhileLockedWaitsForCommitThenGetsTheOwner) {
  LookupAnswered("a", 1, kCreat);
  LookupWaits("b", 7, kCreat);
  LookupWaits("c", 8, 0);  // no IPC_CREAT: waits too, the key may be about to exist
  Commit("a", 42);
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 2u);
  // Answered in arrival order.
  EXPECT_EQ(sent[0].to, "b");
  EXPECT_EQ(sent[0].reqid, 7u);
  EXPECT_EQ(sent[1].to, "c");
  EXPECT_EQ(sent[1].reqid, 8u);
  for (const Sent& s : sent) {
    EXPECT_FALSE(s.removed);
    EXPECT_EQ(s.status, RegStatus::kExists);
    EXPECT_EQ(s.err, 0);
    EXPECT_EQ(s.kind, Kind::kMsg);
    EXPECT_EQ(s.key, kKey);
    EXPECT_EQ(s.owner, "a");
    EXPECT_EQ(s.owner_addr, "10.0.0.1");
    EXPECT_EQ(s.owner_port, 7001);
    EXPECT_EQ(s.id, 42);
    EXPECT_EQ(s.mode, 0640u);
    EXPECT_EQ(s.uid, 1000u);
    EXPECT_EQ(s.gid, 100u);
    EXPECT_EQ(s.size, 3u);
  }
  const Referee::Entry* e = Find();
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->locked);
  EXPECT_TRUE(e->waiting.empty());
  EXPECT_EQ(e->holders, (std::set<std::string>{"b", "c"}));
}

TEST_F(RefereeTest, ExclusiveLookupWhileLockedGetsEexistAfterCommit) {
  LookupAnswered("a", 1, kExcl);
  LookupWaits("b", 2, kExcl);
  Commit("a", 5);
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "b");
  EXPECT_EQ(sent[0].reqid, 2u);
  EXPECT_EQ(sent[0].status, RegStatus::kError);
  EXPECT_EQ(sent[0].err, EEXIST);
  EXPECT_TRUE(Find()->holders.empty());  // an EEXIST answer makes no holder
}

TEST_F(RefereeTest, ExistingKeyAnsweredAtOnce) {
  LookupAnswered("a", 1, kCreat);
  Commit("a", 9);
  Sent s = LookupAnswered("b", 2, 0);
  EXPECT_EQ(s.status, RegStatus::kExists);
  EXPECT_EQ(s.owner, "a");
  EXPECT_EQ(s.id, 9);
  s = LookupAnswered("c", 3, kExcl);
  EXPECT_EQ(s.status, RegStatus::kError);
  EXPECT_EQ(s.err, EEXIST);
  // The owner looking its own key up is not a holder of it.
  s = LookupAnswered("a", 4, kCreat);
  EXPECT_EQ(s.status, RegStatus::kExists);
  EXPECT_EQ(Find()->holders, (std::set<std::string>{"b"}));
}

TEST_F(RefereeTest, AbortReleasesTheLockAndTheWaiterCreates) {
  LookupAnswered("a", 1, kCreat);
  LookupWaits("b", 2, kCreat);
  LookupWaits("c", 3, kCreat);
  ref_.abort("a", Kind::kMsg, kKey);
  auto sent = out_.Take();
  // b is first in line and takes the lock; c waits for b now.
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "b");
  EXPECT_EQ(sent[0].reqid, 2u);
  EXPECT_EQ(sent[0].status, RegStatus::kCreate);
  ASSERT_NE(Find(), nullptr);
  EXPECT_TRUE(Find()->locked);
  EXPECT_EQ(Find()->owner, "b");

  Commit("b", 11);
  sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "c");
  EXPECT_EQ(sent[0].reqid, 3u);
  EXPECT_EQ(sent[0].status, RegStatus::kExists);
  EXPECT_EQ(sent[0].owner, "b");
  EXPECT_EQ(sent[0].owner_addr, "10.0.0.2");
  EXPECT_EQ(sent[0].owner_port, 7002);
  EXPECT_EQ(sent[0].id, 11);
}

TEST_F(RefereeTest, AbortAnswersWaitersWithoutCreateEnoent) {
  LookupAnswered("a", 1, kCreat);
  LookupWaits("b", 2, 0);
  ref_.abort("a", Kind::kMsg, kKey);
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "b");
  EXPECT_EQ(sent[0].status, RegStatus::kError);
  EXPECT_EQ(sent[0].err, ENOENT);
  EXPECT_EQ(Find(), nullptr);
}

TEST_F(RefereeTest, AbortByAnotherNodeOrOfACommittedKeyIsIgnored) {
  LookupAnswered("a", 1, kCreat);
  LookupWaits("b", 2, kCreat);
  ref_.abort("b", Kind::kMsg, kKey);
  EXPECT_TRUE(out_.Take().empty());
  ASSERT_NE(Find(), nullptr);
  EXPECT_TRUE(Find()->locked);
  EXPECT_EQ(Find()->owner, "a");
  Commit("a", 1);
  out_.Take();
  ref_.abort("a", Kind::kMsg, kKey);  // too late: committed
  ASSERT_NE(Find(), nullptr);
  EXPECT_FALSE(Find()->locked);
  ref_.abort("a", Kind::kSem, 99);  // unknown key
  EXPECT_TRUE(out_.Take().empty());
}

TEST_F(RefereeTest, ThreeNodesRaceExclusiveCreateOneWins) {
  ref_.lookup("a", 1, Kind::kMsg, kKey, kExcl);
  ref_.lookup("b", 2, Kind::kMsg, kKey, kExcl);
  ref_.lookup("c", 3, Kind::kMsg, kKey, kExcl);
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].status, RegStatus::kCreate);
  const std::string winner = sent[0].to;
  Commit(winner, 1);
  sent = out_.Take();
  ASSERT_EQ(sent.size(), 2u);
  for (const Sent& s : sent) {
    EXPECT_NE(s.to, winner);
    EXPECT_EQ(s.status, RegStatus::kError);
    EXPECT_EQ(s.err, EEXIST);
  }
  EXPECT_NE(sent[0].to, sent[1].to);
}

TEST_F(RefereeTest, ExclusiveRaceWinnerAbortsNextOneWins) {
  ref_.lookup("a", 1, Kind::kMsg, kKey, kExcl);
  ref_.lookup("b", 2, Kind::kMsg, kKey, kExcl);
  ref_.lookup("c", 3, Kind::kMsg, kKey, kExcl);
  ASSERT_EQ(out_.Take().size(), 1u);
  ref_.abort("a", Kind::kMsg, kKey);
  ExpectBCreatesThenCGetsEexist();
}

TEST_F(RefereeTest, KindsHaveSeparateKeySpaces) {
  LookupAnswered("a", 1, kCreat, Kind::kMsg);
  Sent s = LookupAnswered("b", 2, kCreat, Kind::kSem);  // not locked by a's queue
  EXPECT_EQ(s.status, RegStatus::kCreate);
  s = LookupAnswered("c", 3, 0, Kind::kShm);
  EXPECT_EQ(s.err, ENOENT);
  EXPECT_EQ(ref_.entries().size(), 2u);
}

TEST_F(RefereeTest, RemoveNotifiesEachHolderButNotTheOwner) {
  LookupAnswered("a", 1, kCreat);
  Commit("a", 17);
  LookupAnswered("b", 2, 0);
  LookupAnswered("c", 3, kCreat);
  LookupAnswered("a", 4, 0);  // the owner itself
  ref_.remove("a", Kind::kMsg, kKey);
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 2u);
  std::set<std::string> told;
  for (const Sent& s : sent) {
    EXPECT_TRUE(s.removed);
    EXPECT_EQ(s.kind, Kind::kMsg);
    EXPECT_EQ(s.key, kKey);
    EXPECT_EQ(s.owner, "a");
    EXPECT_EQ(s.id, 17);
    told.insert(s.to);
  }
  EXPECT_EQ(told, (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(Find(), nullptr);
  EXPECT_EQ(LookupAnswered("b", 5, 0).err, ENOENT);
}

TEST_F(RefereeTest, RemoveByANonOwnerIsIgnored) {
  LookupAnswered("a", 1, kCreat);
  Commit("a", 17);
  LookupAnswered("b", 2, 0);
  ref_.remove("b", Kind::kMsg, kKey);
  ref_.remove("c", Kind::kMsg, kKey);
  ref_.remove("a", Kind::kSem, kKey);  // right owner, wrong kind
  EXPECT_TRUE(out_.Take().empty());
  ASSERT_NE(Find(), nullptr);
  EXPECT_EQ(Find()->owner, "a");
  EXPECT_EQ(Find()->holders, (std::set<std::string>{"b"}));
}

TEST_F(RefereeTest, RemoveOfALockedKeyIsIgnored) {
  LookupAnswered("a", 1, kCreat);
  LookupWaits("b", 2, kCreat);
  ref_.remove("a", Kind::kMsg, kKey);
  EXPECT_TRUE(out_.Take().empty());
  ASSERT_NE(Find(), nullptr);
  EXPECT_TRUE(Find()->locked);
  EXPECT_EQ(Find()->waiting.size(), 1u);
}

TEST_F(RefereeTest, DeadOwnerNotifiesHoldersAndIsForgotten) {
  LookupAnswered("a", 1, kCreat);
  Commit("a", 3);
  LookupAnswered("a", 10, kCreat, Kind::kSem, 77);
  Commit("a", 4, Kind::kSem, 77);
  LookupAnswered("b", 2, 0);
  LookupAnswered("c", 3, 0, Kind::kSem, 77);
  ref_.node_dead("a");
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 2u);
  for (const Sent& s : sent) {
    EXPECT_TRUE(s.removed);
    EXPECT_EQ(s.owner, "a");
    if (s.to == "b") {
      EXPECT_EQ(s.kind, Kind::kMsg);
      EXPECT_EQ(s.key, kKey);
      EXPECT_EQ(s.id, 3);
    } else {
      EXPECT_EQ(s.to, "c");
      EXPECT_EQ(s.kind, Kind::kSem);
      EXPECT_EQ(s.key, 77);
      EXPECT_EQ(s.id, 4);
    }
  }
  EXPECT_TRUE(ref_.entries().empty());
  EXPECT_EQ(ref_.nodes().count("a"), 0u);
  EXPECT_EQ(LookupAnswered("b", 5, 0).err, ENOENT);
}

TEST_F(RefereeTest, DeadLockHolderAbortsAndWaitersProceed) {
  LookupAnswered("a", 1, kCreat);
  LookupWaits("b", 2, kCreat);
  LookupWaits("c", 3, kExcl);
  ref_.node_dead("a");
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "b");
  EXPECT_EQ(sent[0].reqid, 2u);
  EXPECT_EQ(sent[0].status, RegStatus::kCreate);
  ASSERT_NE(Find(), nullptr);
  EXPECT_EQ(Find()->owner, "b");
  Commit("b", 8);
  sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "c");
  EXPECT_EQ(sent[0].err, EEXIST);
}

TEST_F(RefereeTest, DeadNodeLeavesHoldersAndWaitingLists) {
  // b holds a's queue and waits on a's semaphore set being created.
  LookupAnswered("a", 1, kCreat);
  Commit("a", 3);
  LookupAnswered("b", 2, 0);
  LookupAnswered("c", 3, 0);
  LookupAnswered("a", 4, kCreat, Kind::kSem, 77);
  ref_.lookup("b", 5, Kind::kSem, 77, kCreat);
  ref_.lookup("c", 6, Kind::kSem, 77, kCreat);
  EXPECT_TRUE(out_.Take().empty());

  ref_.node_dead("b");
  EXPECT_TRUE(out_.Take().empty());
  EXPECT_EQ(Find()->holders, (std::set<std::string>{"c"}));
  const Referee::Entry* sem = Find(Kind::kSem, 77);
  ASSERT_NE(sem, nullptr);
  ASSERT_EQ(sem->waiting.size(), 1u);
  EXPECT_EQ(sem->waiting[0].node, "c");
  EXPECT_EQ(ref_.nodes().count("b"), 0u);

  // Neither the commit nor the removal speaks to the dead node.
  Commit("a", 4, Kind::kSem, 77);
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "c");
  ref_.remove("a", Kind::kMsg, kKey);
  sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "c");
  EXPECT_TRUE(sent[0].removed);
}

TEST_F(RefereeTest, CommitOfAKeyOwnedByAnotherNodeIsIgnored) {
  Commit("a", 5);  // rebuild: a owns it
  Commit("b", 9);
  ASSERT_NE(Find(), nullptr);
  EXPECT_EQ(Find()->owner, "a");
  EXPECT_EQ(Find()->id, 5);
  // Also while a holds the creation lock: b cannot commit over it.
  LookupAnswered("a", 1, kCreat, Kind::kShm, 8);
  Commit("b", 6, Kind::kShm, 8);
  const Referee::Entry* e = Find(Kind::kShm, 8);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->locked);
  EXPECT_EQ(e->owner, "a");
}

TEST_F(RefereeTest, RecommitOfAnUnknownKeyRegistersIt) {
  // A node (re)joining after a referee restart commits what it owns, without a lookup.
  Commit("c", 21, Kind::kShm, 55);
  EXPECT_TRUE(out_.Take().empty());
  const Referee::Entry* e = Find(Kind::kShm, 55);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->locked);
  EXPECT_EQ(e->owner, "c");
  EXPECT_EQ(e->id, 21);
  EXPECT_EQ(e->mode, 0640u);
  Sent s = LookupAnswered("a", 1, kCreat, Kind::kShm, 55);
  EXPECT_EQ(s.status, RegStatus::kExists);
  EXPECT_EQ(s.owner, "c");
  EXPECT_EQ(s.owner_addr, "10.0.0.3");
  EXPECT_EQ(s.owner_port, 7003);
  EXPECT_EQ(s.id, 21);
  EXPECT_EQ(s.size, 3u);
  // The owner committing again (a second rebuild) updates it and keeps its holders.
  Commit("c", 22, Kind::kShm, 55);
  EXPECT_EQ(Find(Kind::kShm, 55)->id, 22);
  EXPECT_EQ(Find(Kind::kShm, 55)->holders, (std::set<std::string>{"a"}));
}

TEST_F(RefereeTest, OwnerAddressComesFromTheLatestJoin) {
  Commit("a", 1);
  ref_.node_joined("a", "192.168.1.9", 9000);
  Sent s = LookupAnswered("b", 1, 0);
  EXPECT_EQ(s.owner_addr, "192.168.1.9");
  EXPECT_EQ(s.owner_port, 9000);
}

// --- Creation locks are leases -------------------------------------------------------------

// The attack: a node locks a key (lookup with IPC_CREAT) and never commits nor aborts, while
// its link stays up. Another node's msgget must not wait for ever: the lock is released when
// its lease ends, and the first waiter gets to create the key.
TEST_F(RefereeTest, LockNeverCommittedIsReleasedWhenItsLeaseEnds) {
  EXPECT_EQ(LookupAnswered("a", 1, kCreat).status, RegStatus::kCreate);
  LookupWaits("b", 2, kCreat);
  LookupWaits("c", 3, 0);
  now_ += ref_.limits().lock_lease - 1ms;
  EXPECT_EQ(ref_.expire(), 0u);
  EXPECT_TRUE(out_.Take().empty()) << "released before its lease ended";
  now_ += 1ms;
  EXPECT_EQ(ref_.expire(), 1u);
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "b");
  EXPECT_EQ(sent[0].reqid, 2u);
  EXPECT_EQ(sent[0].status, RegStatus::kCreate);
  ASSERT_NE(Find(), nullptr);
  EXPECT_EQ(Find()->owner, "b");
  // b's lease starts now, not when a's did.
  now_ += ref_.limits().lock_lease - 1ms;
  EXPECT_EQ(ref_.expire(), 0u);
  // a's late commit cannot take the key from b; b's commit answers c.
  RegRecord late;
  late.kind = Kind::kMsg;
  late.key = kKey;
  late.id = 99;
  EXPECT_FALSE(ref_.commit("a", late));
  EXPECT_EQ(Find()->owner, "b");
  EXPECT_TRUE(Find()->locked);
  Commit("b", 12);
  sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "c");
  EXPECT_EQ(sent[0].status, RegStatus::kExists);
  EXPECT_EQ(sent[0].owner, "b");
  EXPECT_EQ(sent[0].id, 12);
}

TEST_F(RefereeTest, ExpiredLockWithoutWaitersFreesTheKeyAndALateCommitRegistersIt) {
  LookupAnswered("a", 1, kExcl);
  now_ += ref_.limits().lock_lease;
  EXPECT_EQ(ref_.expire(), 1u);
  EXPECT_EQ(Find(), nullptr);
  EXPECT_TRUE(out_.Take().empty());
  // The object a did create is real: registering it now, the key being free, is right.
  Commit("a", 7);
  ASSERT_NE(Find(), nullptr);
  EXPECT_FALSE(Find()->locked);
  EXPECT_EQ(Find()->owner, "a");
  // A committed entry has no lease.
  now_ += 10 * ref_.limits().lock_lease;
  EXPECT_EQ(ref_.expire(), 0u);
  EXPECT_EQ(LookupAnswered("b", 2, 0).id, 7);
}

TEST_F(RefereeTest, AnExclusiveWaiterGetsEexistAfterTheExpiredLockHolderIsReplaced) {
  LookupAnswered("a", 1, kExcl);
  LookupWaits("b", 2, kExcl);
  LookupWaits("c", 3, kExcl);
  now_ += ref_.limits().lock_lease;
  ref_.expire();
  ExpectBCreatesThenCGetsEexist();
}

// --- Registrations only for keys the sender may claim ---------------------------------------

// The attack: a member registers (commits) a key another node owns, hoping that lookups then
// send the victim's callers, and their message text, to it.
TEST_F(RefereeTest, AFakeOwnerCannotRegisterAVictimsKey) {
  LookupAnswered("a", 1, kCreat);
  Commit("a", 3);
  LookupAnswered("c", 2, 0);
  RegRecord fake;
  fake.kind = Kind::kMsg;
  fake.key = kKey;
  fake.id = 666;
  fake.mode = 0666;
  EXPECT_FALSE(ref_.commit("evil", fake));
  // Nor by removing it first, or aborting it: only the owner removes, only the locker aborts.
  ref_.remove("evil", Kind::kMsg, kKey);
  ref_.abort("evil", Kind::kMsg, kKey);
  EXPECT_FALSE(ref_.commit("evil", fake));
  EXPECT_TRUE(out_.Take().empty());
  Sent s = LookupAnswered("b", 3, 0);
  EXPECT_EQ(s.owner, "a");
  EXPECT_EQ(s.owner_addr, "10.0.0.1");
  EXPECT_EQ(s.id, 3);
  EXPECT_EQ(s.mode, 0640u);
  EXPECT_EQ(Find()->holders, (std::set<std::string>{"b", "c"}));
  // While the victim is creating a key, the fake owner cannot commit it either.
  LookupAnswered("a", 4, kCreat, Kind::kSem, 5);
  fake.kind = Kind::kSem;
  fake.key = 5;
  EXPECT_FALSE(ref_.commit("evil", fake));
  EXPECT_EQ(Find(Kind::kSem, 5)->owner, "a");
  EXPECT_TRUE(Find(Kind::kSem, 5)->locked);
}

// --- Per-node quotas ------------------------------------------------------------------------

class RefereeQuotaTest : public RefereeTest {
 protected:
  static Referee::Limits Small() {
    Referee::Limits l;
    l.entries_per_node = 3;
    l.locks_per_node = 2;
    l.waiting_per_node = 2;
    return l;
  }
  RefereeQuotaTest() : RefereeTest(Small()) {}
};

TEST_F(RefereeQuotaTest, LocksPastTheQuotaAreEagainUntilOneIsCommitted) {
  EXPECT_EQ(LookupAnswered("a", 1, kCreat, Kind::kMsg, 1).status, RegStatus::kCreate);
  EXPECT_EQ(LookupAnswered("a", 2, kCreat, Kind::kMsg, 2).status, RegStatus::kCreate);
  Sent s = LookupAnswered("a", 3, kCreat, Kind::kMsg, 3);
  EXPECT_EQ(s.status, RegStatus::kError);
  EXPECT_EQ(s.err, EAGAIN);
  EXPECT_EQ(Find(Kind::kMsg, 3), nullptr);
  // Another node's quota is its own.
  EXPECT_EQ(LookupAnswered("b", 4, kCreat, Kind::kMsg, 3).status, RegStatus::kCreate);
  Commit("a", 10, Kind::kMsg, 1);
  EXPECT_EQ(LookupAnswered("a", 5, kCreat, Kind::kMsg, 4).status, RegStatus::kCreate);
  EXPECT_EQ(ref_.usage("a").locks, 2u);
  EXPECT_EQ(ref_.usage("a").entries, 3u);
}

TEST_F(RefereeQuotaTest, EntriesPastTheQuotaAreEnospcAndReRegistrationsRefused) {
  for (int32_t k = 1; k <= 3; ++k) {
    EXPECT_EQ(LookupAnswered("a", k, kCreat, Kind::kMsg, k).status, RegStatus::kCreate);
    Commit("a", k, Kind::kMsg, k);
  }
  Sent s = LookupAnswered("a", 9, kCreat, Kind::kMsg, 4);
  EXPECT_EQ(s.status, RegStatus::kError);
  EXPECT_EQ(s.err, ENOSPC);
  RegRecord r;
  r.kind = Kind::kShm;
  r.key = 77;
  r.id = 1;
  EXPECT_FALSE(ref_.commit("a", r)) << "a re-registration over the quota";
  EXPECT_EQ(Find(Kind::kShm, 77), nullptr);
  // Looking up existing keys is not creating: still answered.
  EXPECT_EQ(LookupAnswered("a", 10, 0, Kind::kMsg, 2).status, RegStatus::kExists);
  // Re-committing what it owns is not a new entry either.
  Commit("a", 20, Kind::kMsg, 2);
  EXPECT_EQ(Find(Kind::kMsg, 2)->id, 20);
  ref_.remove("a", Kind::kMsg, 1);
  EXPECT_EQ(LookupAnswered("a", 11, kCreat, Kind::kMsg, 4).status, RegStatus::kCreate);
}

TEST_F(RefereeQuotaTest, WaitingLookupsPastTheQuotaAreEagain) {
  LookupAnswered("a", 1, kCreat);
  LookupWaits("b", 2, 0);
  LookupWaits("b", 3, 0);
  Sent s = LookupAnswered("b", 4, 0);
  EXPECT_EQ(s.err, EAGAIN);
  LookupWaits("c", 5, 0);
  Commit("a", 1);
  EXPECT_EQ(out_.Take().size(), 3u);
  EXPECT_EQ(ref_.usage("b").waiting, 0u);
}

TEST_F(RefereeQuotaTest, ADeadNodeGivesItsQuotaBack) {
  LookupAnswered("a", 1, kCreat, Kind::kMsg, 1);
  Commit("a", 1, Kind::kMsg, 1);
  LookupAnswered("a", 2, kCreat, Kind::kMsg, 2);
  LookupAnswered("b", 3, kCreat, Kind::kMsg, 3);
  ref_.lookup("a", 4, Kind::kMsg, 3, 0);
  ref_.node_dead("a");
  EXPECT_EQ(ref_.usage("a"), Referee::Usage{});
  ref_.node_joined("a", "10.0.0.1", 7001);
  for (int32_t k = 11; k <= 12; ++k)
    EXPECT_EQ(LookupAnswered("a", k, kCreat, Kind::kMsg, k).status, RegStatus::kCreate);
}

// --- A restarted referee learns its holders again (kRegHold) --------------------------------

class RefereeHoldTest : public RefereeTest {
 protected:
  void Hold(const std::string& from, const std::string& owner, int32_t id, int32_t key = kKey) {
    RegRecord r;
    r.kind = Kind::kMsg;
    r.key = key;
    r.owner = owner;
    r.id = id;
    ref_.hold(from, r);
  }
  // Exactly one removal notice, to holder, for owner's object id.
  void ExpectRemovedNotice(const std::string& holder, const std::string& owner, int32_t id) {
    auto sent = out_.Take();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_TRUE(sent[0].removed);
    EXPECT_EQ(sent[0].to, holder);
    EXPECT_EQ(sent[0].kind, Kind::kMsg);
    EXPECT_EQ(sent[0].key, kKey);
    EXPECT_EQ(sent[0].owner, owner);
    EXPECT_EQ(sent[0].id, id);
  }
};

// The bug: after a referee restart only owners re-registered, so a later IPC_RMID never
// reached the holders. A holder that re-announces before its owner is back is a holder once
// the owner has re-registered, and is told of the removal.
TEST_F(RefereeHoldTest, AHoldingAnnouncedBeforeTheOwnerIsBackMakesAHolder) {
  Hold("c", "a", 3);
  EXPECT_TRUE(out_.Take().empty());
  EXPECT_EQ(Find(), nullptr) << "a holding is not an entry";
  EXPECT_EQ(LookupAnswered("b", 1, 0).err, ENOENT);
  Commit("a", 3);  // the owner re-registers
  EXPECT_TRUE(out_.Take().empty());
  EXPECT_EQ(Find()->holders, (std::set<std::string>{"c"}));
  EXPECT_TRUE(ref_.holdings().empty());
  ref_.remove("a", Kind::kMsg, kKey);
  ExpectRemovedNotice("c", "a", 3);
}

TEST_F(RefereeHoldTest, AHoldingAnnouncedAfterTheOwnerIsBackMakesAHolderAtOnce) {
  Commit("a", 3);
  Hold("c", "a", 3);
  Hold("b", "a", 3);
  EXPECT_TRUE(out_.Take().empty());
  EXPECT_EQ(Find()->holders, (std::set<std::string>{"b", "c"}));
  ref_.node_dead("a");
  auto sent = out_.Take();
  EXPECT_EQ(sent.size(), 2u);
}

TEST_F(RefereeHoldTest, AHoldingOfAnotherObjectIsToldItIsGone) {
  Commit("a", 4);   // the owner's object is now id 4
  Hold("c", "a", 3);
  ExpectRemovedNotice("c", "a", 3);
  Hold("c", "b", 4);  // another owner
  ExpectRemovedNotice("c", "b", 4);
  EXPECT_TRUE(Find()->holders.empty());
  // The same when the mismatch shows at the owner's re-registration.
  Hold("b", "a", 7, 99);
  Commit("c", 7, Kind::kMsg, 99);
  auto sent = out_.Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].to, "b");
  EXPECT_TRUE(sent[0].removed);
  EXPECT_EQ(sent[0].key, 99);
  EXPECT_EQ(sent[0].owner, "a");
  EXPECT_TRUE(Find(Kind::kMsg, 99)->holders.empty());
}

TEST_F(RefereeHoldTest, AHoldingWhoseOwnerNeverComesBackEndsWithANotice) {
  Hold("c", "a", 3);
  now_ += ref_.limits().hold_wait - 1ms;
  ref_.expire();
  EXPECT_TRUE(out_.Take().empty());
  Hold("c", "a", 3);  // announced again (a second rejoin): the wait starts again
  now_ += ref_.limits().hold_wait - 1ms;
  ref_.expire();
  EXPECT_TRUE(out_.Take().empty());
  now_ += 1ms;
  ref_.expire();
  ExpectRemovedNotice("c", "a", 3);
  EXPECT_TRUE(ref_.holdings().empty());
}

TEST_F(RefereeHoldTest, DeadNodesEndTheirHoldingsAndTheHoldingsOfTheirObjects) {
  Hold("c", "a", 3);
  Hold("b", "c", 5, 77);
  ref_.node_dead("a");
  ExpectRemovedNotice("c", "a", 3);
  ref_.node_dead("b");
  EXPECT_TRUE(out_.Take().empty());
  EXPECT_TRUE(ref_.holdings().empty());
  Commit("c", 5, Kind::kMsg, 77);
  EXPECT_TRUE(Find(Kind::kMsg, 77)->holders.empty());
}

TEST_F(RefereeHoldTest, AnOwnerCannotHoldItsOwnObject) {
  Hold("a", "a", 3);
  Hold("a", "", 3);
  EXPECT_TRUE(ref_.holdings().empty());
  Commit("a", 3);
  EXPECT_TRUE(Find()->holders.empty());
  EXPECT_TRUE(out_.Take().empty());
}

TEST(RefereeHoldQuota, HoldingsPastTheQuotaAreIgnored) {
  RecordingOutbox out;
  Referee::Limits l;
  l.holds_per_node = 2;
  Referee ref(out, l, [] { return Referee::Clock::time_point{}; });
  RegRecord r;
  r.kind = Kind::kMsg;
  r.owner = "a";
  for (int32_t k = 1; k <= 3; ++k) {
    r.key = k;
    r.id = k;
    ref.hold("c", r);
  }
  EXPECT_EQ(ref.usage("c").holds, 2u);
  EXPECT_EQ(ref.holdings().size(), 2u);
  r.key = 1;
  ref.hold("c", r);  // the same holding again is not a new one
  EXPECT_EQ(ref.usage("c").holds, 2u);
  ExpectUsageConsistent(ref);
}

}  // namespace
}  // namespace dipc::daemon
