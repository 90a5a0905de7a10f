#include "dipcd/peer_links.h"

#include <netinet/tcp.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

namespace dipc::daemon {

using proto::FrameType;
namespace {

uint64_t fresh_incarnation() {
  uint64_t v = 0;
  while (v == 0) randombytes_buf(&v, sizeof v);
  return v;
}


// Nothing a peer may send before its hello needs more: a hello, an authentication step.
constexpr uint32_t kMaxPayloadBeforeReady = 1024;

void set_no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

PeerLinks::PeerLinks(asio::io_context& io, Settings s, AllowList allow)
    : io_(io), s_(std::move(s)), allow_(std::move(allow)), accept_backoff_(io), tick_timer_(io) {
  if (s_.incarnation == 0) s_.incarnation = fresh_incarnation();
}

bool PeerLinks::listen(std::string& err) {
  std::error_code ec;
  auto addr = asio::ip::make_address(s_.listen_address, ec);
  if (!ec) {
    acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(io_);
    asio::ip::tcp::endpoint ep(addr, s_.listen_port);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) port_ = acceptor_->local_endpoint(ec).port();
  }
  if (ec) {
    err = fmt::format("cannot listen on {}:{}: {} (is another program using the port? "
                      "[node] listen_address and listen_port)",
                      s_.listen_address, s_.listen_port, ec.message());
    return false;
  }
  accept_loop();
  tick();
  return true;
}

// The stall detector's clock: a tick every heartbeat interval. A gap longer than the peer
// time-out between the last tick and now means the io thread ran nothing in between.
void PeerLinks::tick() {
  if (stopping_) return;
  stalled(Clock::now());
  last_tick_ = Clock::now();
  tick_timer_.expires_after(s_.heartbeat);
  tick_timer_.async_wait([this](std::error_code ec) {
    if (!ec) tick();
  });
}

// A peer heard nothing from this node for between gap - heartbeat and gap + heartbeat, so
// the bound errs on the side of starting over when a peer might have declared this node
// dead (starting over then makes sure it did).
bool PeerLinks::stalled(Clock::time_point now) {
  auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_tick_);
  if (gap <= std::max(s_.peer_timeout - s_.heartbeat, 2 * s_.heartbeat)) return false;
  last_tick_ = now;  // once per stall
  spdlog::warn("this node ran nothing for {} ms (peer time-out {} ms): the other nodes have "
               "declared it dead", gap.count(), s_.peer_timeout.count());
  if (on_stalled)
    on_stalled(gap);
  else
    start_over("this node was stalled");
  return true;
}

void PeerLinks::start_over(const std::string& why) {
  DIPC_ON_THREAD(thread_);
  s_.incarnation = fresh_incarnation();
  auto links = links_;
  for (auto& l : links)
    if (l->conn) l->conn->close(why);
}

void PeerLinks::shutdown() {
  DIPC_ON_THREAD(thread_);
  stopping_ = true;
  std::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  accept_backoff_.cancel();
  tick_timer_.cancel();
  auto links = links_;
  for (auto& l : links)
    if (l->conn) l->conn->close("shutting down", CloseKind::kQuiet);
}

void PeerLinks::on(FrameType type, Handler h, Accepts accepts) {
  routes_[type] = Route{std::move(h), std::move(accepts)};
}

void PeerLinks::accept_loop() {
  acceptor_->async_accept([this](std::error_code ec, asio::ip::tcp::socket s) {
    if (stopping_) return;
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors (or another passing error): say it once and wait, rather than
      // spin on a listening socket that stays readable.
      spdlog::error("peer accept: {} (retrying in 100 ms)", ec.message());
      accept_backoff_.expires_after(std::chrono::milliseconds(100));
      accept_backoff_.async_wait([this](std::error_code e) {
        if (!e && !stopping_) accept_loop();
      });
      return;
    }
    set_no_delay(s.native_handle());
    auto l = std::make_shared<Link>(io_);
    l->outgoing = false;
    std::error_code rel;
    int fd = s.release(rel);
    if (rel) {
      spdlog::warn("peer accept: {}", rel.message());
      return accept_loop();
    }
    l->conn = std::make_shared<Conn>(io_, fd);
    l->address = l->conn->peer_address();
    spdlog::debug("link event: connection from {} accepted on fd {}", l->address, fd);
    links_.insert(l);
    start_link(l);
    if (!allow_.allows_text(l->address)) {
      // Refused at once, before anything it sends is read.
      std::string reason = fmt::format("address {} is not allowed by {} on node {}", l->address,
                                       s_.allow_file, s_.my_name);
      spdlog::warn("refusing node from {}: {}", l->address, reason);
      proto::HelloAck ack;
      ack.accepted = 0;
      ack.node = s_.my_name;
      ack.reason = reason;
      l->send(make_frame(FrameType::kHelloAck, 0, ack, 2048));
      l->handshake.reset();
      auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(200));
      std::weak_ptr<Link> wl = l;
      t->async_wait([wl, t](std::error_code) {
        if (auto l = wl.lock()) l->conn->close("refused", CloseKind::kQuiet);
      });
    }
    accept_loop();
  });
}

