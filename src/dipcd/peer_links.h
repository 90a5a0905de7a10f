// PeerLinks: the TCP links between this node and the others, one per node pair.
//
// Owns the listening socket, every link (connecting, in handshake, ready), host name
// resolution (asio's resolver thread, never the io thread), connect time-outs, heartbeats
// and the peer time-out. A link is ready once its Handshake says so; it is then bound to
// the node name the handshake established, and at most one ready link per node is kept:
// both directions of traffic between two nodes share it, so frames in either direction
// keep one order (distributed shared memory depends on it). When two links to one node
// race to be ready (both nodes connected at once), both nodes keep the one opened by the
// node with the smaller name and close the other as superseded, which is not a death.
//
// Fail-stop: a ready link that is lost, or silent past the peer time-out, declares its node
// dead, once, through on_dead. Frames on ready links are routed by type to the handler a
// room registered with on(); a frame whose type nobody registered, or which the handler's
// role check refuses (a referee answer from a node that is not the referee), closes the
// link with a logged reason.
//
// Each run of a node has an incarnation (proto::Hello), drawn at start and again when the
// node starts over; a ready link knows its peer's. PeerLinks also notices its own stalls:
// when the io thread ran nothing for longer than the peer time-out (the process was stopped,
// or starved), every peer has heard nothing from it for that long and has declared it dead;
// on_stalled is then called before anything that arrived during the stall is handled.
//
// Thread safety: io thread only.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/config.h"
#include "dipcd/link.h"
#include "dipcd/thread_check.h"

namespace dipc::daemon {

class PeerLinks {
 public:
  using Clock = std::chrono::steady_clock;
  using Handler = std::function<void(const std::shared_ptr<Link>&, Frame&)>;
  using Accepts = std::function<bool(const Link&)>;
  using LinkCb = std::function<void(const LinkResult&)>;

  struct Settings {
    std::string my_name;
    std::string listen_address;
    uint16_t listen_port = 0;
    std::string secret;
    std::string secret_file;
    std::string allow_file;
    std::chrono::milliseconds heartbeat{1000};
    std::chrono::milliseconds peer_timeout{5000};
    std::chrono::milliseconds connect_timeout{3000};
    uint64_t incarnation = 0;  // 0: draw one
  };

  PeerLinks(asio::io_context& io, Settings s, AllowList allow);

  // Listens; on failure returns false and fills err.
  bool listen(std::string& err);
  uint16_t port() const { return port_; }
  std::chrono::milliseconds heartbeat_interval() const { return s_.heartbeat; }
  void shutdown();

  // Rooms register the frame types they handle, with the role check a frame must pass.
  void on(proto::FrameType type, Handler h, Accepts accepts = nullptr);
  // Called once per node whose ready link is lost (fail-stop).
  std::function<void(const std::string& node, const std::string& why)> on_dead;
  // Called when a link becomes ready (after any older link to the node was settled).
  std::function<void(const std::shared_ptr<Link>&)> on_ready;
  // Called when a ready link was closed as superseded by kept, the other link to the same
  // node (both nodes connected at once): requests that left on it get no answer.
  std::function<void(uint64_t superseded_serial, const std::shared_ptr<Link>& kept)> on_superseded;

  // The ready link to node, or one to addr:port (opened if needed); cb runs once, on the
  // io thread, when it is ready or has failed. quiet: failures are logged at debug level
  // (the caller retries and logs once).
  void with_link(const std::string& node, const std::string& addr, uint16_t port, LinkCb cb,
                 bool quiet = false);
  // The ready link to node, or null.
  std::shared_ptr<Link> find(const std::string& node) const;
  // Sends a frame to node on its ready link; false when there is none.
  bool send_to(const std::string& node, std::vector<uint8_t> frame);
  // Drops a link for a protocol violation, with a log line.
  void drop(const std::shared_ptr<Link>& l, const std::string& why);

  void reload_allow(AllowList allow);
  // Called once when this node finds it was stalled for `gap`, longer than the peer time-out.
  std::function<void(std::chrono::milliseconds gap)> on_stalled;
  uint64_t incarnation() const { return s_.incarnation; }
  // Fail-stop, this side: a new incarnation, and every link closed (each ready one is a
  // node declared dead, through on_dead, as for any lost link).
  void start_over(const std::string& why);

  // Fault injection for tests ([debug] fault_injection): mode "delay" (ms), "stall", "cut"
  // or "clear" on the link to node. Returns "" or why it could not be done.
  std::string inject(const std::string& node, const std::string& mode, int64_t ms);
  const std::set<std::shared_ptr<Link>>& links() const { return links_; }

 private:
  struct Route {
    Handler handler;
    Accepts accepts;
  };
  void accept_loop();
  void start_link(const std::shared_ptr<Link>& l);
  void connect(const std::shared_ptr<Link>& l, const std::string& host);
  void on_frame(const std::shared_ptr<Link>& l, Frame& f);
  void on_handshake(const std::shared_ptr<Link>& l, Frame& f);
  void bind(const std::shared_ptr<Link>& l);
  void closed(const std::shared_ptr<Link>& l, const std::string& why, CloseKind kind);
  void heartbeat(const std::shared_ptr<Link>& l);
  void fail_waiters(const std::shared_ptr<Link>& l, const LinkResult& r);
  std::string vet(const std::string& peer_name) const;
  void tick();
  bool stalled(Clock::time_point now);
  const std::string& initiator(const Link& l) const { return l.outgoing ? s_.my_name : l.name; }

  asio::io_context& io_;
  Settings s_;
  AllowList allow_;
  ThreadCheck thread_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  asio::steady_timer accept_backoff_;
  asio::steady_timer tick_timer_;
  Clock::time_point last_tick_ = Clock::now();
  uint16_t port_ = 0;
  std::map<proto::FrameType, Route> routes_;
  std::set<std::shared_ptr<Link>> links_;               // every link, ready or not
  std::map<std::string, std::shared_ptr<Link>> ready_;  // the one ready link per node
  std::map<const Link*, bool> quiet_;                   // links whose failures are quiet
  bool stopping_ = false;
};

}  // namespace dipc::daemon
