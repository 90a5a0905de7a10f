// Link: one TCP connection between two nodes, and what dipcd knows about it.
// A link is usable (ready) once its handshake is done; from then on it is bound to the node
// name the handshake established, and PeerLinks keeps at most one ready link per node.
// Thread safety: io thread only.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dipcd/conn.h"
#include "dipcd/handshake.h"

namespace dipc::daemon {

struct LinkResult;

struct Link {
  explicit Link(asio::io_context& io) : timer(io), serial(next_serial()), delay_timer(io) {}

  std::shared_ptr<Conn> conn;
  asio::steady_timer timer;  // connect time-out, then heartbeats
  const uint64_t serial;     // this link among all of this run: requests are tagged with it
  std::unique_ptr<Handshake> handshake;  // until ready
  bool outgoing = false;
  bool ready = false;       // handshake done, bound to name
  bool superseded = false;  // closed because another link to the same node is kept
  std::string name;         // the peer's node name, once known
  std::string address;      // the peer's address
  uint16_t port = 0;        // its listening port
  uint64_t incarnation = 0;  // the peer's run (proto::Hello), once ready
  std::chrono::steady_clock::time_point last_heard = std::chrono::steady_clock::now();
  // Callbacks waiting for the link to become ready (nullptr when it failed).
  std::vector<std::function<void(const LinkResult&)>> waiters;

  // Fault injection ([debug] fault_injection, for tests): frames to this peer are held for
  // `delay` before they leave, in order; a stalled link sends nothing and hears nothing
  // (PeerLinks drops what arrives), as a network partition would.
  std::atomic<bool> faulty{false};  // read by workers that answer directly
  std::chrono::milliseconds delay{0};
  bool stalled = false;
  std::deque<std::pair<std::chrono::steady_clock::time_point, OutFrame>> delayed;
  asio::steady_timer delay_timer;

  void send(OutFrame frame) {
    if (!conn) return;
    if (faulty.load()) return send_faulty(std::move(frame));
    conn->send(std::move(frame));
  }
  void set_fault(std::chrono::milliseconds d, bool stall);
  bool is_open() const { return conn && conn->is_open(); }
  // The kernel's smoothed round-trip time of the link's socket in microseconds, or -1.
  int64_t rtt_us() const;
  void send_faulty(OutFrame frame);
  void arm_delay();
  void flush_delayed();
  static uint64_t next_serial() {
    static uint64_t n = 0;  // io thread only
    return ++n;
  }
  std::string describe() const {
    return (name.empty() ? std::string("?") : name) + " (" + address + ":" + std::to_string(port) +
           ")";
  }
};

// What a caller waiting for a link gets.
struct LinkResult {
  std::shared_ptr<Link> link;  // null on failure
  std::string why;             // the failure
  bool refused = false;        // the peer refused us (address, name, secret)
};

}  // namespace dipc::daemon