std::string PeerLinks::vet(const std::string& peer_name) const {
  auto it = ready_.find(peer_name);
  // A node connecting while its link in the same direction is still open: a second
  // process claiming the name, or the node restarted before we noticed it had gone.
  if (it != ready_.end() && it->second->is_open() && !it->second->outgoing)
    return fmt::format("a node named '{}' is already connected from {}", peer_name,
                       it->second->address);
  return "";
}

void PeerLinks::start_link(const std::shared_ptr<Link>& l) {
  DIPC_ON_THREAD(thread_);
  std::weak_ptr<Link> wl = l;
  l->last_heard = Clock::now();
  Handshake::Settings hs{s_.my_name, port_, s_.secret, s_.secret_file, s_.incarnation};
  l->handshake = std::make_unique<Handshake>(
      l->outgoing ? Handshake::Role::kConnector : Handshake::Role::kAcceptor, hs,
      [this](const std::string& name) { return vet(name); });
  l->conn->set_max_payload(kMaxPayloadBeforeReady);
  l->conn->start(
      [this, wl](Frame& f) {
        if (auto l = wl.lock()) on_frame(l, f);
      },
      [this, wl](const std::string& why, CloseKind kind) {
        if (auto l = wl.lock()) closed(l, why, kind);
      });
  for (auto& f : l->handshake->start()) l->send(std::move(f));
  heartbeat(l);
}

void PeerLinks::heartbeat(const std::shared_ptr<Link>& l) {
  std::weak_ptr<Link> wl = l;
  l->timer.expires_after(s_.heartbeat);
  l->timer.async_wait([this, wl](std::error_code ec) {
    auto l = wl.lock();
    if (ec || !l || !l->is_open() || stalled(Clock::now())) return;
    auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - l->last_heard);
    if (silent > s_.peer_timeout) {
      l->conn->close(fmt::format("silent for {} ms (peer time-out {} ms)", silent.count(),
                                 s_.peer_timeout.count()));
      return;
    }
    if (l->ready) l->send(make_empty_frame(FrameType::kHeartbeat, 0));
    heartbeat(l);
  });
}

void PeerLinks::drop(const std::shared_ptr<Link>& l, const std::string& why) {
  spdlog::warn("{} from {}: dropping the link", why, l->describe());
  if (l->conn) l->conn->close(why);
}

void PeerLinks::on_frame(const std::shared_ptr<Link>& l, Frame& f) {
  DIPC_ON_THREAD(thread_);
  if (l->stalled) return;  // an injected partition: nothing is heard
  auto now = Clock::now();
  // Frames that waited through a stall of this node are from peers that gave it up: the
  // node starts over first (on_stalled closes this link too).
  if (stalled(now) || !l->is_open()) return;
  l->last_heard = now;
  if (!l->ready) return on_handshake(l, f);
  if (f.header.type == FrameType::kHeartbeat) return;
  auto it = routes_.find(f.header.type);
  if (it == routes_.end())
    return drop(l, fmt::format("frame of type {}, not used on links,", int(f.header.type)));
  if (it->second.accepts && !it->second.accepts(*l))
    return drop(l, fmt::format("frame of type {}, which this node does not take from {},",
                               int(f.header.type), l->name));
  it->second.handler(l, f);
}

void PeerLinks::on_handshake(const std::shared_ptr<Link>& l, Frame& f) {
  if (!l->handshake) return;  // refused at accept: the close is on its way
  auto r = f.reader();
  Handshake::Step step = l->handshake->on_frame(f.header.type, r);
  for (auto& out : step.send) l->send(std::move(out));
  switch (step.state) {
    case Handshake::State::kWaiting: return;
    case Handshake::State::kReady:
      // With a secret, everything after the handshake travels sealed.
      if (step.keys) l->conn->seal(step.keys->tx, step.keys->rx);
      l->name = l->handshake->peer_name();
      l->incarnation = l->handshake->peer_incarnation();
      if (!l->outgoing) l->port = l->handshake->peer_port();
      l->handshake.reset();
      return bind(l);
    case Handshake::State::kRefuse: {
      spdlog::warn("refusing node from {}: {}", l->address, step.reason);
      l->handshake.reset();
      // Give the answer time to leave before closing.
      auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(200));
      std::weak_ptr<Link> wl = l;
      t->async_wait([wl, t](std::error_code) {
        if (auto l = wl.lock()) l->conn->close("refused", CloseKind::kQuiet);
      });
      return;
    }
    case Handshake::State::kFail: {
      if (l->outgoing) {
        std::string why = step.refused_by_peer ? "refused: " + step.reason : step.reason;
        spdlog::error("link to {}:{}: {}", l->address, l->port, why);
        fail_waiters(l, LinkResult{nullptr, why, step.refused_by_peer});
      }
      l->handshake.reset();
      l->conn->close(step.reason);
      return;
    }
  }
}

