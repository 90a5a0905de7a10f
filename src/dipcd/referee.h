// Referee: the cluster's name server, run by one node's dipcd.
//
// It knows every distributed key in use (per kind: queues, semaphore sets and segments
// have separate key spaces, as in the kernel), which node owns each, which nodes hold a
// placeholder, and it serialises creation: a node that may create a key gets it locked
// until it commits (created) or aborts; lookups of a locked key wait, so IPC_CREAT|IPC_EXCL
// has one winner across the cluster. It holds no sockets: everything it says goes through
// an Outbox, which makes it testable on its own. The table can be rebuilt: a node that
// (re)joins commits what it owns.
// Thread safety: io thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace dipc::daemon {

class Referee {
 public:
  class Outbox {
   public:
    virtual ~Outbox() = default;
    // The answer to a lookup from node (request id reqid).
    virtual void reg_reply(const std::string& node, uint64_t reqid, const proto::RegRecord& r) = 0;
    // Tells holder that the object is gone and its placeholder must go.
    virtual void reg_removed(const std::string& holder, const proto::RegRecord& r) = 0;
  };

  struct NodeInfo {
    std::string address;
    uint16_t port = 0;
  };

  struct Entry {
    proto::Kind kind{};
    int32_t key = 0;
    bool locked = false;   // a node is creating it
    std::string owner;     // the creating node while locked
    int32_t id = 0;        // the owner's id
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

  explicit Referee(Outbox& out) : out_(out) {}

  void node_joined(const std::string& name, const std::string& address, uint16_t port);
  // Fail-stop: the node's objects are gone, its locks released, its holdings dropped.
  void node_dead(const std::string& name);
  void lookup(const std::string& from, uint64_t reqid, proto::Kind kind, int32_t key,
              int32_t flags);
  void commit(const std::string& from, const proto::RegRecord& r);
  void abort(const std::string& from, proto::Kind kind, int32_t key);
  void remove(const std::string& from, proto::Kind kind, int32_t key);

  const std::map<std::pair<uint8_t, int32_t>, Entry>& entries() const { return entries_; }
  // Every entry as a record (for dipc ls); the records' holder lists point into storage.
  std::vector<proto::RegRecord> records(std::vector<std::string>& storage) const;
  const std::map<std::string, NodeInfo>& nodes() const { return nodes_; }

 private:
  using EntryKey = std::pair<uint8_t, int32_t>;
  void answer(Entry* e, proto::Kind kind, int32_t key, const std::string& from, uint64_t reqid,
              int32_t flags);
  void drain(const EntryKey& k);
  void erase_and_notify(const EntryKey& k);

  Outbox& out_;
  std::map<EntryKey, Entry> entries_;
  std::map<std::string, NodeInfo> nodes_;
};

}  // namespace dipc::daemon
