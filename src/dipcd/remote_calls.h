// RemoteCalls: calls this node sends to the owners of objects (the forwarding client).
//
// forward() sends an operation to its owner node on the one link to it (opened if need be)
// and completes with the owner's answer. Each call is pending under its request id and the
// link it left on: an answer (kOpReply) completes it only when it comes back on that link
// while the call is pending. A call that never left (the owner could not be reached) fails
// with ENOLINK; every call on a node declared dead fails with EIDRM (docs/errors.md).
// Cancel: a call not sent yet fails at once with EINTR; one sent is asked to stop
// (kCancel), and still completes once, with the owner's last word.
// Nothing taken is lost on the way back: when the answer to a msgrcv brings a message and
// the caller no longer wants it (still_wanted says no: the process is gone), the owner is
// told to put the message back on its queue (kRequeue). When it is still wanted, on_handed
// gets a function that does the same later (the caller's node keeps it until the process
// says the message reached it, kTaken, and calls it if the process dies first).
// Relay: a caller that passes the answer on as it came (the holder, to its local process)
// gives a relay function, which gets the answer's frame itself (its payload checked well
// formed) instead of a decoded copy; failures that come without an answer still go to done.
// Thread safety: io thread only.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <string>

#include "dipcd/executor.h"
#include "dipcd/ipc_ops.h"
#include "dipcd/pending.h"
#include "dipcd/thread_check.h"

namespace dipc::daemon {

class PeerLinks;
struct Frame;

class RemoteCalls {
 public:
  using OpDone = std::function<void(OpResult)>;
  using GiveBack = std::function<void()>;
  // The owner's answer: rep is decoded from f's payload (its views point there).
  using Relay = std::function<void(const proto::OpReply& rep, Frame& f)>;
  explicit RemoteCalls(PeerLinks& links);
  // Returns the call's cancel function. op's data leaves as the frame's body, uncopied.
  // on_handed (msgrcv only) runs before done or relay when the answer brought a message for
  // a caller still wanted.
  std::function<void()> forward(const std::string& owner, const std::string& addr, uint16_t port,
                                OwnedOp op, OpDone done,
                                std::function<bool()> still_wanted = nullptr,
                                Relay relay = nullptr,
                                std::function<void(GiveBack)> on_handed = nullptr);
  void node_dead(const std::string& name);
  // The link with serial was closed as superseded: its calls' outcome is unknown (ECOMM).
  void link_superseded(uint64_t serial);
  size_t pending() const { return pending_.size(); }

  // Per owner node, since start: calls sent, calls that failed without the owner's answer
  // (ENOLINK, EIDRM: the link, not the call, failed), and the time to answer.
  struct NodeCalls {
    uint64_t calls = 0, errors = 0, answered = 0;
    uint64_t latency_us_sum = 0, latency_us_max = 0;
  };
  const std::map<std::string, NodeCalls>& per_node() const { return per_node_; }

  // Per kind and operation, since start (the metrics endpoint's histograms): calls sent,
  // failed without an answer, answered, and the answered ones by time to answer: bucket[i]
  // counts those slower than bound i-1 and at most kLatencyBoundsUs[i]; the last bucket
  // those slower than every bound.
  static constexpr std::array<uint64_t, 10> kLatencyBoundsUs = {
      100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000, 1000000};
  struct OpCalls {
    uint64_t calls = 0, errors = 0, answered = 0, latency_us_sum = 0;
    std::array<uint64_t, kLatencyBoundsUs.size() + 1> buckets{};
  };
  using OpKey = std::pair<proto::Kind, proto::Op>;
  const std::map<OpKey, OpCalls>& per_op() const { return per_op_; }

 private:
  struct Tag {
    std::string node;
    uint64_t link = 0;  // 0 until sent
    bool operator==(const Tag&) const = default;
  };
  struct Call {
    OpDone done;
    std::function<bool()> still_wanted;  // for a msgrcv that takes its message
    Relay relay;                         // set: the answer goes here, not to done
    std::function<void(GiveBack)> on_handed;
    void operator()(OpResult r) const { done(std::move(r)); }
  };
  PeerLinks& links_;
  ThreadCheck thread_;
  PendingCalls<Tag, Call> pending_;
  std::map<OpKey, OpCalls> per_op_;
  std::map<std::string, NodeCalls> per_node_;  // one entry per node ever called
};

}  // namespace dipc::daemon
