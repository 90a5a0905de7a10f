#include "dipcd/node.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "dipcd/link.h"

namespace dipc::daemon {

using proto::FrameType;
using proto::Kind;
using proto::Op;
using proto::RegRecord;
using proto::RegStatus;

namespace {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kMsg: return "msg";
    case Kind::kSem: return "sem";
    case Kind::kShm: return "shm";
  }
  return "?";
}

constexpr size_t kRegMax = 4096;

std::vector<uint8_t> reply_frame(uint64_t reqid, const OpResult& r) {
  proto::OpReply rep;
  rep.ret = r.ret;
  rep.err = r.err;
  rep.aux = r.aux;
  rep.data = r.data;
  return make_frame(FrameType::kOpReply, reqid, rep, proto::OpReply::kFixedSize + r.data.size());
}

std::vector<uint8_t> reg_frame(FrameType t, uint64_t reqid, const RegRecord& r) {
  return make_frame(t, reqid, r, kRegMax + r.holders.size());
}

std::vector<sembuf> decode_sops(const std::string& data) {
  std::vector<sembuf> sops(data.size() / 6);
  proto::Reader r(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  for (auto& s : sops) {
    s.sem_num = r.u16();
    s.sem_op = r.i16();
    s.sem_flg = r.i16();
  }
  return sops;
}

std::string encode_sops(const std::vector<sembuf>& sops) {
  std::string out(sops.size() * 6, '\0');
  proto::Writer w(reinterpret_cast<uint8_t*>(out.data()), out.size());
  for (auto& s : sops) {
    w.u16(s.sem_num);
    w.i16(s.sem_op);
    w.i16(s.sem_flg);
  }
  return out;
}

bool has_undo(const std::vector<sembuf>& sops) {
  for (auto& s : sops)
    if (s.sem_flg & SEM_UNDO) return true;
  return false;
}


}  // namespace

struct LocalClient {
  std::shared_ptr<Conn> conn;
  ucred cred{};
  // The calling process: when it exits its calls are cancelled, even if a child it forked
  // still holds the connection open.
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  std::map<uint64_t, std::function<void()>> cancels;  // calls in flight, by request id
};

Node::Node(asio::io_context& io, Config cfg, AllowList allow)
    : io_(io),
      cfg_(std::move(cfg)),
      allow_(std::move(allow)),
      executor_(io),
      identities_(std::chrono::seconds(10), cfg_.remote_root),
      sweep_timer_(io),
      referee_timer_(io) {}

Node::~Node() = default;

bool Node::start(std::string& err) {
  ::mkdir(cfg_.run_dir.c_str(), 0755);
  std::string sock = cfg_.run_dir + "/dipcd.sock";
  // Before anything in run_dir is touched (id table, placeholders):
  {
    // A socket that answers belongs to a running dipcd: never take it from under it.
    asio::local::stream_protocol::socket probe(io_);
    std::error_code ec;
    probe.connect(asio::local::stream_protocol::endpoint(sock), ec);
    if (!ec) {
      err = fmt::format("another dipcd is already serving {} (stop it, or give this one its "
                        "own [node] run_dir)", cfg_.run_dir);
      return false;
    }
  }
  if (!ids_.open(cfg_.run_dir, err)) return false;
  remove_stale_placeholders();
  if (cfg_.referee) referee_ = std::make_unique<Referee>(*this);

  ::unlink(sock.c_str());
  try {
    local_acceptor_ = std::make_unique<asio::local::stream_protocol::acceptor>(
        io_, asio::local::stream_protocol::endpoint(sock));
  } catch (const std::system_error& e) {
    err = fmt::format("cannot create the local socket {}: {} (is [node] run_dir writable?)", sock,
                      e.code().message());
    return false;
  }
  ::chmod(sock.c_str(), 0666);  // any local user may call; SO_PEERCRED says who
  try {
    auto addr = asio::ip::make_address(cfg_.listen_address);
    peer_acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(
        io_, asio::ip::tcp::endpoint(addr, cfg_.listen_port));
    port_ = peer_acceptor_->local_endpoint().port();
  } catch (const std::system_error& e) {
    err = fmt::format("cannot listen on {}:{}: {} (is another program using the port? "
                      "[node] listen_address and listen_port in {})",
                      cfg_.listen_address, cfg_.listen_port, e.code().message(), cfg_.source);
    ::unlink(sock.c_str());
    return false;
  }
  {
    std::ofstream pf(cfg_.run_dir + "/dipcd.port");
    pf << port_ << "\n";
  }
  spdlog::info("node {} listening on {}:{} and {}", cfg_.node_name, cfg_.listen_address, port_,
               sock);
  accept_local();
  accept_peer();
  if (referee_) {
    referee_->node_joined(cfg_.node_name, cfg_.listen_address, port_);
    referee_node_ = cfg_.node_name;
    write_state("joined");
    spdlog::info("this node is the referee");
  } else {
    write_state("connecting");
    connect_referee();
  }
  sweep();
  return true;
}

void Node::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  std::error_code ec;
  if (local_acceptor_) local_acceptor_->close(ec);
  if (peer_acceptor_) peer_acceptor_->close(ec);
  sweep_timer_.cancel();
  referee_timer_.cancel();
  // Placeholders belong to this run of dipcd: remove them so that no stale object with a
  // remote key stays behind in this node's kernel.
  for (auto& [k, p] : placeholders_) remove_object(p.kind, p.local_id);
  placeholders_.clear();
  save_placeholders();
  auto links = links_;
  for (auto& l : links)
    if (l->conn) l->conn->close("shutting down");
  executor_.shutdown();
  ids_.clear_all();
  ::unlink((cfg_.run_dir + "/dipcd.sock").c_str());
  write_state("stopped");
}

void Node::write_state(const std::string& s) {
  state_ = s;
  std::string path = cfg_.run_dir + "/state";
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << s << "\n";
  }
  ::rename(tmp.c_str(), path.c_str());
}

void Node::reload_allow(AllowList allow) {
  allow_ = std::move(allow);
  spdlog::info("allow list reloaded: {} entries", allow_.size());
  auto links = links_;
  for (auto& l : links) {
    if (l->outgoing || !l->conn || !l->conn->is_open()) continue;
    if (!allow_.allows_text(l->address)) {
      spdlog::warn("dropping link from {}: address {} is no longer allowed", l->describe(),
                   l->address);
      l->conn->close("address no longer allowed");
    }
  }
}

