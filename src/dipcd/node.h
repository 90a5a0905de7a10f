// Node: everything one dipcd does, wired together on one io thread.
//
//  - Local server: the Unix socket RUN_DIR/dipcd.sock. Each process (through the shim) and
//    each dipc command connects there; the kernel says who it is (SO_PEERCRED).
//  - Peer links: TCP to other nodes. A link starts with kHello/kHelloAck (address checked
//    against the allow file, protocol version and node name checked), carries heartbeats,
//    and when it is lost or silent past the peer time-out the peer is declared dead
//    (fail-stop): callers waiting on its objects get EIDRM and its placeholders go.
//  - Referee client: the link to the referee, or the in-process Referee on the node whose
//    configuration enables it; re-registers this node's objects whenever it (re)joins.
//  - Owner side: operations from other nodes run through the OwnerExecutor as the caller.
//  - Holder side: placeholders (local objects with the key and mode of a remote object)
//    and the id table that tells the shim which ids are remote.
//
// Thread safety: every member runs on the io thread; the executor posts results back.
#pragma once

#include <sys/socket.h>

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/config.h"
#include "dipcd/conn.h"
#include "dipcd/executor.h"
#include "dipcd/id_table.h"
#include "dipcd/identity.h"
#include "dipcd/ipc_ops.h"
#include "dipcd/referee.h"
#include "dipcd/sem_undo.h"

namespace dipc::daemon {

namespace dsm {
class FaultServer;
}
struct Link;
struct LocalClient;
using Clock = std::chrono::steady_clock;

class Node : public Referee::Outbox {
 public:
  Node(asio::io_context& io, Config cfg, AllowList allow);
  ~Node() override;
  // Opens the id table, the Unix socket and the TCP listener, and joins the referee.
  bool start(std::string& err);
  // SIGHUP: the new allow list applies to new links, and links from addresses it no longer
  // allows are dropped.
  void reload_allow(AllowList allow);
  // The cluster secret ([security] secret_file): when set, every link in either direction
  // must prove it knows the same secret (challenge and response, HMAC-SHA256).
  void set_secret(std::string secret) { secret_ = std::move(secret); }
  // SIGHUP: account changes take effect now.
  void forget_identities() { identities_.clear(); }
  void shutdown();

  // Referee::Outbox
  void reg_reply(const std::string& node, uint64_t reqid, const proto::RegRecord& r) override;
  void reg_removed(const std::string& holder, const proto::RegRecord& r) override;

 private:
  using ObjKey = std::pair<uint8_t, int32_t>;  // (kind, id or key)
  using OpDone = std::function<void(OpResult)>;
  using RegDone = std::function<void(const proto::RegRecord&)>;

  struct Placeholder {
    proto::Kind kind{};
    int32_t key = 0;
    int32_t local_id = 0;
    std::string owner;
    int32_t owner_id = 0;
  };
  struct RemotePending {
    std::string node;
    OpDone done;
  };

  // Local side.
  void accept_local();
  void on_local_frame(const std::shared_ptr<LocalClient>& c, const Frame& f);
  void local_op(const std::shared_ptr<LocalClient>& c, uint64_t reqid, const proto::OpRequest& req);
  void local_get(const std::shared_ptr<LocalClient>& c, uint64_t reqid, OwnedOp op,
                 const Identity& who);
  void admin(const std::shared_ptr<LocalClient>& c, uint64_t reqid, const proto::Admin& a);
  void reply_local(const std::shared_ptr<LocalClient>& c, uint64_t reqid, const OpResult& r);
  std::string status_text();
  std::string owner_address(std::string_view addr) const;
  std::string list_text(const std::vector<proto::RegRecord>& recs);

  // Peer links.
  void accept_peer();
  void start_link(const std::shared_ptr<Link>& l);
  void on_peer_frame(const std::shared_ptr<Link>& l, const Frame& f);
  void on_hello(const std::shared_ptr<Link>& l, const Frame& f);
  void on_hello_answer(const std::shared_ptr<Link>& l, const Frame& f);
  void accept_node(const std::shared_ptr<Link>& l);
  void link_lost(const std::shared_ptr<Link>& l, const std::string& why);
  void peer_dead(const std::string& name, const std::string& why);
  void heartbeat(const std::shared_ptr<Link>& l);
  // The outgoing link to node (opened if needed); cb runs once it is ready or has failed.
  void with_link(const std::string& node, const std::string& addr, uint16_t port,
                 std::function<void(std::shared_ptr<Link>)> cb);
  std::shared_ptr<Link> connect_to(const std::string& addr, uint16_t port);

