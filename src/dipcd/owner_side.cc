#include "dipcd/owner_side.h"

#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

#include "dipcd/identity.h"
#include "dipcd/object_table.h"
#include "dipcd/peer_links.h"
#include "dipcd/referee_client.h"

namespace dipc::daemon {

using proto::FrameType;
using proto::Kind;
using proto::Op;
using Clock = std::chrono::steady_clock;

std::vector<uint8_t> reply_frame(uint64_t reqid, const OpResult& r) {
  proto::OpReply rep;
  rep.ret = r.ret;
  rep.err = r.err;
  rep.aux = r.aux;
  rep.data = r.data;
  auto f = make_frame(FrameType::kOpReply, reqid, rep, proto::OpReply::kFixedSize + r.data.size());
  if (f.empty() || r.data.size() > proto::kMaxData) {
    // An answer too large to carry reaches the caller as an error, never as silence.
    proto::OpReply e;
    e.ret = -1;
    e.err = E2BIG;
    return make_frame(FrameType::kOpReply, reqid, e, proto::OpReply::kFixedSize);
  }
  return f;
}

OwnerSide::OwnerSide(asio::io_context& io, const Config& cfg, PeerLinks& links, ObjectTable& table,
                     IdentityCache& identities, OwnerExecutor& executor)
    : io_(io), cfg_(cfg), links_(links), table_(table), identities_(identities), executor_(executor) {
  links_.on(FrameType::kOp, [this](const std::shared_ptr<Link>& l, Frame& f) {
    proto::OpRequest req;
    auto r = f.reader();
    if (!req.decode(r)) return links_.drop(l, "malformed operation");
    // A node always names its caller, and only ever checks a key that exists here: it
    // never creates at another node (the referee's lock makes the creator the owner).
    if (req.user.empty()) return links_.drop(l, "malformed operation without a caller's login name");
    if (req.op == Op::kGet && (req.flags & (IPC_CREAT | IPC_EXCL)))
      return links_.drop(l, "malformed operation that would create an object at another node");
    peer_op(l, f.header.request_id, OwnedOp::from(req, std::move(f.payload)));
  });
  links_.on(FrameType::kCancel, [this](const std::shared_ptr<Link>& l, Frame& f) {
    auto it = peer_running_.find({l->serial, f.header.request_id});
    if (it == peer_running_.end()) return;
    it->second.cancelled = true;
    executor_.cancel(it->second.ticket);
  });
  links_.on(FrameType::kRequeue, [this](const std::shared_ptr<Link>& l, Frame& f) {
    auto it = handed_out_.find({l->serial, f.header.request_id});
    if (it == handed_out_.end()) {
      spdlog::warn("{} gives back a message this node does not remember handing out (too old?)",
                   l->describe());
      return;
    }
    requeue(it->second, "its caller on " + l->name + " was gone");
    handed_out_bytes_ -= it->second.text.size();
    handed_out_.erase(it);
  });
  links_.on(FrameType::kProcExit, [this](const std::shared_ptr<Link>& l, Frame& f) {
    proto::ProcExit m;
    auto r = f.reader();
    if (!m.decode(r)) return links_.drop(l, "malformed process exit notice");
    process_exited({l->name, m.pid});
  });
}

// An operation from another node on an object this node owns.
void OwnerSide::peer_op(const std::shared_ptr<Link>& l, uint64_t reqid, OwnedOp op) {
  spdlog::debug("serving op {} id {} for {} of {} (request {})", int(op.op), op.id, op.user,
                l->name, reqid);
  std::weak_ptr<Link> wl = l;
  uint64_t serial = l->serial;
  std::string node = l->name;
  std::string user = op.user;
  identities_.for_name(user, [this, wl, serial, node, reqid, op = std::move(op)](
                                 const std::optional<Identity>& who) mutable {
    auto l = wl.lock();
    if (!l || !l->is_open()) return;  // its node is gone: nobody to answer
    auto answer = [l, reqid](const OpResult& r) { l->send(reply_frame(reqid, r)); };
    if (!who) {
      spdlog::warn("{} calls as '{}', which has no account here: EACCES", l->describe(), op.user);
      return answer(OpResult::error(EACCES));
    }
    if (op.op == Op::kGet) {
      // Only keys of objects this node owns: never a look-up of its own local objects.
      if (!table_.owned_id(ObjKey{op.kind, op.key})) return answer(OpResult::error(ENOENT));
    } else if (!table_.owns(ObjId{op.kind, op.id})) {
      return answer(OpResult::error(EINVAL));  // removed meanwhile, or never ours
    }
    auto key = std::make_pair(serial, reqid);
    // A message taken off a queue (not a MSG_COPY) is remembered until its caller's node
    // has it, or put back at once when the answer could not even leave.
    bool takes_message = op.op == Op::kMsgRcv && !(op.flags & MSG_COPY);
    auto sent = std::make_shared<std::atomic<bool>>(false);
    int32_t qid = op.id;
    auto done = [this, key, takes_message, sent, qid](OpResult r) {
      peer_running_.erase(key);
      if (!takes_message || r.ret < 0) return;
      HandedOut h{qid, r.aux, std::move(r.data), Clock::now()};
      if (!sent->load())
        requeue(h, "the answer could not be sent");
      else
        remember(key.first, key.second, std::move(h));
    };
    // The answer leaves from the worker that has it: one thread hand-off fewer.
    auto reply_now = [this, conn = l->conn, wl = std::weak_ptr<Link>(l), reqid,
                      sent](const OpResult& r) {
      auto l = wl.lock();
      if (l && l->faulty.load()) {
        // An injected fault applies to answers too: they go the link's way.
        sent->store(true);
        asio::post(io_, [wl, frame = reply_frame(reqid, r)]() mutable {
          if (auto l = wl.lock()) l->send(std::move(frame));
        });
        return;
      }
      sent->store(conn->send_now(reply_frame(reqid, r)));
    };
    // A call that waits again under a new ticket (wait_for_range) keeps its cancel.
    auto retick = [this, key, node](uint64_t ticket) {
      Running& r = peer_running_[key];
      r.node = node;
      r.ticket = ticket;
      if (r.cancelled) executor_.cancel(ticket);
    };
    SemUndo::Proc origin{node, op.pid};
    uint64_t ticket = run_here(*who, std::move(op), origin, done, reply_now, retick);
    if (ticket) retick(ticket);
  });
}

uint64_t OwnerSide::run_here(const Identity& who, OwnedOp op, const SemUndo::Proc& origin,
                             OpDone done, OwnerExecutor::ReplyNow reply_now, Retick retick) {
  DIPC_ON_THREAD(thread_);
  Kind kind = op.kind;
  int32_t id = op.id;
  int cmd = int(op.arg1);
  bool rmid = is_rmid(op);
  bool setval = op.op == Op::kSemCtl && (cmd == SETVAL || cmd == SETALL);
  int semnum = cmd == SETVAL ? int(op.arg2) : -1;
  // SEM_UNDO for a process of another node is kept here, not in dipcd's kernel undo list.
  std::vector<sembuf> undo_sops;
  bool remote_caller = origin.first != cfg_.node_name;
  if (op.op == Op::kSemOp && remote_caller && has_undo(op.sops)) {
    undo_.open_list(origin, id);
    int k = undo_.first_out_of_range(origin, id, op.sops);
    if (k >= 0 && !SemUndo::refused_first(id, op.sops, who))
      return wait_for_range(who, std::move(op), origin, size_t(k), std::move(done),
                            std::move(reply_now), std::move(retick));
    undo_sops = op.sops;
    for (auto& s : op.sops) s.sem_flg &= short(~SEM_UNDO);  // what the kernel gets
  }
  if (rmid && reply_now) {
    // A removal is answered only once the cluster has been told, so that the caller's next
    // msgget/semget of the key cannot still find it at the referee.
    done = [reply_now = std::move(reply_now), done = std::move(done)](OpResult r) {
      reply_now(r);
      done(std::move(r));
    };
    reply_now = nullptr;
  }
  auto finish = [this, kind, id, rmid, setval, semnum, origin, undo_sops = std::move(undo_sops),
                 done = std::move(done)](OpResult r) {
    if (r.ret >= 0) {
      if (rmid) object_removed(kind, id);
      if (setval) undo_.clear(id, semnum);
      if (!undo_sops.empty()) undo_.record(origin, id, undo_sops);
    }
    // The process exited while its call was on its way: undo at once. Only after a call
    // that changed something: a pid reused within the memory of exits (kernel.pid_max can
    // be 32768) must not have a live process's list applied for a call that failed.
    if (r.ret >= 0 && !undo_sops.empty() && exited_.count(origin)) apply_exit(undo_.take(origin));
    done(std::move(r));
  };
  // A call that can complete at once is made right here, as the caller, saving two thread
  // hand-offs; only one that has to wait goes to a worker. Calls that never block (the
  // control calls, a *get check) are always made here.
  if (!may_block(op)) {
    OpResult r = OwnerExecutor::run_as(who, [&op] { return run_op(op); });
    if (reply_now) reply_now(r);
    finish(std::move(r));
    return 0;
  }
  OpResult r = OwnerExecutor::run_as(who, [&op] { return run_op(op, /*nowait=*/true); });
  if (!would_block(op, r)) {
    if (reply_now) reply_now(r);
    finish(std::move(r));
    return 0;
  }
  // It must wait on a worker: within the caller's and its node's quotas only.
  size_t& by_user = waiting_by_user_[who.uid];
  size_t& by_node = waiting_by_node_[origin.first];
  if (by_user >= kMaxWaitingPerUser || by_node >= kMaxWaitingPerNode) {
    spdlog::warn("{} calls of uid {} / {} from node {} already wait here: EAGAIN", by_user,
                 who.uid, by_node, origin.first);
    if (by_user == 0) waiting_by_user_.erase(who.uid);
    if (by_node == 0) waiting_by_node_.erase(origin.first);
    if (reply_now) reply_now(OpResult::error(EAGAIN));
    finish(OpResult::error(EAGAIN));
    return 0;
  }
  ++by_user;
  ++by_node;
  auto counted = [this, uid = who.uid, node = origin.first,
                  finish = std::move(finish)](OpResult r) mutable {
    if (--waiting_by_user_[uid] == 0) waiting_by_user_.erase(uid);
    if (--waiting_by_node_[node] == 0) waiting_by_node_.erase(node);
    finish(std::move(r));
  };
  return executor_.submit(who, [op = std::move(op)] { return run_op(op); }, std::move(counted),
                          std::move(reply_now));
}

// A remote semop whose SEM_UNDO adjustment would leave its range at operation k. Linux
// evaluates the operations in order: while one before the range check (k's own value check
// included) would block, it waits, and then it says ERANGE, changing nothing; unless
// SETVAL or SETALL cleared the adjustments meanwhile, when the call may now go through.
// The owner's kernel waits with SemUndo::range_wait (which can only end in ERANGE or an error
// of the wait itself: EAGAIN, EINTR, EIDRM, a time-out), then the range is checked again
// here and, if it is now in range, the call is made as any other, in the time that is left.
uint64_t OwnerSide::wait_for_range(const Identity& who, OwnedOp op, const SemUndo::Proc& origin,
                                   size_t k, OpDone done, OwnerExecutor::ReplyNow reply_now,
                                   Retick retick) {
  auto reply = [&done, &reply_now](OpResult r) {
    if (reply_now) reply_now(r);
    done(std::move(r));
  };
  std::vector<sembuf> wait = SemUndo::range_wait(op.sops, k);
  if (wait.size() > semopm()) {
    // Too many operations with the one or two added: ERANGE at once (docs/errors.md).
    reply(OpResult::error(ERANGE));
    return 0;
  }
  OwnedOp w = op;
  w.data = encode_sops(wait);
  w.sops = wait;
  w.arg1 = int64_t(wait.size());
  auto started = Clock::now();
  auto after = [this, who, op = std::move(op), origin, done = std::move(done),
                reply_now = std::move(reply_now), retick, started](OpResult r) mutable {
    if (r.ret >= 0 || r.err == ERANGE) {
      if (!undo_.in_range(origin, op.id, op.sops)) r = OpResult::error(ERANGE);
      else {
        if (op.flags & 1) {  // semtimedop: only the time that is left
          auto left = std::chrono::seconds(op.arg2) + std::chrono::nanoseconds(op.arg3) -
                      (Clock::now() - started);
          auto ns = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
          op.arg2 = ns / 1000000000;
          op.arg3 = ns % 1000000000;
        }
        uint64_t t = run_here(who, std::move(op), origin, std::move(done), std::move(reply_now), retick);
        if (t && retick) retick(t);
        return;
      }
    }
    if (reply_now) reply_now(r);
    done(std::move(r));
  };
  return run_here(who, std::move(w), origin, std::move(after), nullptr, retick);
}

size_t OwnerSide::semopm() {
  // The third field of /proc/sys/kernel/sem; the kernel's default if it cannot be read.
  size_t v = 500;
  if (FILE* f = fopen("/proc/sys/kernel/sem", "re")) {
    unsigned long msl, mns, opm;
    if (fscanf(f, "%lu %lu %lu", &msl, &mns, &opm) == 3) v = opm;
    fclose(f);
  }
  return v;
}

std::function<void()> OwnerSide::execute(const Identity& who, OwnedOp op, OpDone done) {
  SemUndo::Proc origin{cfg_.node_name, op.pid};
  uint64_t ticket = run_here(who, std::move(op), origin, std::move(done));
  if (!ticket) return [] {};
  return [this, ticket] { executor_.cancel(ticket); };
}

void OwnerSide::object_removed(Kind kind, int32_t id) {
  auto key = table_.owned_key(ObjId{kind, id});
  if (!key) return;
  // A segment nothing has attached is gone from the kernel (on_removed waits for the fault
  // server) before the id's entry goes: a local call made meanwhile still comes to dipcd.
  if (on_removed) on_removed(kind, id);
  table_.remove_owned(ObjId{kind, id});
  if (kind == Kind::kSem) undo_.drop_set(id);
  spdlog::info("{} key {} id {} removed", kind_name(kind), *key, id);
  if (referee_) referee_->remove(kind, *key);
}

// A process of another node has exited: apply its adjustments here.
void OwnerSide::process_exited(const SemUndo::Proc& p) {
  exited_[p] = Clock::now();
  apply_exit(undo_.take(p));
}

void OwnerSide::node_dead(const std::string& name) {
  apply_exit(undo_.take_node(name));
  for (auto it = peer_running_.begin(); it != peer_running_.end();) {
    if (it->second.node == name) {
      executor_.cancel(it->second.ticket);
      it = peer_running_.erase(it);
    } else {
      ++it;
    }
  }
}

void OwnerSide::remember(uint64_t link, uint64_t reqid, HandedOut h) {
  if (handed_out_.size() >= kMaxHandedOut ||
      handed_out_bytes_ + h.text.size() > kMaxHandedOutBytes) {
    // Full: the oldest is forgotten (it can no longer be given back).
    auto oldest = std::min_element(handed_out_.begin(), handed_out_.end(),
                                   [](auto& a, auto& b) { return a.second.at < b.second.at; });
    if (oldest != handed_out_.end()) {
      handed_out_bytes_ -= oldest->second.text.size();
      handed_out_.erase(oldest);
    }
  }
  handed_out_bytes_ += h.text.size();
  handed_out_[{link, reqid}] = std::move(h);
}

void OwnerSide::requeue(const HandedOut& h, const std::string& why) {
  std::vector<char> buf(sizeof(long) + h.text.size());
  long mtype = long(h.mtype);
  std::memcpy(buf.data(), &mtype, sizeof mtype);
  std::memcpy(buf.data() + sizeof mtype, h.text.data(), h.text.size());
  if (syscall(SYS_msgsnd, h.qid, buf.data(), h.text.size(), IPC_NOWAIT) == 0) {
    spdlog::info("message of type {} ({} bytes) put back on queue id {}: {}", h.mtype,
                 h.text.size(), h.qid, why);
    return;
  }
  int e = errno;
  if (e == EAGAIN && Clock::now() - h.at < kHandedOutFor &&
      requeue_waiting_.size() < kMaxHandedOut) {
    // The queue is full: its receivers will make room; try again shortly, in order.
    requeue_waiting_.emplace_back(h, why);
    if (!requeue_timer_) {
      requeue_timer_ = std::make_unique<asio::steady_timer>(io_, kRequeueRetry);
      requeue_timer_->async_wait([this](std::error_code ec) {
        if (!ec) retry_requeues();
      });
    }
    return;
  }
  spdlog::warn("message of type {} ({} bytes) for queue id {} lost: {}, and it cannot be put "
               "back: {}", h.mtype, h.text.size(), h.qid, why, strerror(e));
}

void OwnerSide::retry_requeues() {
  requeue_timer_.reset();
  auto waiting = std::move(requeue_waiting_);
  requeue_waiting_.clear();
  for (auto& [h, why] : waiting) requeue(h, why);
}

void OwnerSide::expire_exited() {
  auto now = Clock::now();
  for (auto it = handed_out_.begin(); it != handed_out_.end();) {
    if (now - it->second.at > kHandedOutFor) {
      handed_out_bytes_ -= it->second.text.size();
      it = handed_out_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(exited_, [](const auto& e) { return Clock::now() - e.second > std::chrono::seconds(10); });
}

}  // namespace dipc::daemon