// ---------------------------------------------------------------------------------------
// Local clients

void Node::accept_local() {
  local_acceptor_->async_accept([this](std::error_code ec, asio::local::stream_protocol::socket s) {
    if (ec) {
      if (!stopping_) spdlog::error("local accept: {}", ec.message());
      if (ec != asio::error::operation_aborted && !stopping_) accept_local();
      return;
    }
    auto c = std::make_shared<LocalClient>();
    socklen_t len = sizeof c->cred;
    if (getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &c->cred, &len) != 0) {
      spdlog::warn("local client without credentials: {}", strerror(errno));
      accept_local();
      return;
    }
    c->conn = std::make_shared<Conn>(Socket(std::move(s)));
    std::weak_ptr<LocalClient> wc = c;
    c->conn->start(
        [this, wc](const Frame& f) {
          if (auto c = wc.lock()) on_local_frame(c, f);
        },
        [c](const std::string& why) mutable {
          if (why != "connection closed" && why != "process exited")
            spdlog::warn("local client (pid {}, uid {}) dropped: {}", c->cred.pid, c->cred.uid, why);
          // The process (or thread) is gone: interrupt what it was waiting for.
          auto cancels = std::move(c->cancels);
          for (auto& [id, cancel] : cancels) cancel();
          c.reset();
        });
    int pfd = int(syscall(SYS_pidfd_open, c->cred.pid, 0));
    if (pfd >= 0) {
      c->pidfd = std::make_unique<asio::posix::stream_descriptor>(io_, pfd);
      c->pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                           [wc](std::error_code ec) {
                             auto c = wc.lock();
                             if (!ec && c) c->conn->close("process exited");
                           });
    }
    accept_local();
  });
}

void Node::reply_local(const std::shared_ptr<LocalClient>& c, uint64_t reqid, const OpResult& r) {
  c->cancels.erase(reqid);
  c->conn->send(reply_frame(reqid, r));
}

void Node::on_local_frame(const std::shared_ptr<LocalClient>& c, const Frame& f) {
  auto r = f.reader();
  switch (f.header.type) {
    case FrameType::kOp: {
      proto::OpRequest req;
      if (!req.decode(r)) {
        c->conn->send(reply_frame(f.header.request_id, OpResult::error(EINVAL)));
        return;
      }
      local_op(c, f.header.request_id, req);
      return;
    }
    case FrameType::kCancel: {
      auto it = c->cancels.find(f.header.request_id);
      if (it != c->cancels.end()) it->second();
      return;
    }
    case FrameType::kAdmin: {
      proto::Admin a;
      if (!a.decode(r)) {
        proto::AdminReply rep{EINVAL, "malformed admin request"};
        c->conn->send(make_frame(FrameType::kAdminReply, f.header.request_id, rep, 1024));
        return;
      }
      admin(c, f.header.request_id, a);
      return;
    }
    default:
      c->conn->close(fmt::format("unexpected frame type {} on the local socket",
                                 int(f.header.type)));
  }
}

void Node::local_op(const std::shared_ptr<LocalClient>& c, uint64_t reqid,
                    const proto::OpRequest& req) {
  const Identity* who = &identities_.for_uid(c->cred.uid, c->cred.gid);
  OwnedOp op = OwnedOp::from(req);
  op.user = who->name;
  op.pid = c->cred.pid;
  if (op.op == Op::kGet) {
    local_get(c, reqid, std::move(op), *who);
    return;
  }
  std::weak_ptr<LocalClient> wc = c;
  OpDone done = [this, wc, reqid](OpResult r) {
    if (auto c = wc.lock()) reply_local(c, reqid, r);
  };
  ObjKey k{uint8_t(op.kind), op.id};
  if (auto p = placeholders_.find(k); p != placeholders_.end()) {
    op.id = p->second.owner_id;
    if (is_rmid(op)) {
      // This node learns of the removal from the answer, not later from the referee: the
      // caller's next look-up of the key must not find the placeholder.
      Kind kind = op.kind;
      int32_t key = p->second.key;
      done = [this, kind, key, done](OpResult r) {
        if (r.ret == 0) drop_placeholder(kind, key);
        done(std::move(r));
      };
    }
    if (op.op == Op::kSemOp && has_undo(decode_sops(op.data))) watch_process(op.pid, p->second.owner);
    c->cancels[reqid] = forward(p->second.owner, "", 0, std::move(op), done);
  } else if (owned_.count(k)) {
    SemUndo::Proc origin{cfg_.node_name, op.pid};
    uint64_t ticket = run_here(
        *who, std::move(op), origin,
        [wc, reqid](OpResult) {
          if (auto c = wc.lock()) c->cancels.erase(reqid);
        },
        [conn = c->conn, reqid](const OpResult& r) { conn->send_now(reply_frame(reqid, r)); });
    c->cancels[reqid] = [this, ticket] { executor_.cancel(ticket); };
  } else {
    // Not (or no longer) distributed: removed, or its owner is gone.
    reply_local(c, reqid, OpResult::error(EINVAL));
  }
}

