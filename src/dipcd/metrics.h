// Metrics: the optional Prometheus endpoint ([metrics] listen = "ADDR:PORT", off by
// default): a tiny HTTP/1.0 server on the io thread that answers GET /metrics with the
// text exposition format (version 0.0.4), built from the counters the other rooms keep
// (it owns none of them, and changes none):
//   RemoteCalls   calls sent by kind and operation, failures, a latency histogram
//   PeerLinks     per link: the kernel's round-trip time, bytes each way, last heard
//   ObjectTable   owned objects and placeholders
//   OwnerSide / RemoteCalls   callers blocked here for others and waiting on others
//   DsmRoom       page faults served, pages sent and received (distributed shared memory)
// and whether the node has joined (the referee client).
// Bounds: at most kMaxConnections open at once (more are closed on accept), a request of at
// most kMaxRequest bytes (larger: 431 and close), kTimeout to send it; everything is
// asynchronous and non-blocking, so a slow or hostile scraper costs a socket, never the io
// thread. Port 0 takes any free port, written to RUN_DIR/metrics.port.
// Thread safety: io thread only.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace dipc::daemon {

class PeerLinks;
class RemoteCalls;
class ObjectTable;
class OwnerSide;
class DsmRoom;

class Metrics {
 public:
  static constexpr size_t kMaxConnections = 8;
  static constexpr size_t kMaxRequest = 4096;
  static constexpr std::chrono::seconds kTimeout{5};

  struct Sources {
    PeerLinks& links;
    RemoteCalls& remote;
    ObjectTable& table;
    OwnerSide& owner;
    DsmRoom& dsm;
    std::function<bool()> joined;
  };
  Metrics(asio::io_context& io, Sources s);
  ~Metrics();
  // Listens on address:port; false with err when it cannot.
  bool listen(const std::string& address, uint16_t port, std::string& err);
  uint16_t port() const { return port_; }
  void shutdown();
  // The exposition text (for tests and the handler).
  std::string render() const;

 private:
  struct Session;
  void accept_loop();
  void read_more(const std::shared_ptr<Session>& s);
  void respond(const std::shared_ptr<Session>& s, const std::string& status,
               const std::string& body);

  asio::io_context& io_;
  Sources src_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  size_t open_ = 0;
  bool stopping_ = false;
};

}  // namespace dipc::daemon
