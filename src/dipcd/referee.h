// Referee: the cluster's name server, run by one node's dipcd.
//
// It knows every distributed key in use (per kind: queues, semaphore sets and segments
// have separate key spaces, as in the kernel), which node owns each, which nodes hold a
// placeholder, and it serialises creation: a node that may create a key gets it locked
// until it commits (created) or aborts; lookups of a locked key wait, so IPC_CREAT|IPC_EXCL
// has one winner across the cluster. It holds no sockets: everything it says goes through
// an Outbox, and its clock is injected, which makes it testable on its own.
//
// What a node may say (everything else is ignored; see docs/security.md):
//  - a commit registers a key the sender locked, re-registers a key the sender owns, or
//    registers a free key (a node re-registering what it owns after the referee
//    restarted); never a key another node owns or is creating;
//  - an abort releases the sender's own lock; a remove drops the sender's own object;
//  - a hold (a node re-announcing a placeholder when it rejoins, so that a restarted referee
//    knows its holders too) makes the sender a holder of the object it names once that
//    object's owner has registered it; a holding that does not match what the owner
//    registers, or whose owner has not registered it within Limits::hold_wait, is answered
//    with a removal notice (the placeholder is stale);
// Creation locks are leases: released when the locking node is dead (its link lost) and
// when Limits::lock_lease has passed without a commit (expire(), called once a second), so
// a node that locks a key and never commits cannot make other nodes' msgget wait for ever.
// Per-node quotas (Limits): past them a lookup is answered ENOSPC (entries) or EAGAIN (locks,
// waiting lookups), and a commit or hold is ignored.
// The table can be rebuilt: a node that (re)joins commits what it owns and re-announces
// the placeholders it holds.
// Thread safety: io thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace dipc::daemon {

class Referee {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;

  class Outbox {
   public:
    virtual ~Outbox() = default;
    // The answer to a lookup from node (request id reqid).
    virtual void reg_reply(const std::string& node, uint64_t reqid, const proto::RegRecord& r) = 0;
    // Tells holder that the object is gone and its placeholder must go.
    virtual void reg_removed(const std::string& holder, const proto::RegRecord& r) = 0;
  };

  // The bounds, per node (docs/security.md lists them with these defaults).
  struct Limits {
    size_t entries_per_node = 65536;              // keys it owns or is creating; past it ENOSPC
    size_t locks_per_node = 256;                  // creations in flight; past it EAGAIN
    size_t waiting_per_node = 4096;               // lookups waiting on a lock; past it EAGAIN
    size_t holds_per_node = 65536;                // announced holdings waiting for their owner
    std::chrono::milliseconds lock_lease{10000};  // a lock not committed by then is released
    std::chrono::milliseconds hold_wait{30000};   // an announced holding's owner is back by then
  };

  struct NodeInfo {
    std::string address;
    uint16_t port = 0;
  };

  struct Entry {
    proto::Kind kind{};
    int32_t key = 0;
    bool locked = false;            // a node is creating it
    Clock::time_point lease_end{};  // while locked: released at this time
    std::string owner;              // the creating node while locked
    int32_t id = 0;                 // the owner's id
    uint32_t mode = 0, uid = 0, gid = 0;
    uint64_t size = 0;
    std::set<std::string> holders;
    struct Waiting {
      std::string node;
      uint64_t reqid;
      int32_t flags;
    };
    std::deque<Waiting> waiting;
  };

  // A placeholder a node announced (hold) for an object whose owner has not registered yet.
  struct Holding {
    std::string owner;
    int32_t id = 0;
    Clock::time_point until{};
  };

  // What a node uses of the quotas.
  struct Usage {
    size_t entries = 0, locks = 0, waiting = 0, holds = 0;
    bool operator==(const Usage&) const = default;
  };

  explicit Referee(Outbox& out);
  Referee(Outbox& out, Limits limits, Now now);

  void node_joined(const std::string& name, const std::string& address, uint16_t port);
  // Fail-stop: the node's objects are gone, its locks released, its holdings dropped.
  void node_dead(const std::string& name);
  void lookup(const std::string& from, uint64_t reqid, proto::Kind kind, int32_t key,
              int32_t flags);
  // False when the commit was refused (not the sender's to register, or over its quota).
  bool commit(const std::string& from, const proto::RegRecord& r);
  void abort(const std::string& from, proto::Kind kind, int32_t key);
  void remove(const std::string& from, proto::Kind kind, int32_t key);
  // from holds a placeholder of r.owner's object r.id (r.kind, r.key).
  void hold(const std::string& from, const proto::RegRecord& r);
  // Releases the locks whose lease has ended and the holdings whose owner has not come back
  // in time (a removal notice to the holder); returns how many locks it released.
  size_t expire();

  const std::map<std::pair<uint8_t, int32_t>, Entry>& entries() const { return entries_; }
  // Every entry as a record (for dipc ls); the records' holder lists point into storage.
  std::vector<proto::RegRecord> records(std::vector<std::string>& storage) const;
  const std::map<std::string, NodeInfo>& nodes() const { return nodes_; }
  Usage usage(const std::string& node) const;
  const Limits& limits() const { return limits_; }
  // Announced holdings still waiting for their owner: (kind, key) -> holder -> what.
  const std::map<std::pair<uint8_t, int32_t>, std::map<std::string, Holding>>& holdings() const {
    return holdings_;
  }

 private:
  using EntryKey = std::pair<uint8_t, int32_t>;
  void answer(Entry* e, proto::Kind kind, int32_t key, const std::string& from, uint64_t reqid,
              int32_t flags);
  void reply_error(const std::string& to, uint64_t reqid, proto::Kind kind, int32_t key, int err);
  void wait(Entry& e, const Entry::Waiting& w);
  std::deque<Entry::Waiting> take_waiting(Entry& e);
  void erase_entry(std::map<EntryKey, Entry>::iterator it);
  void release_lock(const EntryKey& k);
  void drain(const EntryKey& k);
  void erase_and_notify(const EntryKey& k);
  void settle_holdings(const EntryKey& k);
  void tell_removed(const std::string& holder, proto::Kind kind, int32_t key,
                    const std::string& owner, int32_t id);

  Outbox& out_;
  Limits limits_;
  Now now_;
  std::map<EntryKey, Entry> entries_;
  std::map<EntryKey, std::map<std::string, Holding>> holdings_;
  std::map<std::string, NodeInfo> nodes_;
  std::map<std::string, Usage> usage_;
};

}  // namespace dipc::daemon