// *get with IPC_DIPC from a local process: ask the referee, then create (free key, locked
// for us), check at the owner and make a placeholder (key elsewhere), or look here.
void Node::local_get(const std::shared_ptr<LocalClient>& c, uint64_t reqid, OwnedOp op,
                     const Identity& who) {
  std::weak_ptr<LocalClient> wc = c;
  auto finish = [this, wc, reqid](OpResult r) {
    if (auto c = wc.lock()) reply_local(c, reqid, r);
  };
  RegRecord q;
  q.kind = op.kind;
  q.key = op.key;
  q.flags = op.flags;
  referee_call(FrameType::kRegLookup, q, [this, op, who, finish](const RegRecord& a) mutable {
    if (a.status == RegStatus::kError) return finish(OpResult::error(a.err));
    if (a.status == RegStatus::kCreate) {
      execute(who, op, [this, op, finish](OpResult r) {
        RegRecord m;
        m.kind = op.kind;
        m.key = op.key;
        ObjectInfo info;
        if (r.ret < 0 || !stat_object(op.kind, int(r.ret), info)) {
          referee_send(FrameType::kRegAbort, m);
          return finish(r.ret < 0 ? r : OpResult::error(EIDRM));
        }
        int id = int(r.ret);
        owned_[{uint8_t(op.kind), id}] = op.key;
        ids_.set(op.kind, id, idtable::kFlagOwnedHere);
        m.id = id;
        m.mode = info.mode;
        m.uid = info.uid;
        m.gid = info.gid;
        m.size = info.size;
        referee_send(FrameType::kRegCommit, m);
        spdlog::info("created {} key {} id {}", kind_name(op.kind), op.key, id);
        finish(r);
      });
      return;
    }
    // The key exists. Checked where the object is, as the caller, without IPC_CREAT/EXCL.
    OwnedOp check = op;
    check.flags &= ~(IPC_CREAT | IPC_EXCL);
    if (a.owner == cfg_.node_name) {
      execute(who, check, finish);
      return;
    }
    std::string owner(a.owner), addr = owner_address(a.owner_addr);
    ObjectInfo info{a.mode, a.uid, a.gid, a.size};
    int32_t owner_id = a.id;
    forward(owner, addr, a.owner_port, check,
            [this, op, owner, owner_id, info, finish](OpResult r) {
              if (r.ret < 0) return finish(r);
              ObjKey bykey{uint8_t(op.kind), op.key};
              if (auto it = placeholder_by_key_.find(bykey); it != placeholder_by_key_.end()) {
                auto& p = placeholders_[{uint8_t(op.kind), it->second}];
                if (p.owner == owner && p.owner_id == owner_id)
                  return finish(OpResult::ok(it->second));
                drop_placeholder(op.kind, op.key);  // a stale one, of an object now gone
              }
              int id = create_placeholder(op.kind, op.key, info);
              if (id < 0) {
                int e = errno;
                spdlog::warn("cannot make a placeholder for {} key {}: {}", kind_name(op.kind),
                             op.key, strerror(e));
                return finish(OpResult::error(e));
              }
              if (!ids_.set(op.kind, id, 0)) {
                remove_object(op.kind, id);
                return finish(OpResult::error(ENOSPC));
              }
              placeholders_[{uint8_t(op.kind), id}] = {op.kind, op.key, id, owner, owner_id};
              placeholder_by_key_[bykey] = id;
              save_placeholders();
              spdlog::info("placeholder {} key {} id {} for {}'s id {}", kind_name(op.kind),
                           op.key, id, owner, owner_id);
              finish(OpResult::ok(id));
            });
  });
}

uint64_t Node::run_here(const Identity& who, OwnedOp op, const SemUndo::Proc& origin,
                        OpDone done, OwnerExecutor::ReplyNow reply_now) {
  Kind kind = op.kind;
  int32_t id = op.id;
  int cmd = int(op.arg1);
  bool rmid = is_rmid(op);
  bool setval = op.op == Op::kSemCtl && (cmd == SETVAL || cmd == SETALL);
  int semnum = cmd == SETVAL ? int(op.arg2) : -1;
  // SEM_UNDO for a process of another node is kept here, not in dipcd's kernel undo list.
  std::vector<sembuf> undo_sops;
  bool remote_caller = origin.first != cfg_.node_name;
  if (op.op == Op::kSemOp && remote_caller) {
    auto sops = decode_sops(op.data);
    if (has_undo(sops)) {
      if (!undo_.in_range(origin, id, sops)) {
        if (int e = undo_.range_error(origin, id, sops, who)) {
          asio::post(io_, [done, reply_now, e] {
            if (reply_now) reply_now(OpResult::error(e));
            done(OpResult::error(e));
          });
          return 0;
        }
      }
      undo_sops = sops;
      for (auto& s : sops) s.sem_flg &= short(~SEM_UNDO);
      op.data = encode_sops(sops);
    }
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
      if (!undo_sops.empty()) {
        undo_.record(origin, id, undo_sops);
        // The process exited while its call was on its way: undo at once.
        if (exited_.count(origin))
          for (auto& a : undo_.take(origin)) apply_adjustment(a);
      }
    }
    done(std::move(r));
  };
  // A call that can complete at once is made right here, saving two thread hand-offs; only
  // one that has to wait goes to a worker.
  if (may_block(op)) {
    OwnedOp quick = nowait_variant(op);
    OpResult r = OwnerExecutor::run_as(who, [&quick] { return run_op(quick); });
    if (!would_block(op, r)) {
      asio::post(io_, [finish = std::move(finish), reply_now, r = std::move(r)]() mutable {
        if (reply_now) reply_now(r);
        finish(std::move(r));
      });
      return 0;
    }
  }
  return executor_.submit(who, [op = std::move(op)] { return run_op(op); }, std::move(finish),
                          std::move(reply_now));
}

std::function<void()> Node::execute(const Identity& who, OwnedOp op, OpDone done) {
  SemUndo::Proc origin{cfg_.node_name, op.pid};
  uint64_t ticket = run_here(who, std::move(op), origin, std::move(done));
  return [this, ticket] { executor_.cancel(ticket); };
}

void Node::watch_process(int32_t pid, const std::string& owner) {
  auto& w = watches_[pid];
  w.owners.insert(owner);
  if (w.fd) return;
  int fd = int(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    // Already gone: its adjustments are to be undone now.
    spdlog::debug("pidfd_open({}): {}", pid, strerror(errno));
    asio::post(io_, [this, pid] { process_exited({cfg_.node_name, pid}); });
    return;
  }
  w.fd = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  w.fd->async_wait(asio::posix::stream_descriptor::wait_read, [this, pid](std::error_code ec) {
    if (!ec) process_exited({cfg_.node_name, pid});
  });
}

// A process has exited: if it is ours, tell the owners that keep its adjustments; if it is
// another node's, apply its adjustments here.
void Node::process_exited(const SemUndo::Proc& p) {
  if (p.first == cfg_.node_name) {
    auto it = watches_.find(p.second);
    if (it == watches_.end()) return;
    auto owners = std::move(it->second.owners);
    watches_.erase(it);
    proto::ProcExit m{p.second};
    for (auto& o : owners)
      if (auto l = out_.find(o); l != out_.end())
        l->second->send(make_frame(FrameType::kProcExit, 0, m, 16));
    return;
  }
  exited_[p] = Clock::now();
  for (auto& a : undo_.take(p)) apply_adjustment(a);
}

