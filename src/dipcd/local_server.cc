#include "dipcd/local_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "dipcd/pidfd_wait.h"

namespace dipc::daemon {

bool LocalServer::listen(const std::string& path, std::string& err) {
  path_ = path;
  ::unlink(path.c_str());
  std::error_code ec;
  acceptor_ = std::make_unique<asio::local::stream_protocol::acceptor>(io_);
  asio::local::stream_protocol::endpoint ep(path);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    err = fmt::format("cannot create the local socket {}: {} (is [node] run_dir writable?)", path,
                      ec.message());
    return false;
  }
  ::chmod(path.c_str(), 0666);
  accept_loop();
  return true;
}

void LocalServer::shutdown() {
  stopping_ = true;
  std::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  backoff_.cancel();
  if (!path_.empty()) ::unlink(path_.c_str());
}

void LocalServer::accept_loop() {
  acceptor_->async_accept([this](std::error_code ec, asio::local::stream_protocol::socket s) {
    DIPC_ON_THREAD(thread_);
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      spdlog::error("local accept: {} (retrying in 100 ms)", ec.message());
      backoff_.expires_after(std::chrono::milliseconds(100));
      backoff_.async_wait([this](std::error_code e) {
        if (!e && !stopping_) accept_loop();
      });
      return;
    }
    if (clients_ >= kMaxClients) {
      if (!full_logged_)
        spdlog::warn("{} local connections open: refusing more until some close", clients_);
      full_logged_ = true;
      std::error_code ignored;
      s.close(ignored);
      return accept_loop();
    }
    full_logged_ = false;
    auto c = std::make_shared<LocalClient>();
    socklen_t len = sizeof c->cred;
    if (getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &c->cred, &len) != 0) {
      spdlog::warn("local client without credentials: {}", strerror(errno));
      return accept_loop();
    }
    std::error_code rel;
    int fd = s.release(rel);
    if (rel) {
      spdlog::warn("local accept: {}", rel.message());
      return accept_loop();
    }
    c->conn = std::make_shared<Conn>(io_, fd);
    c->conn->set_partial_timeout(kPartialFrameTimeout);
    ++clients_;
    std::weak_ptr<LocalClient> wc = c;
    c->conn->start(
        [this, wc](Frame& f) {
          auto c = wc.lock();
          if (!c) return;
          auto it = routes_.find(f.header.type);
          if (it == routes_.end())
            return c->conn->close(
                fmt::format("unexpected frame type {} on the local socket", int(f.header.type)));
          it->second(c, f);
        },
        [this, c](const std::string& why, CloseKind kind) mutable {
          --clients_;
          if (kind == CloseKind::kError || kind == CloseKind::kLocal)
            spdlog::warn("local client (pid {}, uid {}) dropped: {}", c->cred.pid, c->cred.uid, why);
          // The process (or thread) is gone: interrupt what it was waiting for.
          auto cancels = std::move(c->cancels);
          for (auto& [id, cancel] : cancels) cancel();
          auto unacked = std::move(c->unacked);
          for (auto& [id, give_back] : unacked) give_back();
          if (c->pidfd) {
            std::error_code ignored;
            c->pidfd->close(ignored);
          }
          c.reset();
        });
    int pfd = int(syscall(SYS_pidfd_open, c->cred.pid, 0));
    if (pfd >= 0) {
      c->pidfd = std::make_unique<asio::posix::stream_descriptor>(io_, pfd);
      // A completed wait is checked against the pidfd (pidfd_wait.h): a live process's
      // connection is never taken for an exited one's.
      auto open = [wc] {
        auto c = wc.lock();
        return c && c->pidfd && c->pidfd->is_open();
      };
      wait_for_exit(*c->pidfd, open, [this, wc] {
        auto c = wc.lock();
        if (!c) return;
        if (c->unacked.empty()) return c->conn->close("process exited", CloseKind::kQuiet);
        // Its last acknowledgements may still be in the socket: read them first (the
        // socket ends now unless a child it forked holds it; the grace bounds that case).
        auto cancels = std::move(c->cancels);
        for (auto& [id, cancel] : cancels) cancel();
        auto t = std::make_shared<asio::steady_timer>(io_, kExitGrace);
        t->async_wait([wc, t](std::error_code) {
          if (auto c = wc.lock()) c->conn->close("process exited", CloseKind::kQuiet);
        });
      });
    }
    accept_loop();
  });
}

}  // namespace dipc::daemon