// The handshake is done: the link is bound to its node, and the one link per node settled.
void PeerLinks::bind(const std::shared_ptr<Link>& l) {
  uint64_t superseded = 0;
  auto it = ready_.find(l->name);
  if (it != ready_.end() && it->second != l && it->second->is_open()) {
    auto other = it->second;
    if (initiator(*other) == initiator(*l)) {
      // Opened from the same side again: only after the other end restarted, so the old
      // link belongs to a node that is gone (fail-stop) — it dies before the new one binds.
      ready_.erase(it);
      other->ready = false;
      spdlog::warn("link with {} replaced by a new one: the old node is gone", other->describe());
      other->conn->close("replaced by a new link from the same node");
      if (on_dead) on_dead(l->name, "it reconnected: a new run of the node");
    } else {
      // Both nodes connected at once: keep the link the smaller node name opened.
      auto keep = initiator(*l) < initiator(*other) ? l : other;
      auto lose = keep == l ? other : l;
      lose->superseded = true;
      lose->ready = false;
      auto waiters = std::move(lose->waiters);
      lose->conn->close("superseded by the other link to the same node", CloseKind::kQuiet);
      if (keep == other) {
        for (auto& w : waiters) w(LinkResult{keep, "", false});
        return;
      }
      ready_.erase(it);
      // The one that was ready is going: what was sent on it is told so, once l is bound.
      superseded = other->serial;
    }
  }
  l->ready = true;
  l->conn->set_max_payload(proto::kMaxPayload);
  ready_[l->name] = l;
  spdlog::info("link {} {} ready", l->outgoing ? "to" : "from", l->describe());
  spdlog::debug("link event: {} ready on fd {} (serial {})", l->describe(),
                l->conn->native_handle(), l->serial);
  if (superseded && on_superseded) on_superseded(superseded, l);
  if (on_ready) on_ready(l);
  auto waiters = std::move(l->waiters);
  for (auto& w : waiters) w(LinkResult{l, "", false});
}

void PeerLinks::fail_waiters(const std::shared_ptr<Link>& l, const LinkResult& r) {
  auto waiters = std::move(l->waiters);
  for (auto& w : waiters) w(r);
}

void PeerLinks::closed(const std::shared_ptr<Link>& l, const std::string& why, CloseKind kind) {
  DIPC_ON_THREAD(thread_);
  links_.erase(l);
  l->timer.cancel();
  bool quiet = quiet_.count(l.get()) != 0;
  quiet_.erase(l.get());
  fail_waiters(l, LinkResult{nullptr, why, false});
  auto it = ready_.find(l->name);
  bool was_bound = l->ready && it != ready_.end() && it->second == l;
  if (was_bound) ready_.erase(it);
  if (stopping_) return;
  if (was_bound) {
    spdlog::warn("link with {} lost: {}", l->describe(), why);
    if (on_dead) on_dead(l->name, why);
  } else if (!l->outgoing && l->handshake && l->handshake->awaiting_proof()) {
    // The refusal happened on the other side (it has no secret, or will not use ours):
    // said here too, so that both logs show it.
    spdlog::warn("refusing node '{}' from {}: it closed the link instead of proving the "
                 "cluster secret ({}): it has no [security] secret_file, or another one",
                 l->handshake->peer_name(), l->address, why);
  } else if (kind == CloseKind::kQuiet || kind == CloseKind::kPeer) {
    spdlog::debug("link with {} closed: {}", l->describe(), why);
  } else if (!l->outgoing) {
    spdlog::warn("connection from {} dropped before its hello: {}", l->address, why);
  } else if (!quiet) {
    spdlog::debug("link to {}:{} closed before ready: {}", l->address, l->port, why);
  }
}

std::shared_ptr<Link> PeerLinks::find(const std::string& node) const {
  auto it = ready_.find(node);
  return it != ready_.end() && it->second->is_open() ? it->second : nullptr;
}