std::function<void()> Node::forward(const std::string& owner, const std::string& addr,
                                    uint16_t port, OwnedOp op, OpDone done) {
  uint64_t reqid = next_reqid_++;
  remote_pending_[reqid] = RemotePending{owner, std::move(done)};
  auto fail = [this, reqid](int err) {
    auto it = remote_pending_.find(reqid);
    if (it == remote_pending_.end()) return;
    auto d = std::move(it->second.done);
    remote_pending_.erase(it);
    d(OpResult::error(err));
  };
  auto frame = std::make_shared<std::vector<uint8_t>>();
  {
    proto::OpRequest v = op.view();
    *frame = make_frame(FrameType::kOp, reqid, v, v.fixed_size() + v.data.size());
  }
  auto sent = std::make_shared<bool>(false);
  with_link(owner, addr, port, [this, reqid, frame, fail, sent](std::shared_ptr<Link> l) {
    if (!remote_pending_.count(reqid)) return;  // cancelled while the link was being made
    if (!l) return fail(ENOLINK);               // owner unreachable: nothing was sent
    l->send(std::move(*frame));
    *sent = true;
  });
  return [this, reqid, owner, sent, fail] {
    if (!remote_pending_.count(reqid)) return;
    // Not sent yet: it never will be, and the caller is told at once.
    if (!*sent) return fail(EINTR);
    if (auto it = out_.find(owner); it != out_.end())
      it->second->send(make_empty_frame(FrameType::kCancel, reqid));
  };
}

// ---------------------------------------------------------------------------------------
// Peer links

void Node::accept_peer() {
  peer_acceptor_->async_accept([this](std::error_code ec, asio::ip::tcp::socket s) {
    if (ec) {
      if (ec != asio::error::operation_aborted && !stopping_) {
        spdlog::error("peer accept: {}", ec.message());
        accept_peer();
      }
      return;
    }
    s.set_option(asio::ip::tcp::no_delay(true));
    auto l = std::make_shared<Link>(io_);
    l->conn = std::make_shared<Conn>(Socket(std::move(s)));
    l->address = l->conn->peer_address();
    l->outgoing = false;
    links_.insert(l);
    start_link(l);
    accept_peer();
  });
}

void Node::start_link(const std::shared_ptr<Link>& l) {
  std::weak_ptr<Link> wl = l;
  l->last_heard = Clock::now();
  l->conn->start(
      [this, wl](const Frame& f) {
        if (auto l = wl.lock()) on_peer_frame(l, f);
      },
      [this, wl](const std::string& why) {
        if (auto l = wl.lock()) link_lost(l, why);
      });
  if (l->outgoing) {
    proto::Hello h;
    h.node = cfg_.node_name;
    h.listen_port = port_;
    l->send(make_frame(FrameType::kHello, 0, h, 512));
  }
  heartbeat(l);
}

void Node::heartbeat(const std::shared_ptr<Link>& l) {
  std::weak_ptr<Link> wl = l;
  l->timer.expires_after(cfg_.heartbeat_interval);
  l->timer.async_wait([this, wl](std::error_code ec) {
    auto l = wl.lock();
    if (ec || !l || !l->conn || !l->conn->is_open()) return;
    auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - l->last_heard);
    if (silent > cfg_.peer_timeout) {
      l->conn->close(fmt::format("silent for {} ms (peer time-out {} ms)", silent.count(),
                                 cfg_.peer_timeout.count()));
      return;
    }
    if (l->ready) l->send(make_empty_frame(FrameType::kHeartbeat, 0));
    heartbeat(l);
  });
}

namespace {

// The cluster-secret handshake (docs/design.md): HMAC-SHA256 keyed with the secret over a
// role, the other side's fresh nonce and, for the connecting side, its node name.
std::string auth_mac(const std::string& secret, std::string_view role, std::string_view nonce,
                     std::string_view name) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                              secret.size());
  for (std::string_view part : {role, nonce, name})
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(part.data()),
                                  part.size());
  std::string out(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&st, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

bool same_mac(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string fresh_nonce() {
  std::string n(proto::kAuthBytes, '\0');
  randombytes_buf(n.data(), n.size());
  return n;
}

}  // namespace

// The connecting side of a new link: the answer to its hello, and the secret handshake.
void Node::on_hello_answer(const std::shared_ptr<Link>& l, const Frame& f) {
  auto r = f.reader();
  auto give_up = [&](const std::string& reason) {
    spdlog::error("link to {}:{}: {}", l->address, l->port, reason);
    if (l->is_referee) write_state("refused: " + reason);
    l->conn->close("refused: " + reason);
  };
  if (f.header.type == FrameType::kAuth) {
    proto::Auth a;
    if (!a.decode(r)) return l->conn->close("malformed authentication");
    if (secret_.empty())
      return give_up("the peer requires a cluster secret: set [security] secret_file to the "
                     "cluster's secret");
    if (!a.nonce.empty() && a.mac.empty()) {  // its challenge: prove we know the secret
      l->my_nonce = fresh_nonce();
      std::string mac = auth_mac(secret_, "connector", a.nonce, cfg_.node_name);
      proto::Auth proof{l->my_nonce, mac};
      l->send(make_frame(FrameType::kAuth, 0, proof, 128));
      return;
    }
    if (a.nonce.empty() && !a.mac.empty() && !l->my_nonce.empty()) {  // its proof
      if (!same_mac(a.mac, auth_mac(secret_, "acceptor", l->my_nonce, "")))
        return give_up("authentication failed: the peer does not know this cluster's secret");
      l->peer_proved = true;
      return;
    }
    return l->conn->close("unexpected authentication step");
  }
  proto::HelloAck ack;
  if (f.header.type != FrameType::kHelloAck || !ack.decode(r)) {
    l->conn->close("bad hello answer");
    return;
  }
  if (!ack.accepted) {
    std::string reason(ack.reason);
    spdlog::error("refused by {}:{}: {}", l->address, l->port, reason);
    if (l->is_referee) write_state("refused: " + reason);
    l->conn->close("refused: " + reason);
    return;
  }
  if (!secret_.empty() && !l->peer_proved)
    return give_up("authentication failed: the peer did not prove the cluster secret (does it "
                   "have [security] secret_file?)");
  l->name = std::string(ack.node);
  l->ready = true;
  if (auto old = out_.find(l->name); old != out_.end() && old->second != l)
    old->second->conn->close("replaced");
  out_[l->name] = l;
  spdlog::info("link to {} ready", l->describe());
  if (l->is_referee) referee_joined();
  auto waiters = std::move(l->waiters);
  for (auto& w : waiters) w(l);
}

void Node::on_hello(const std::shared_ptr<Link>& l, const Frame& f) {
  if (l->outgoing) return on_hello_answer(l, f);
  auto r = f.reader();
  auto refuse = [&](const std::string& reason) {
    spdlog::warn("refusing node from {}: {}", l->address, reason);
    proto::HelloAck ack;
    ack.accepted = 0;
    ack.node = cfg_.node_name;
    ack.reason = reason;
    l->send(make_frame(FrameType::kHelloAck, 0, ack, 2048));
    // Give the answer time to leave before closing.
    auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(200));
    std::weak_ptr<Link> wl = l;
    t->async_wait([wl, t](std::error_code) {
      if (auto l = wl.lock()) l->conn->close("refused");
    });
  };
  if (!l->my_nonce.empty()) {  // we challenged its hello: this must be the proof
    proto::Auth a;
    if (f.header.type != FrameType::kAuth || !a.decode(r) || a.nonce.empty() || a.mac.empty())
      return l->conn->close("expected the proof of the cluster secret");
    if (!same_mac(a.mac, auth_mac(secret_, "connector", l->my_nonce, l->name)))
      return refuse(fmt::format("authentication failed: node '{}' at {} does not know this "
                                "cluster's secret ({})", l->name, l->address, cfg_.secret_file));
    proto::Auth proof;
    std::string mac = auth_mac(secret_, "acceptor", a.nonce, "");
    proof.mac = mac;
    l->send(make_frame(FrameType::kAuth, 0, proof, 128));
    return accept_node(l);
  }
  proto::Hello h;
  if (f.header.type != FrameType::kHello || !h.decode(r)) {
    l->conn->close("first frame is not a valid hello");
    return;
  }
  if (!allow_.allows_text(l->address)) {
    refuse(fmt::format("address {} is not allowed by {} on node {}", l->address, cfg_.allow_file,
                       cfg_.node_name));
    return;
  }
  std::string name(h.node);
  if (name == cfg_.node_name) {
    refuse(fmt::format("node name '{}' is already used by the node at {}:{}", name,
                       cfg_.listen_address, port_));
    return;
  }
  if (auto it = in_.find(name); it != in_.end() && it->second->conn->is_open()) {
    refuse(fmt::format("a node named '{}' is already connected from {}", name,
                       it->second->address));
    return;
  }
  l->name = name;
  l->port = h.listen_port;
  if (!secret_.empty()) {  // challenge it first
    l->my_nonce = fresh_nonce();
    proto::Auth challenge;
    challenge.nonce = l->my_nonce;
    l->send(make_frame(FrameType::kAuth, 0, challenge, 128));
    return;
  }
  accept_node(l);
}

