#include "dipcd/holder.h"

#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "dipcd/caller_creds.h"
#include "dipcd/identity.h"
#include "dipcd/local_server.h"
#include "dipcd/object_table.h"
#include "dipcd/owner_side.h"
#include "dipcd/peer_links.h"
#include "dipcd/pidfd_wait.h"
#include "dipcd/referee_client.h"
#include "dipcd/remote_calls.h"

namespace dipc::daemon {

using proto::FrameType;
using proto::Kind;
using proto::Op;
using proto::RegRecord;
using proto::RegStatus;

Holder::Holder(asio::io_context& io, const Config& cfg, LocalServer& local, PeerLinks& links,
               ObjectTable& table, IdentityCache& identities, OwnerSide& owner, RemoteCalls& remote)
    : io_(io),
      cfg_(cfg),
      links_(links),
      table_(table),
      identities_(identities),
      owner_(owner),
      remote_(remote) {
  local.on(FrameType::kOp, [this](const std::shared_ptr<LocalClient>& c, Frame& f) {
    proto::OpRequest req;
    auto r = f.reader();
    uint64_t reqid = f.header.request_id;
    if (!req.decode(r)) return c->conn->send(reply_frame(reqid, OpResult::error(EINVAL)));
    OwnedOp op = OwnedOp::from(req, std::move(f.payload));
    op.pid = c->cred.pid;
    take_op(c, reqid, std::move(op), req.pid, false);
  });
  local.on(FrameType::kTaken, [](const std::shared_ptr<LocalClient>& c, Frame& f) {
    c->unacked.erase(f.header.request_id);
  });
  local.on(FrameType::kCancel, [](const std::shared_ptr<LocalClient>& c, Frame& f) {
    auto it = c->cancels.find(f.header.request_id);
    if (it != c->cancels.end()) it->second();
  });
}

void Holder::take_op(const std::shared_ptr<LocalClient>& c, uint64_t reqid, OwnedOp op, pid_t tid,
                     bool need_groups) {
  // The call is made with the credentials the calling thread has now (Linux checks each
  // call), not those it connected with; tid is the thread the shim says it is. A call on a
  // placeholder goes to its owner, which acts as the account of the effective uid's login
  // name with that account's groups: the uid and gid are all it needs (read_caller_ids,
  // about 1 µs); any other call needs the thread's groups too (procfs).
  ObjId id{op.kind, op.id};
  bool forwarded = !need_groups && op.op != Op::kGet && table_.placeholder(id) != nullptr;
  int pidfd = c->pidfd ? c->pidfd->native_handle() : -1;
  Identity now{c->cred.uid, c->cred.gid, {}, {}};
  bool ids_only = forwarded && read_caller_ids(c->cred.pid, tid, pidfd, c->thread, now);
  bool fresh = ids_only || read_caller_creds(c->cred.pid, tid, pidfd, now);
  std::weak_ptr<LocalClient> wc = c;
  identities_.for_uid(now.uid, now.gid,
                      [this, wc, reqid, op = std::move(op), fresh, ids_only, tid, id,
                       groups = std::move(now.groups)](const Identity& account) mutable {
                        auto c = wc.lock();
                        if (!c || !c->conn->is_open()) return;
                        // No longer forwarded (the placeholder went while the account was
                        // looked up): read again, groups and all.
                        if (ids_only && !table_.placeholder(id))
                          return take_op(c, reqid, std::move(op), tid, true);
                        Identity who = account;
                        if (fresh && !ids_only) who.groups = std::move(groups);
                        op.user = who.name;
                        if (op.op == Op::kGet) return local_get(c, reqid, std::move(op), who);
                        local_op(c, reqid, std::move(op), who);
                      });
}

void Holder::reply(const std::shared_ptr<LocalClient>& c, uint64_t reqid, const OpResult& r) {
  c->cancels.erase(reqid);
  c->conn->send(reply_frame(reqid, r));
}

void Holder::local_op(const std::shared_ptr<LocalClient>& c, uint64_t reqid, OwnedOp op,
                      const Identity& who) {
  DIPC_ON_THREAD(thread_);
  std::weak_ptr<LocalClient> wc = c;
  OpDone done = [this, wc, reqid](OpResult r) {
    if (auto c = wc.lock()) reply(c, reqid, r);
  };
  // shm_nattch: attachments of this node's processes that exited before this call are
  // counted (and told to the owner) first.
  if (op.op == Op::kShmCtl && op.arg1 == IPC_STAT && shm_sync) shm_sync();
  ObjId id{op.kind, op.id};
  if (const Placeholder* p = table_.placeholder(id)) {
    op.id = p->owner_id;
    std::string owner = p->owner;
    bool rmid = is_rmid(op);
    ObjKey key = p->key;
    // shmat checks permission here, against the placeholder: an IPC_SET made through this
    // node is taken by it too (one made on a third node is not seen).
    int32_t local = id.id;
    std::string set_data = op.op == Op::kShmCtl && op.arg1 == IPC_SET ? op.data.str() : "";
    // The owner's answer goes to the caller as it came, only its request id changed; done
    // gets the failures that come without an answer.
    RemoteCalls::Relay relay = [this, wc, reqid, rmid, key, local, set_data](
                                   const proto::OpReply& rep, Frame& f) {
      // This node learns of a removal from the answer, not later from the referee: the
      // caller's next look-up of the key must not find the placeholder.
      if (rmid && rep.ret == 0) table_.drop_placeholder(key);
      if (rep.ret == 0 && !set_data.empty()) take_shm_set(local, set_data);
      auto c = wc.lock();
      if (!c) return;
      c->cancels.erase(reqid);
      OutFrame out;
      out.head.resize(proto::kHeaderSize);
      proto::Header h = f.header;
      h.request_id = reqid;
      proto::encode_header(h, out.head.data());
      out.body = Bytes::tail_of(std::move(f.payload), 0);
      c->conn->send(std::move(out));
    };
    if (op.op == Op::kSemOp && has_undo(op.sops)) watch_process(op.pid, owner);
    auto still_wanted = [wc] {
      auto c = wc.lock();
      return c && c->conn->is_open();
    };
    auto on_handed = [wc, reqid](RemoteCalls::GiveBack give_back) {
      auto c = wc.lock();
      if (!c) return give_back();
      if (c->unacked.size() >= LocalClient::kMaxUnacked) c->unacked.erase(c->unacked.begin());
      c->unacked[reqid] = std::move(give_back);
    };
    auto cancel = remote_.forward(owner, "", 0, std::move(op), done, still_wanted, std::move(relay),
                                  on_handed);
    if (c->conn->is_open()) c->cancels[reqid] = std::move(cancel);
    return;
  }
  if (table_.owns(id)) {
    SemUndo::Proc origin{cfg_.node_name, op.pid};
    uint64_t ticket = owner_.run_here(
        who, std::move(op), origin,
        [wc, reqid](OpResult) {
          if (auto c = wc.lock()) c->cancels.erase(reqid);
        },
        [conn = c->conn, reqid](const OpResult& r) { conn->send_now(reply_frame(reqid, r)); });
    // 0: it is done already; else it waits on a worker and may be cancelled.
    if (ticket) c->cancels[reqid] = [this, ticket] { owner_.cancel(ticket); };
    return;
  }
  // Not (or no longer) distributed: removed, or its owner is gone.
  reply(c, reqid, OpResult::error(EINVAL));
}

// *get with IPC_DIPC from a local process: ask the referee, then create (free key, locked
// for us), check at the owner and make a placeholder (key elsewhere), or look here.
void Holder::local_get(const std::shared_ptr<LocalClient>& c, uint64_t reqid, OwnedOp op,
                       const Identity& who) {
  DIPC_ON_THREAD(thread_);
  std::weak_ptr<LocalClient> wc = c;
  auto finish = [this, wc, reqid](OpResult r) {
    if (auto c = wc.lock()) reply(c, reqid, r);
  };
  if (!referee_) return finish(OpResult::error(ENOLINK));
  referee_->lookup(op.kind, op.key, op.flags, [this, op, who, finish](const RegRecord& a) mutable {
    if (a.status == RegStatus::kError) return finish(OpResult::error(a.err));
    if (op.kind == Kind::kShm && !(shm_available && shm_available())) {
      // No distributed segment without DSM: never one that would silently not be shared.
      if (a.status == RegStatus::kCreate) referee_->abort(op.kind, op.key);
      return finish(OpResult::error(ENOSYS));
    }
    if (a.status == RegStatus::kCreate) {
      owner_.execute(who, op, [this, op, finish](OpResult r) {
        ObjectInfo info;
        if (r.ret < 0 || !stat_object(op.kind, int(r.ret), info)) {
          referee_->abort(op.kind, op.key);
          return finish(r.ret < 0 ? r : OpResult::error(EIDRM));
        }
        int id = int(r.ret);
        table_.add_owned(ObjId{op.kind, id}, op.key);
        RegRecord m;
        m.kind = op.kind;
        m.key = op.key;
        m.id = id;
        m.mode = info.mode;
        m.uid = info.uid;
        m.gid = info.gid;
        m.size = info.size;
        referee_->commit(m);
        if (on_known) on_known(op.kind, id, cfg_.node_name, id, info.size);
        spdlog::info("created {} key {} id {}", kind_name(op.kind), op.key, id);
        finish(r);
      });
      return;
    }
    // The key exists. Checked where the object is, as the caller, without IPC_CREAT/EXCL.
    OwnedOp check = op;
    check.flags &= ~(IPC_CREAT | IPC_EXCL);
    if (a.owner == cfg_.node_name) {
      owner_.execute(who, check, finish);
      return;
    }
    std::string owner(a.owner), addr = referee_->owner_address(a.owner_addr);
    ObjectInfo info{a.mode, a.uid, a.gid, a.size, 0};
    int32_t owner_id = a.id;
    remote_.forward(owner, addr, a.owner_port, check,
                    [this, op, owner, owner_id, info, finish](OpResult r) {
                      if (r.ret < 0) return finish(r);
                      ObjKey key{op.kind, op.key};
                      if (const Placeholder* p = table_.placeholder(key)) {
                        if (p->owner == owner && p->owner_id == owner_id)
                          return finish(OpResult::ok(p->local_id));
                        table_.drop_placeholder(key);  // a stale one, of an object now gone
                      }
                      int id = create_placeholder(op.kind, op.key, info);
                      if (id < 0) {
                        int e = errno;
                        spdlog::warn("cannot make a placeholder for {} key {}: {}",
                                     kind_name(op.kind), op.key, strerror(e));
                        return finish(OpResult::error(e));
                      }
                      if (!table_.add_placeholder(Placeholder{key, id, owner, owner_id})) {
                        remove_object(op.kind, id);
                        return finish(OpResult::error(ENOSPC));
                      }
                      if (on_known) on_known(op.kind, id, owner, owner_id, info.size);
                      spdlog::info("placeholder {} key {} id {} for {}'s id {}",
                                   kind_name(op.kind), op.key, id, owner, owner_id);
                      finish(OpResult::ok(id));
                    });
  });
}

// The owner, mode and group an IPC_SET gave a segment at its owner, taken by its placeholder
// (the same IPC_SET, made here).
void Holder::take_shm_set(int32_t local_id, const std::string& data) {
  OwnedOp set;
  set.kind = Kind::kShm;
  set.op = Op::kShmCtl;
  set.id = local_id;
  set.arg1 = IPC_SET;
  set.data = Bytes(data);
  run_op(set);
}

void Holder::object_gone(Kind kind, int32_t key, const std::string& owner, int32_t id) {
  const Placeholder* p = table_.placeholder(ObjKey{kind, key});
  if (p && p->owner == owner && p->owner_id == id) table_.drop_placeholder(ObjKey{kind, key});
}

void Holder::node_dead(const std::string& name) {
  for (auto& key : table_.placeholders_of(name)) table_.drop_placeholder(key);
}

void Holder::watch_process(int32_t pid, const std::string& owner) {
  if (auto it = watches_.find(pid); it != watches_.end() && it->second.fd) {
    // A watched process with this pid that has exited, its exit not yet handled, is an
    // earlier process: this is a new one (pids are reused). The old one's adjustments are
    // undone now, before the new one's call leaves, never the new one's with them.
    if (pidfd_exited(it->second.fd->native_handle())) process_exited(pid);
  }
  auto& w = watches_[pid];
  w.owners.insert(owner);
  if (w.fd) return;
  int fd = int(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    // Already gone: its adjustments are to be undone now.
    spdlog::debug("pidfd_open({}): {}", pid, strerror(errno));
    asio::post(io_, [this, pid] { process_exited(pid); });
    return;
  }
  w.fd = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  // Only this watch's own exit: not one of a watch of the pid that has gone since.
  const asio::posix::stream_descriptor* mine = w.fd.get();
  wait_for_exit(
      *w.fd,
      [this, pid, mine] {
        auto it = watches_.find(pid);
        return it != watches_.end() && it->second.fd.get() == mine;
      },
      [this, pid] { process_exited(pid); });
}

// A local process with adjustments at owners has exited: tell them.
void Holder::process_exited(int32_t pid) {
  auto it = watches_.find(pid);
  if (it == watches_.end()) return;
  auto owners = std::move(it->second.owners);
  watches_.erase(it);
  proto::ProcExit m{pid};
  for (auto& o : owners) links_.send_to(o, make_frame(FrameType::kProcExit, 0, m, 16));
}

}  // namespace dipc::daemon