  // Calls on objects.
  // Sends op to the owner node and runs done with its answer; returns a cancel function.
  std::function<void()> forward(const std::string& owner, const std::string& addr, uint16_t port,
                                OwnedOp op, OpDone done);
  // Runs op here (this node owns the object) as who, for process origin (node, pid);
  // keeps the node's bookkeeping (removal, SEM_UNDO) in step. Returns the executor ticket.
  // reply_now, when given, sends the answer from whichever thread has it (see
  // OwnerExecutor::ReplyNow); done then only finishes the bookkeeping.
  uint64_t run_here(const Identity& who, OwnedOp op, const SemUndo::Proc& origin, OpDone done,
                    OwnerExecutor::ReplyNow reply_now = nullptr);
  std::function<void()> execute(const Identity& who, OwnedOp op, OpDone done);
  // Holder side of SEM_UNDO: watch a local process that has adjustments at owner.
  void watch_process(int32_t pid, const std::string& owner);
  void process_exited(const SemUndo::Proc& p);
  void peer_op(const std::shared_ptr<Link>& l, uint64_t reqid, const proto::OpRequest& req);
  void object_removed(proto::Kind kind, int32_t id);
  void drop_placeholder(proto::Kind kind, int32_t key);
  void sweep();
  // RUN_DIR/placeholders lists this node's placeholders, so that a dipcd started after a
  // crash can remove the ones its predecessor left in the kernel.
  void save_placeholders();
  void remove_stale_placeholders();

  // Referee client.
  void connect_referee();
  void referee_joined();
  void referee_call(proto::FrameType t, const proto::RegRecord& r, RegDone done);
  void referee_send(proto::FrameType t, const proto::RegRecord& r);
  void on_reg_reply(uint64_t reqid, const proto::RegRecord& r);
  void write_state(const std::string& s);

  // DSM hook: shared memory lives in src/dipcd/dsm/; the node only routes to it.
  std::unique_ptr<dsm::FaultServer> dsm_;
  void dsm_send(const std::string& node, bool to_owner, std::vector<uint8_t> frame);
  // The connection each (node, to_owner) route last used, so that the fault server's thread
  // can write to it at once (Conn::send_now) once nothing it posted is still on its way.
  struct DsmRoute {
    std::weak_ptr<Conn> conn;
    int posted = 0;  // frames handed to the io thread and not yet sent
  };
  std::mutex dsm_routes_mu_;
  std::map<std::pair<std::string, bool>, DsmRoute> dsm_routes_;  // one per peer and way

  asio::io_context& io_;
  Config cfg_;
  AllowList allow_;
  OwnerExecutor executor_;
  IdentityCache identities_;
  IdTableWriter ids_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> local_acceptor_;
  std::unique_ptr<asio::ip::tcp::acceptor> peer_acceptor_;
  uint16_t port_ = 0;
  std::unique_ptr<Referee> referee_;  // on the referee node only
  asio::steady_timer sweep_timer_;
  asio::steady_timer referee_timer_;

  std::set<std::shared_ptr<Link>> links_;            // every link, ready or not
  std::map<std::string, std::shared_ptr<Link>> out_;  // ready outgoing links by node name
  std::map<std::string, std::shared_ptr<Link>> in_;   // ready incoming links by node name
  std::shared_ptr<Link> referee_link_;
  std::string referee_node_;  // its name, once joined
  std::string state_ = "connecting";
  bool referee_unreachable_logged_ = false;

  std::map<ObjKey, int32_t> owned_;  // (kind, id) -> key, objects this node owns
  std::map<ObjKey, Placeholder> placeholders_;  // (kind, local id)
  std::map<ObjKey, int32_t> placeholder_by_key_;  // (kind, key) -> local id

  uint64_t next_reqid_ = 1;
  std::map<uint64_t, RemotePending> remote_pending_;  // ops we sent to owners
  std::map<uint64_t, RegDone> reg_pending_;            // referee calls in flight
  std::map<std::pair<Link*, uint64_t>, uint64_t> peer_running_;  // ops run for peers -> ticket
  SemUndo undo_;
  // Remote processes that exited in the last 10 s: a call of theirs still on its way when
  // the exit notice came is undone as soon as it completes. Short, because pids are reused.
  std::map<SemUndo::Proc, Clock::time_point> exited_;
  struct ProcWatch {
    std::unique_ptr<asio::posix::stream_descriptor> fd;  // a pidfd
    std::set<std::string> owners;
  };
  std::map<int32_t, ProcWatch> watches_;
  std::string secret_;
  bool stopping_ = false;
};

}  // namespace dipc::daemon