void Node::accept_node(const std::shared_ptr<Link>& l) {
  l->ready = true;
  in_[l->name] = l;
  if (referee_) referee_->node_joined(l->name, l->address, l->port);
  proto::HelloAck ack;
  ack.accepted = 1;
  ack.node = cfg_.node_name;
  l->send(make_frame(FrameType::kHelloAck, 0, ack, 1024));
  spdlog::info("node {} joined", l->describe());
}

void Node::on_peer_frame(const std::shared_ptr<Link>& l, const Frame& f) {
  l->last_heard = Clock::now();
  if (!l->ready) return on_hello(l, f);
  auto r = f.reader();
  auto bad = [&](const char* what) {
    spdlog::warn("malformed {} from {}: dropping the link", what, l->describe());
    l->conn->close(std::string("malformed ") + what);
  };
  switch (f.header.type) {
    case FrameType::kHeartbeat: return;
    case FrameType::kProcExit: {
      proto::ProcExit m;
      if (!m.decode(r)) return bad("process exit notice");
      return process_exited({l->name, m.pid});
    }
    case FrameType::kOp: {
      proto::OpRequest req;
      if (!req.decode(r)) return bad("operation");
      return peer_op(l, f.header.request_id, req);
    }
    case FrameType::kOpReply: {
      proto::OpReply rep;
      if (!rep.decode(r)) return bad("reply");
      auto it = remote_pending_.find(f.header.request_id);
      if (it == remote_pending_.end() || it->second.node != l->name) return;
      auto done = std::move(it->second.done);
      remote_pending_.erase(it);
      done(OpResult{rep.ret, rep.err, rep.aux, std::string(rep.data)});
      return;
    }
    case FrameType::kCancel: {
      auto it = peer_running_.find({l.get(), f.header.request_id});
      if (it != peer_running_.end()) executor_.cancel(it->second);
      return;
    }
    case FrameType::kRegReply: {
      RegRecord rec;
      if (!rec.decode(r) || !r.at_end()) return bad("referee reply");
      return on_reg_reply(f.header.request_id, rec);
    }
    case FrameType::kRegRemoved: {
      RegRecord rec;
      if (!rec.decode(r) || !r.at_end()) return bad("removal notice");
      return drop_placeholder(rec.kind, rec.key);
    }
    case FrameType::kRegListReply: {
      auto it = reg_pending_.find(f.header.request_id);
      if (it == reg_pending_.end()) return;
      auto done = std::move(it->second);
      reg_pending_.erase(it);
      // The list travels as a count and records; hand the raw frame over in a record.
      RegRecord carrier;
      carrier.holders = std::string_view(reinterpret_cast<const char*>(f.payload.data()),
                                         f.payload.size());
      done(carrier);
      return;
    }
    case FrameType::kRegLookup:
    case FrameType::kRegCommit:
    case FrameType::kRegAbort:
    case FrameType::kRegRemove:
    case FrameType::kRegList: {
      if (!referee_) return bad("referee request (this node is not the referee)");
      if (f.header.type == FrameType::kRegList) {
        std::vector<uint8_t> out(proto::kHeaderSize + proto::kMaxPayload);
        proto::Writer w(out.data() + proto::kHeaderSize, proto::kMaxPayload);
        std::vector<std::string> storage;
        auto recs = referee_->records(storage);
        w.u32(uint32_t(recs.size()));
        for (auto& x : recs) x.encode(w);
        proto::Header h;
        h.type = FrameType::kRegListReply;
        h.request_id = f.header.request_id;
        h.length = uint32_t(w.size());
        proto::encode_header(h, out.data());
        out.resize(w.ok() ? proto::kHeaderSize + w.size() : 0);
        l->send(std::move(out));
        return;
      }
      RegRecord rec;
      if (!rec.decode(r) || !r.at_end()) return bad("referee request");
      switch (f.header.type) {
        case FrameType::kRegLookup:
          referee_->lookup(l->name, f.header.request_id, rec.kind, rec.key, rec.flags);
          break;
        case FrameType::kRegCommit: referee_->commit(l->name, rec); break;
        case FrameType::kRegAbort: referee_->abort(l->name, rec.kind, rec.key); break;
        default: referee_->remove(l->name, rec.kind, rec.key); break;
      }
      return;
    }
    default:
      return bad("frame of a type not used on links");
  }
}

