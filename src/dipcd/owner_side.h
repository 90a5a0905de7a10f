// OwnerSide: calls on objects this node owns, from its own processes and from other nodes.
//
// Owns the calls running here for other nodes (by link and request id, so a kCancel from
// that link can interrupt them), SEM_UNDO on behalf of remote processes (SemUndo: kept per
// (node, pid), applied when the process exits, kProcExit, or its node is declared dead),
// and the short memory of remote processes that exited while a call of theirs was on its
// way. A call that can complete at once is made inline, as the caller, on the io thread
// (with IPC_NOWAIT: it never blocks); only one that must wait goes to an OwnerExecutor
// worker, whose answer leaves from the worker itself.
// Peer frames it takes: kOp (checked: a node names its caller by a valid login name and
// never asks to create), kCancel, kProcExit.
// Thread safety: io thread only (workers run the blocking calls and post back).
#pragma once

#include <chrono>
#include <functional>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "common/config.h"
#include "dipcd/executor.h"
#include "dipcd/ipc_ops.h"
#include "dipcd/sem_undo.h"
#include "dipcd/thread_check.h"

namespace dipc::daemon {

class PeerLinks;
class ObjectTable;
class IdentityCache;
class RefereeClient;
struct Link;

class OwnerSide {
 public:
  using OpDone = std::function<void(OpResult)>;
  // Calls that may wait on a worker at once, per calling user (uid at this node) and per
  // calling node; past either, a call that would wait gets EAGAIN (docs/errors.md), so one
  // user or one node cannot take every worker.
  static constexpr size_t kMaxWaitingPerUser = 1024;
  static constexpr size_t kMaxWaitingPerNode = 2048;
  // Messages handed to callers of other nodes are remembered for kHandedOutFor, so that a
  // node that could not deliver one (its caller was gone when the answer came) can give it
  // back (kRequeue): at most kMaxHandedOut of them and kMaxHandedOutBytes of text.
  static constexpr size_t kMaxHandedOut = 4096;
  static constexpr size_t kMaxHandedOutBytes = 64u << 20;
  static constexpr std::chrono::seconds kHandedOutFor{10};
  OwnerSide(asio::io_context& io, const Config& cfg, PeerLinks& links, ObjectTable& table,
            IdentityCache& identities, OwnerExecutor& executor);
  void set_referee(RefereeClient* r) { referee_ = r; }
  // Set by the daemon root: an object this node owned is gone.
  std::function<void(proto::Kind, int32_t id)> on_removed;

  // Runs op here (this node owns the object) as who, for process origin (node, pid); keeps
  // removal and SEM_UNDO bookkeeping in step. reply_now, when given, sends the answer from
  // whichever thread has it; done then only finishes the bookkeeping. Returns the executor
  // ticket (0 when the call completed or failed at once).
  // retick, when given, hears of each new ticket of a call that waits a second time
  // (wait_for_range), so that a cancel still reaches it.
  using Retick = std::function<void(uint64_t ticket)>;
  uint64_t run_here(const Identity& who, OwnedOp op, const SemUndo::Proc& origin, OpDone done,
                    OwnerExecutor::ReplyNow reply_now = nullptr, Retick retick = nullptr);
  // run_here for a process of this node; returns its cancel function.
  std::function<void()> execute(const Identity& who, OwnedOp op, OpDone done);
  void cancel(uint64_t ticket) { executor_.cancel(ticket); }

  // An object this node owned is gone (removed by a call, or behind dipcd's back).
  void object_removed(proto::Kind kind, int32_t id);
  void node_dead(const std::string& name);
  // Forgets remote processes that exited more than a while ago (called every second).
  void expire_exited();
  size_t running_for_others() const { return peer_running_.size(); }
  size_t busy() const { return executor_.busy(); }

 private:
  void peer_op(const std::shared_ptr<Link>& l, uint64_t reqid, OwnedOp op);
  void process_exited(const SemUndo::Proc& p);
  uint64_t wait_for_range(const Identity& who, OwnedOp op, const SemUndo::Proc& origin, size_t k,
                          OpDone done, OwnerExecutor::ReplyNow reply_now, Retick retick);
  static size_t semopm();
  struct HandedOut {
    int32_t qid = 0;
    int64_t mtype = 0;
    std::string text;
    std::chrono::steady_clock::time_point at;
  };
  void remember(uint64_t link, uint64_t reqid, HandedOut h);
  // Puts a message back at the tail of its queue, as root, without blocking the io thread:
  // a queue that is full is tried again every kRequeueRetry until kHandedOutFor has passed
  // since the message left it (at most kMaxHandedOut messages wait so).
  void requeue(const HandedOut& h, const std::string& why);
  void retry_requeues();
  static constexpr std::chrono::milliseconds kRequeueRetry{10};

  asio::io_context& io_;
  const Config& cfg_;
  PeerLinks& links_;
  ObjectTable& table_;
  IdentityCache& identities_;
  OwnerExecutor& executor_;
  RefereeClient* referee_ = nullptr;
  ThreadCheck thread_;
  SemUndo undo_;
  std::map<std::pair<uint64_t, uint64_t>, HandedOut> handed_out_;  // (link, request id)
  size_t handed_out_bytes_ = 0;
  std::deque<std::pair<HandedOut, std::string>> requeue_waiting_;  // queue full: try again
  std::unique_ptr<asio::steady_timer> requeue_timer_;
  std::map<uid_t, size_t> waiting_by_user_;
  std::map<std::string, size_t> waiting_by_node_;
  // Calls running for other nodes: (link serial, request id) -> its node, executor ticket,
  // and whether its caller asked to cancel it (kept for a call that waits again).
  struct Running {
    std::string node;
    uint64_t ticket = 0;
    bool cancelled = false;
  };
  std::map<std::pair<uint64_t, uint64_t>, Running> peer_running_;
  // Remote processes that exited in the last 10 s: a call of theirs still on its way when
  // the exit notice came is undone as soon as it completes. Short, because pids are reused.
  std::map<SemUndo::Proc, std::chrono::steady_clock::time_point> exited_;
};

// The kOpReply frame of a result.
std::vector<uint8_t> reply_frame(uint64_t reqid, const OpResult& r);

}  // namespace dipc::daemon
