// Daemon: the root of one dipcd. It owns the rooms and wires them with events; it does no
// distributed work of its own.
//
// The rooms, each in its own file with its own header:
//   LocalServer     the Unix socket, local clients and their credentials
//   PeerLinks       TCP links, one per node pair: handshake, heartbeats, loss
//   RemoteCalls     calls this node sends to owners, and their answers
//   OwnerSide       calls on objects this node owns, SEM_UNDO for remote processes
//   Holder          local calls routed to their object, the *get protocol, placeholders
//   ObjectTable     owned objects and placeholders, the published id table
//   RefereeClient   the cluster's referee: RemoteReferee, or RefereeService on its node
//   Admin           the dipc command's status, ls and rm
//   DsmRoom         distributed shared memory (its fault server runs on a thread of its own)
//   Metrics         the optional Prometheus endpoint ([metrics] listen), reading the others
//   BackgroundWorker, IdentityCache, OwnerExecutor: threads for work that may block.
// Events: a node declared dead (PeerLinks::on_dead) reaches every room that keeps state
// about nodes; a link ready reaches the referee; the referee's word that an object is gone
// reaches Holder; joining the referee makes this node re-register what it owns; the
// cluster declaring this node dead (PeerLinks::on_stalled, RemoteReferee::on_declared_dead)
// makes it start over as a new node.
// The daemon also keeps RUN_DIR/state and RUN_DIR/dipcd.port (written atomically), and
// sweeps the kernel once a second on the background worker for objects removed behind
// dipcd's back, and gives memory back to the kernel there once a burst is over.
// Thread safety: io thread only.
#pragma once

#include <asio.hpp>
#include <functional>
#include <memory>
#include <string>

#include "common/config.h"
#include "dipcd/admin.h"
#include "dipcd/background.h"
#include "dipcd/dsm_room.h"
#include "dipcd/executor.h"
#include "dipcd/holder.h"
#include "dipcd/identity.h"
#include "dipcd/local_server.h"
#include "dipcd/memory_trim.h"
#include "dipcd/metrics.h"
#include "dipcd/object_table.h"
#include "dipcd/owner_side.h"
#include "dipcd/peer_links.h"
#include "dipcd/referee_client.h"
#include "dipcd/referee_service.h"
#include "dipcd/remote_calls.h"

namespace dipc::daemon {

class Daemon {
 public:
  // secret: the cluster secret ([security] secret_file), empty for none.
  Daemon(asio::io_context& io, Config cfg, AllowList allow, std::string secret);
  ~Daemon();
  // Opens the id table, the Unix socket and the TCP listener, and joins the referee.
  bool start(std::string& err);
  // SIGHUP: the new allow list applies to new links, and links from addresses it no longer
  // allows are dropped; account changes take effect now.
  void reload(AllowList allow);
  void shutdown();
  // Called with each new state ("connecting", "joined", "refused: ...", "stopped"), after
  // RUN_DIR/state is written: main tells systemd when the node has joined.
  std::function<void(const std::string&)> on_state;

 private:
  void node_dead(const std::string& name, const std::string& why);
  void rejoined();
  void start_over(const std::string& why);
  void write_state(const std::string& s);
  void sweep();

  asio::io_context& io_;
  Config cfg_;
  BackgroundWorker bg_;
  OwnerExecutor executor_;
  IdentityCache identities_;
  ObjectTable table_;
  LocalServer local_;
  PeerLinks links_;
  RemoteCalls remote_;
  OwnerSide owner_;
  Holder holder_;
  Admin admin_;
  DsmRoom dsm_;
  std::unique_ptr<RefereeService> service_;
  std::unique_ptr<RemoteReferee> remote_referee_;
  std::unique_ptr<Metrics> metrics_;  // with [metrics] listen only
  RefereeClient* referee_ = nullptr;
  asio::steady_timer sweep_timer_;
  std::string state_ = "connecting";
  TrimPolicy trim_;  // background worker only (the sweep's job)
  bool sweeping_ = false;
  bool stopping_ = false;
};

}  // namespace dipc::daemon