// An operation from another node on an object this node owns.
void Node::peer_op(const std::shared_ptr<Link>& l, uint64_t reqid, const proto::OpRequest& req) {
  auto answer = [l, reqid](const OpResult& r) { l->send(reply_frame(reqid, r)); };
  const auto& who = identities_.for_name(std::string(req.user));
  if (!who) {
    spdlog::warn("{} calls as '{}', which has no account here: EACCES", l->describe(), req.user);
    return answer(OpResult::error(EACCES));
  }
  OwnedOp op = OwnedOp::from(req);
  if (op.op != Op::kGet && !owned_.count({uint8_t(op.kind), op.id})) {
    return answer(OpResult::error(EINVAL));  // removed meanwhile, or never ours
  }
  std::pair<Link*, uint64_t> key{l.get(), reqid};
  auto done = [this, key](OpResult) { peer_running_.erase(key); };
  // The answer leaves from the worker that has it: one thread hand-off fewer.
  auto reply_now = [conn = l->conn, reqid](const OpResult& r) {
    conn->send_now(reply_frame(reqid, r));
  };
  SemUndo::Proc origin{l->name, op.pid};
  uint64_t ticket = run_here(*who, std::move(op), origin, done, reply_now);
  if (ticket) peer_running_[key] = ticket;
}

void Node::with_link(const std::string& node, const std::string& addr, uint16_t port,
                     std::function<void(std::shared_ptr<Link>)> cb) {
  if (auto it = out_.find(node); it != out_.end() && it->second->conn->is_open())
    return cb(it->second);
  for (auto& l : links_) {
    if (l->outgoing && !l->ready && l->conn && l->conn->is_open() &&
        ((!node.empty() && l->name == node) || (l->address == addr && l->port == port))) {
      l->waiters.push_back(std::move(cb));
      return;
    }
  }
  if (addr.empty() || port == 0) return cb(nullptr);
  auto l = connect_to(addr, port);
  l->name = node;
  l->waiters.push_back(std::move(cb));
}

std::shared_ptr<Link> Node::connect_to(const std::string& addr, uint16_t port) {
  auto l = std::make_shared<Link>(io_);
  l->outgoing = true;
  l->address = addr;
  l->port = port;
  links_.insert(l);
  std::error_code ec;
  auto ip = asio::ip::make_address(addr, ec);
  if (ec) {
    // A host name (the referee's address may be one): resolved here, once per connection.
    asio::ip::tcp::resolver res(io_);
    auto found = res.resolve(addr, std::to_string(port), ec);
    if (!ec && !found.empty()) ip = found.begin()->endpoint().address();
  }
  auto sock = std::make_shared<asio::ip::tcp::socket>(io_);
  auto fail = [this, l](const std::string& why) {
    // The referee is retried every second: say so once, not every second.
    if (!l->is_referee || !referee_unreachable_logged_)
      spdlog::warn("cannot reach {}:{}: {}{}", l->address, l->port, why,
                   l->is_referee ? " (retrying every second)" : "");
    if (l->is_referee) referee_unreachable_logged_ = true;
    links_.erase(l);
    auto waiters = std::move(l->waiters);
    for (auto& w : waiters) w(nullptr);
    if (l->is_referee) {
      referee_link_.reset();
      referee_timer_.expires_after(std::chrono::seconds(1));
      referee_timer_.async_wait([this](std::error_code e) {
        if (!e && !stopping_) connect_referee();
      });
    }
  };
  if (ec) {
    asio::post(io_, [fail, addr] { fail("cannot resolve " + addr); });
    return l;
  }
  l->timer.expires_after(cfg_.connect_timeout);
  l->timer.async_wait([sock](std::error_code e) {
    if (!e) sock->close();
  });
  sock->async_connect({ip, port}, [this, l, sock, fail](std::error_code e) {
    l->timer.cancel();
    if (e) return fail(e == asio::error::operation_aborted ? "connect timed out" : e.message());
    sock->set_option(asio::ip::tcp::no_delay(true));
    l->conn = std::make_shared<Conn>(Socket(std::move(*sock)));
    start_link(l);
  });
  return l;
}

void Node::link_lost(const std::shared_ptr<Link>& l, const std::string& why) {
  links_.erase(l);
  l->timer.cancel();
  auto waiters = std::move(l->waiters);
  for (auto& w : waiters) w(nullptr);
  bool was_ready = l->ready;
  if (auto it = out_.find(l->name); it != out_.end() && it->second == l) out_.erase(it);
  if (auto it = in_.find(l->name); it != in_.end() && it->second == l) in_.erase(it);
  for (auto it = peer_running_.begin(); it != peer_running_.end();) {
    if (it->first.first == l.get()) {
      executor_.cancel(it->second);
      it = peer_running_.erase(it);
    } else {
      ++it;
    }
  }
  if (l->is_referee) {
    referee_link_.reset();
    if (!stopping_) {
      if (state_.rfind("refused", 0) != 0) write_state("connecting");
      // Referee calls in flight can no longer be answered.
      auto pending = std::move(reg_pending_);
      for (auto& [id, done] : pending) {
        RegRecord r;
        r.status = RegStatus::kError;
        r.err = ENOLINK;
        done(r);
      }
      referee_timer_.expires_after(std::chrono::seconds(state_.rfind("refused", 0) == 0 ? 3 : 1));
      referee_timer_.async_wait([this](std::error_code e) {
        if (!e && !stopping_) connect_referee();
      });
    }
  }
  if (was_ready && !stopping_) {
    spdlog::warn("link with {} lost: {}", l->describe(), why);
    peer_dead(l->name, why);
  } else if (!l->outgoing && why != "connection closed" && !stopping_) {
    spdlog::warn("connection from {} dropped before its hello: {}", l->address, why);
  }
}