bool PeerLinks::send_to(const std::string& node, std::vector<uint8_t> frame) {
  auto l = find(node);
  if (!l) return false;
  l->send(std::move(frame));
  return true;
}

void PeerLinks::with_link(const std::string& node, const std::string& addr, uint16_t port,
                          LinkCb cb, bool quiet) {
  DIPC_ON_THREAD(thread_);
  if (!node.empty())
    if (auto l = find(node)) return cb(LinkResult{l, "", false});
  for (auto& l : links_) {
    if (l->outgoing && !l->ready && l->is_open() &&
        ((!node.empty() && l->name == node) || (l->address == addr && l->port == port))) {
      l->waiters.push_back(std::move(cb));
      return;
    }
  }
  if (addr.empty() || port == 0 || stopping_) return cb(LinkResult{nullptr, "no address", false});
  auto l = std::make_shared<Link>(io_);
  l->outgoing = true;
  l->address = addr;
  l->port = port;
  l->name = node;
  l->waiters.push_back(std::move(cb));
  links_.insert(l);
  if (quiet) quiet_[l.get()] = true;
  spdlog::debug("link event: connecting to {}:{}{}", addr, port,
                node.empty() ? std::string() : " (" + node + ")");
  connect(l, addr);
}

void PeerLinks::connect(const std::shared_ptr<Link>& l, const std::string& host) {
  auto fail = [this, l](const std::string& why) {
    bool quiet = quiet_.count(l.get()) != 0;
    if (quiet)
      spdlog::debug("cannot reach {}:{}: {}", l->address, l->port, why);
    else
      spdlog::warn("cannot reach {}:{}: {}", l->address, l->port, why);
    links_.erase(l);
    quiet_.erase(l.get());
    fail_waiters(l, LinkResult{nullptr, why, false});
  };
  auto sock = std::make_shared<asio::ip::tcp::socket>(io_);
  auto go = [this, l, sock, fail](asio::ip::address ip) {
    l->timer.expires_after(s_.connect_timeout);
    l->timer.async_wait([sock](std::error_code e) {
      if (!e) {
        std::error_code ignored;
        sock->close(ignored);
      }
    });
    sock->async_connect({ip, l->port}, [this, l, sock, fail](std::error_code e) {
      l->timer.cancel();
      if (stopping_) return;
      if (e) return fail(e == asio::error::operation_aborted ? "connect timed out" : e.message());
      set_no_delay(sock->native_handle());
      std::error_code rel;
      int fd = sock->release(rel);
      if (rel) return fail(rel.message());
      l->conn = std::make_shared<Conn>(io_, fd);
      start_link(l);
    });
  };
  std::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (!ec) return go(ip);
  // A host name (the referee's address may be one): resolved on asio's resolver thread, so
  // a slow DNS never delays heartbeats.
  auto res = std::make_shared<asio::ip::tcp::resolver>(io_);
  res->async_resolve(host, std::to_string(l->port),
                     [res, host, go, fail](std::error_code e,
                                           asio::ip::tcp::resolver::results_type found) {
                       if (e || found.empty()) return fail("cannot resolve " + host);
                       go(found.begin()->endpoint().address());
                     });
}

std::string PeerLinks::inject(const std::string& node, const std::string& mode, int64_t ms) {
  auto l = find(node);
  if (!l) return "no link to " + node;
  if (mode == "cut") {
    spdlog::warn("fault injection: cutting the link to {}", l->describe());
    l->conn->close("cut by fault injection");
  } else if (mode == "stall") {
    spdlog::warn("fault injection: stalling the link to {}", l->describe());
    l->set_fault(std::chrono::milliseconds(0), true);
  } else if (mode == "delay" && ms > 0 && ms <= 60000) {
    spdlog::warn("fault injection: delaying frames to {} by {} ms", l->describe(), ms);
    l->set_fault(std::chrono::milliseconds(ms), false);
  } else if (mode == "clear") {
    l->set_fault(std::chrono::milliseconds(0), false);
  } else {
    return "unknown fault '" + mode + "' (delay MS with 0 < MS <= 60000, stall, cut, clear)";
  }
  return "";
}

void PeerLinks::reload_allow(AllowList allow) {
  allow_ = std::move(allow);
  spdlog::info("allow list reloaded: {} entries", allow_.size());
  auto links = links_;
  for (auto& l : links) {
    if (l->outgoing || !l->is_open()) continue;
    if (!allow_.allows_text(l->address)) {
      spdlog::warn("dropping link from {}: address {} is no longer allowed", l->describe(),
                   l->address);
      l->conn->close("address no longer allowed");
    }
  }
}

}  // namespace dipc::daemon
