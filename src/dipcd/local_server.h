// LocalServer: the Unix socket RUN_DIR/dipcd.sock, where this node's processes (through
// the shim) and the dipc command talk to dipcd.
//
// Owns the listening socket and every local client: its connection, the credentials the
// kernel gives for it (SO_PEERCRED), a pidfd that says when the process has exited, and
// the cancel functions of its calls in flight. Frames are routed by type to the handler a
// room registered with on(); any other type closes the client. When a client goes (its
// connection closed, or its process exited even if a forked child still holds the socket)
// every call it had in flight is cancelled, and every message taken for it that it had not
// acknowledged (kTaken) is given back; a client whose process exited while such messages
// wait is closed kExitGrace later, so that an acknowledgement already in its socket is read.
//
// Bounds: a frame begun must be finished within kPartialFrameTimeout (10 s); at most
// kMaxClients connections (more are closed at once, with one log line per
// burst); accept errors (EMFILE) back off instead of spinning; each connection's output is
// bounded by Conn.
// Thread safety: io thread only.
#pragma once

#include <sys/socket.h>

#include <asio.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "dipcd/caller_creds.h"
#include "dipcd/conn.h"
#include "dipcd/thread_check.h"

namespace dipc::daemon {

struct LocalClient {
  std::shared_ptr<Conn> conn;
  ucred cred{};
  // The calling process: when it exits its calls are cancelled, even if a child it forked
  // still holds the connection open.
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  CallerThread thread;  // the calling thread's pidfd, for read_caller_ids
  std::map<uint64_t, std::function<void()>> cancels;  // calls in flight, by request id
  // Messages another node took off their queue for this client's msgrcv, answered but not
  // yet said to have reached the process (kTaken): given back if the client goes first.
  // At most kMaxUnacked (the oldest is forgotten: it is then at-most-once, as before).
  static constexpr size_t kMaxUnacked = 64;
  std::map<uint64_t, std::function<void()>> unacked;  // by request id
};

class LocalServer {
 public:
  using Handler = std::function<void(const std::shared_ptr<LocalClient>&, Frame&)>;
  static constexpr size_t kMaxClients = 4096;
  // A frame begun by a local client must be complete within this (Conn::set_partial_timeout).
  static constexpr std::chrono::milliseconds kPartialFrameTimeout{10000};
  static constexpr std::chrono::milliseconds kExitGrace{200};

  explicit LocalServer(asio::io_context& io) : io_(io), backoff_(io) {}
  // Creates the socket at path (mode 0666: any local user may call; the kernel says who).
  bool listen(const std::string& path, std::string& err);
  void shutdown();
  void on(proto::FrameType type, Handler h) { routes_[type] = std::move(h); }
  size_t clients() const { return clients_; }

 private:
  void accept_loop();

  asio::io_context& io_;
  ThreadCheck thread_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor_;
  asio::steady_timer backoff_;
  std::map<proto::FrameType, Handler> routes_;
  std::string path_;
  size_t clients_ = 0;
  bool full_logged_ = false;
  bool stopping_ = false;
};

}  // namespace dipc::daemon