// Fail-stop: a node whose link was lost is dead; its objects are gone for us.
void Node::peer_dead(const std::string& name, const std::string& why) {
  if (name.empty()) return;
  spdlog::warn("node {} declared dead ({})", name, why);
  std::vector<uint64_t> failed;
  for (auto& [id, p] : remote_pending_)
    if (p.node == name) failed.push_back(id);
  for (auto id : failed) {
    auto it = remote_pending_.find(id);
    if (it == remote_pending_.end()) continue;
    auto done = std::move(it->second.done);
    remote_pending_.erase(it);
    done(OpResult::error(EIDRM));
  }
  std::vector<std::pair<Kind, int32_t>> gone;
  for (auto& [k, p] : placeholders_)
    if (p.owner == name) gone.push_back({p.kind, p.key});
  for (auto& [kind, key] : gone) drop_placeholder(kind, key);
  for (auto& a : undo_.take_node(name)) apply_adjustment(a);
  if (referee_) referee_->node_dead(name);
  for (auto& m : {&out_, &in_}) {
    if (auto it = m->find(name); it != m->end()) {
      auto l = it->second;
      m->erase(it);
      l->conn->close("peer declared dead");
    }
  }
}

// ---------------------------------------------------------------------------------------
// Objects

void Node::object_removed(Kind kind, int32_t id) {
  auto it = owned_.find({uint8_t(kind), id});
  if (it == owned_.end()) return;
  RegRecord r;
  r.kind = kind;
  r.key = it->second;
  owned_.erase(it);
  ids_.clear(kind, id);
  if (kind == Kind::kSem) undo_.drop_set(id);
  spdlog::info("{} key {} id {} removed", kind_name(kind), r.key, id);
  referee_send(FrameType::kRegRemove, r);
}

void Node::drop_placeholder(Kind kind, int32_t key) {
  auto it = placeholder_by_key_.find({uint8_t(kind), key});
  if (it == placeholder_by_key_.end()) return;
  int32_t id = it->second;
  placeholder_by_key_.erase(it);
  placeholders_.erase({uint8_t(kind), id});
  ids_.clear(kind, id);
  remove_object(kind, id);
  save_placeholders();
  spdlog::info("placeholder {} key {} id {} dropped", kind_name(kind), key, id);
}

void Node::save_placeholders() {
  std::string path = cfg_.run_dir + "/placeholders";
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    for (auto& [k, p] : placeholders_) f << int(p.kind) << " " << p.key << " " << p.local_id << "\n";
  }
  ::rename(tmp.c_str(), path.c_str());
}

void Node::remove_stale_placeholders() {
  std::ifstream f(cfg_.run_dir + "/placeholders");
  int kind = 0;
  int32_t key = 0, id = 0;
  size_t n = 0;
  while (f >> kind >> key >> id) {
    if (!proto::is_valid_kind(uint8_t(kind))) continue;
    ObjectInfo info;
    // Only if the object with that id still has that key: the id may have been reused.
    if (stat_object(Kind(kind), id, info) && info.key == key && remove_object(Kind(kind), id) == 0)
      ++n;
  }
  if (n) spdlog::info("removed {} placeholders left by a previous dipcd", n);
  save_placeholders();
}

// Notices objects removed behind dipcd's back (ipcrm without the shim).
void Node::sweep() {
  std::vector<std::pair<Kind, int32_t>> gone_owned, gone_ph;
  ObjectInfo info;
  for (auto& [k, key] : owned_)
    if (!stat_object(Kind(k.first), k.second, info)) gone_owned.push_back({Kind(k.first), k.second});
  for (auto& [k, p] : placeholders_)
    if (!stat_object(p.kind, p.local_id, info)) gone_ph.push_back({p.kind, p.key});
  std::erase_if(exited_, [](const auto& e) { return Clock::now() - e.second > std::chrono::seconds(10); });
  for (auto& [kind, id] : gone_owned) object_removed(kind, id);
  for (auto& [kind, key] : gone_ph) drop_placeholder(kind, key);
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](std::error_code ec) {
    if (!ec && !stopping_) sweep();
  });
}

// ---------------------------------------------------------------------------------------
// Referee client

void Node::connect_referee() {
  if (referee_ || referee_link_ || stopping_) return;
  referee_link_ = connect_to(cfg_.referee_host, cfg_.referee_port);
  referee_link_->is_referee = true;
}

void Node::referee_joined() {
  referee_unreachable_logged_ = false;
  referee_node_ = referee_link_->name;
  write_state("joined");
  spdlog::info("joined the cluster of referee {}", referee_link_->describe());
  // Rebuild the referee's table with what this node owns (it may have restarted).
  for (auto& [k, key] : owned_) {
    RegRecord r;
    r.kind = Kind(k.first);
    r.key = key;
    r.id = k.second;
    ObjectInfo info;
    if (stat_object(r.kind, r.id, info)) {
      r.mode = info.mode;
      r.uid = info.uid;
      r.gid = info.gid;
      r.size = info.size;
    }
    referee_send(FrameType::kRegCommit, r);
  }
}

void Node::referee_send(FrameType t, const RegRecord& r) {
  if (referee_) {
    switch (t) {
      case FrameType::kRegCommit: referee_->commit(cfg_.node_name, r); break;
      case FrameType::kRegAbort: referee_->abort(cfg_.node_name, r.kind, r.key); break;
      case FrameType::kRegRemove: referee_->remove(cfg_.node_name, r.kind, r.key); break;
      default: break;
    }
    return;
  }
  if (referee_link_ && referee_link_->ready) referee_link_->send(reg_frame(t, 0, r));
}

void Node::referee_call(FrameType t, const RegRecord& r, RegDone done) {
  uint64_t reqid = next_reqid_++;
  if (referee_) {
    reg_pending_[reqid] = std::move(done);
    // Posted, so that the referee never calls back into itself.
    RegRecord copy = r;
    auto key = copy.key;
    auto kind = copy.kind;
    auto flags = copy.flags;
    asio::post(io_, [this, reqid, kind, key, flags] {
      referee_->lookup(cfg_.node_name, reqid, kind, key, flags);
    });
    return;
  }
  if (!referee_link_ || !referee_link_->ready) {
    RegRecord e;
    e.status = RegStatus::kError;
    e.err = ENOLINK;
    return done(e);
  }
  reg_pending_[reqid] = std::move(done);
  referee_link_->send(reg_frame(t, reqid, r));
}

