// PageDirectory: the owner's manager of one distributed segment (IVY's "manager").
//
// For every unit of the segment (a 4 KiB page in page mode, the whole segment in segment
// mode) it knows the single writer node or the set of reader nodes, and when the youngest
// grant was made. A unit never touched is implicit: the owner node (NodeId 0) is its
// writer, with contents zero; only units that ever moved cost memory (kBytesPerUnit).
//
// It is a pure state machine: no sockets, no threads, no clock of its own. Every call gets
// the current time; every decision comes back as a list of Actions that the caller carries
// out in order (send a grant, a recall, a failure; mark the owner's own copy valid). The
// caller reports recall answers with recall_done() and dead nodes with node_dead(), and
// calls tick() at next_deadline() so that recalls held back by the time quantum go out.
//
// Data always flows through the owner's copy (its memfd): a recall that asks for data
// returns the unit to the owner, which stores it, and a grant with data is read from there.
// So when the caller executes Grant{node != owner, kWrite}, the owner's copy must be
// dropped right after the grant's data has been read, before the grant leaves the node.
//
// Per unit, one transaction at a time; requests that arrive meanwhile wait in a FIFO.
// Nodes are small integers given by the caller (0 = the owner itself, 1..63 others).
// Thread safety: none; the fault server's thread owns every PageDirectory.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dipc::daemon::dsm {

using NodeId = uint8_t;
inline constexpr NodeId kOwner = 0;
inline constexpr NodeId kMaxNodes = 64;  // NodeIds 0..63: reader sets are a 64-bit mask

enum class Access : uint8_t { kNone = 0, kRead = 1, kWrite = 2 };
enum class RecallMode : uint8_t { kDowngrade = 1, kInvalidate = 2 };

using Time = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

struct Action {
  enum class Type : uint8_t {
    kGrant,   // node gets access to unit; with_data: send the owner's copy first
    kRecall,  // node must downgrade or drop unit; with_data: send it back first
    kFail,    // node's request (reqid) for unit cannot be met: the page is lost
    kFill,    // the owner's copy of unit (already stored) is now valid for reading
  };
  Type type{};
  NodeId node = 0;
  uint64_t unit = 0;
  Access access = Access::kNone;           // kGrant
  RecallMode mode = RecallMode::kInvalidate;  // kRecall
  bool with_data = false;                  // kGrant, kRecall
  uint64_t reqid = 0;                      // kGrant, kFail: the request answered
  bool operator==(const Action&) const = default;
};

class PageDirectory {
 public:
  // units: how many units the segment has; quantum: the time a grant is kept at least.
  PageDirectory(uint64_t units, Duration quantum) : units_(units), quantum_(quantum) {}

  // node asks for access to unit (reqid names its request in the answer). Returns false
  // (and changes nothing) when unit or node is out of range or want is kNone.
  bool request(NodeId node, uint64_t unit, Access want, uint64_t reqid, Time now,
               std::vector<Action>& out);
  // node has carried out the recall of unit (its data, if asked for, has been stored).
  // Returns false if no such recall was outstanding (a confused or hostile peer).
  bool recall_done(NodeId node, uint64_t unit, Time now, std::vector<Action>& out);
  // node is gone (fail-stop): units it wrote are lost, its requests forgotten.
  void node_dead(NodeId node, Time now, std::vector<Action>& out);
  // Sends the recalls whose quantum has run out.
  void tick(Time now, std::vector<Action>& out);
  // When tick() has something to do (Time::max() when nothing waits).
  Time next_deadline() const;

  // For tests, status output and the bookkeeping figure in docs/design.md.
  struct UnitView {
    NodeId writer = kOwner;
    bool has_writer = true;
    uint64_t readers = 0;  // bit n = node n
    bool lost = false;
    bool busy = false;
  };
  UnitView view(uint64_t unit) const;
  // Whether node was asked to send unit's data back with the recall it has not answered
  // yet (what a kDsmDataToOwner must be).
  bool expects_data(NodeId node, uint64_t unit) const;
  size_t tracked_units() const { return units_map_.size(); }
  uint64_t units() const { return units_; }

 private:
  struct Request {
    NodeId node;
    Access want;
    uint64_t reqid;
  };
  struct Txn {
    Request req;
    uint64_t waiting = 0;    // nodes whose recall answer is awaited
    uint64_t scheduled = 0;  // nodes whose recall waits for the quantum
    Time due{};              // when the scheduled recalls go out
    RecallMode mode{};
    bool need_data = false;  // the requester has no valid copy
    uint64_t data_from = 0;  // the node asked to send the data back (mask, 0 or one bit)
  };
  struct Unit {
    uint64_t readers = 0;
    NodeId writer = kOwner;
    bool has_writer = true;
    bool lost = false;
    Time granted{};  // the youngest grant of a node that asked for it
    std::unique_ptr<Txn> txn;
    // FIFO of requests waiting for the transaction: at most one per node and access (a
    // repeat takes the place of the one before, with its request id), so at most
    // 2 * kMaxNodes whatever a peer sends (and taking the front is cheap).
    std::vector<Request> queue;
  };

  Unit& unit_state(uint64_t u);
  void start(uint64_t u, Unit& s, const Request& r, Time now, std::vector<Action>& out);
  void send_recalls(uint64_t u, Unit& s, Time now, std::vector<Action>& out);
  void finish(uint64_t u, Unit& s, Time now, std::vector<Action>& out);
  void next_in_queue(uint64_t u, Unit& s, Time now, std::vector<Action>& out);
  void maybe_forget(uint64_t u);
  void fail_txn(uint64_t u, Unit& s, std::vector<Action>& out);

  uint64_t units_;
  Duration quantum_;
  uint64_t dead_ = 0;  // nodes declared dead: their later requests are ignored
  std::unordered_map<uint64_t, Unit> units_map_;
  std::set<std::pair<Time, uint64_t>> timers_;  // (due, unit) of held-back recalls
};

// Bytes of directory state per unit that ever moved, without a transaction: the Unit, the
// hash-map node around it and its bucket (checked by a unit test against sizeof).
inline constexpr size_t kBytesPerUnit = 88;

}  // namespace dipc::daemon::dsm
