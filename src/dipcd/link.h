// Link: one TCP connection between two nodes, and what dipcd knows about it.
// A link is usable (ready) once the hello exchange is done. Thread safety: io thread only.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dipcd/conn.h"

namespace dipc::daemon {

struct Link {
  explicit Link(asio::io_context& io) : timer(io) {}

  std::shared_ptr<Conn> conn;
  bool outgoing = false;
  bool ready = false;      // hello exchanged
  bool is_referee = false;  // our link to the referee
  std::string name;        // the peer's node name, once known
  std::string address;     // the peer's address
  uint16_t port = 0;       // its listening port
  std::string my_nonce;    // the nonce this side sent in the secret handshake
  bool peer_proved = false;  // the accepting peer proved it knows the secret
  std::chrono::steady_clock::time_point last_heard = std::chrono::steady_clock::now();
  asio::steady_timer timer;  // connect time-out, then heartbeats
  // Frames and callbacks waiting for the link to become ready.
  std::vector<std::function<void(std::shared_ptr<Link>)>> waiters;

  void send(std::vector<uint8_t> frame) {
    if (conn) conn->send(std::move(frame));
  }
  std::string describe() const {
    return (name.empty() ? std::string("?") : name) + " (" + address + ":" + std::to_string(port) +
           ")";
  }
};

}  // namespace dipc::daemon