void Node::on_reg_reply(uint64_t reqid, const RegRecord& r) {
  auto it = reg_pending_.find(reqid);
  if (it == reg_pending_.end()) return;
  auto done = std::move(it->second);
  reg_pending_.erase(it);
  done(r);
}

void Node::reg_reply(const std::string& node, uint64_t reqid, const RegRecord& r) {
  if (node == cfg_.node_name) {
    // Copy the strings: the record's views die when this returns.
    auto owner = std::make_shared<std::string>(r.owner);
    auto addr = std::make_shared<std::string>(r.owner_addr);
    RegRecord copy = r;
    asio::post(io_, [this, reqid, copy, owner, addr]() mutable {
      copy.owner = *owner;
      copy.owner_addr = *addr;
      on_reg_reply(reqid, copy);
    });
    return;
  }
  if (auto it = in_.find(node); it != in_.end())
    it->second->send(reg_frame(FrameType::kRegReply, reqid, r));
}

void Node::reg_removed(const std::string& holder, const RegRecord& r) {
  if (holder == cfg_.node_name) {
    Kind kind = r.kind;
    int32_t key = r.key;
    asio::post(io_, [this, kind, key] { drop_placeholder(kind, key); });
    return;
  }
  if (auto it = in_.find(holder); it != in_.end())
    it->second->send(reg_frame(FrameType::kRegRemoved, 0, r));
}

// ---------------------------------------------------------------------------------------
// Admin (the dipc command)

// The referee knows the referee node by its listen address, which may be a wildcard:
// other nodes then reach it at the address their configuration gives for the referee.
std::string Node::owner_address(std::string_view addr) const {
  if (addr.empty() || addr == "0.0.0.0" || addr == "::") return cfg_.referee_host;
  return std::string(addr);
}

std::string Node::status_text() {
  std::ostringstream o;
  o << "node:      " << cfg_.node_name << "\n";
  o << "listening: " << cfg_.listen_address << ":" << port_ << "\n";
  if (referee_)
    o << "referee:   this node\n";
  else
    o << "referee:   " << cfg_.referee_host << ":" << cfg_.referee_port
      << (referee_node_.empty() ? "" : " (" + referee_node_ + ")") << "\n";
  o << "state:     " << state_ << "\n";
  o << "objects:   " << owned_.size() << " owned, " << placeholders_.size() << " placeholders, "
    << executor_.busy() << " calls running for others, " << remote_pending_.size()
    << " calls waiting on others\n";
  o << "links:\n";
  if (links_.empty()) o << "  (none)\n";
  auto now = Clock::now();
  for (auto& l : links_) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - l->last_heard).count();
    o << fmt::format("  {:<12} {:<3} {}:{}  {}  last heard {} ms ago\n",
                     l->name.empty() ? "?" : l->name, l->outgoing ? "out" : "in", l->address,
                     l->port, l->ready ? "ready" : "connecting", ms);
  }
  if (referee_) {
    o << "cluster (referee view):\n";
    for (auto& [n, info] : referee_->nodes())
      o << fmt::format("  {:<12} {}:{}\n", n, info.address, info.port);
  }
  return o.str();
}

std::string Node::list_text(const std::vector<RegRecord>& recs) {
  std::ostringstream o;
  o << fmt::format("{:<4} {:>11} {:>10} {:<12} {:>5} {:>10}  {}\n", "TYPE", "KEY", "ID", "OWNER",
                   "MODE", "SIZE", "HOLDERS");
  for (auto& r : recs) {
    if (r.status == RegStatus::kCreate) continue;  // being created
    o << fmt::format("{:<4} {:>11} {:>10} {:<12} {:>5o} {:>10}  {}\n", kind_name(r.kind), r.key,
                     r.id, r.owner, r.mode & 0777, r.size, r.holders.empty() ? "-" : r.holders);
  }
  return o.str();
}

void Node::admin(const std::shared_ptr<LocalClient>& c, uint64_t reqid, const proto::Admin& a) {
  auto answer = [c, reqid](int err, const std::string& text) {
    proto::AdminReply rep{err, text};
    c->conn->send(make_frame(FrameType::kAdminReply, reqid, rep, text.size() + 64));
  };
  std::string cmd(a.command);
  if (cmd == "status") return answer(0, status_text());
  if (cmd == "ls") {
    if (referee_) {
      std::vector<std::string> storage;
      auto recs = referee_->records(storage);
      return answer(0, list_text(recs));
    }
    if (!referee_link_ || !referee_link_->ready)
      return answer(ENOLINK, "not connected to the referee (state: " + state_ + ")\n");
    uint64_t id = next_reqid_++;
    reg_pending_[id] = [this, answer](const RegRecord& carrier) {
      if (carrier.status == RegStatus::kError) return answer(carrier.err, "referee lost\n");
      proto::Reader r(reinterpret_cast<const uint8_t*>(carrier.holders.data()),
                      carrier.holders.size());
      uint32_t n = r.u32();
      std::vector<RegRecord> recs;
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        RegRecord x;
        if (!x.decode(r)) break;
        recs.push_back(x);
      }
      answer(0, list_text(recs));
    };
    referee_link_->send(make_empty_frame(FrameType::kRegList, id));
    return;
  }
  if (cmd == "rm") {
    // A copy: the lambda below outlives this call, and the cache may change meanwhile.
    Identity who = identities_.for_uid(c->cred.uid, c->cred.gid);
    RegRecord q;
    q.kind = a.kind;
    q.key = a.key;
    Kind kind = a.kind;
    referee_call(FrameType::kRegLookup, q, [this, who, kind, answer](const RegRecord& r) {
      if (r.status == RegStatus::kError) return answer(r.err, "");
      OwnedOp op;
      op.kind = kind;
      op.op = ctl_op(kind);
      op.id = r.id;
      op.arg1 = IPC_RMID;
      op.user = who.name;
      auto done = [answer](OpResult res) { answer(res.ret < 0 ? res.err : 0, ""); };
      if (r.owner == cfg_.node_name) {
        execute(who, op, done);
      } else {
        forward(std::string(r.owner), owner_address(r.owner_addr), r.owner_port, op, done);
      }
    });
    return;
  }
  answer(EINVAL, "unknown command '" + cmd + "'\n");
}

}  // namespace dipc::daemon
