#include "dipcd/conn.h"

#include <netinet/in.h>
#include <sys/socket.h>

namespace dipc::daemon {

std::vector<uint8_t> make_empty_frame(proto::FrameType type, uint64_t request_id) {
  std::vector<uint8_t> buf(proto::kHeaderSize);
  proto::Header h;
  h.type = type;
  h.request_id = request_id;
  proto::encode_header(h, buf.data());
  return buf;
}

void Conn::start(FrameHandler on_frame, CloseHandler on_close) {
  on_frame_ = std::move(on_frame);
  on_close_ = std::move(on_close);
  open_ = true;
  read_header();
}

// A handler that throws (an allocation failure, a bug) costs that connection, never the
// daemon.
void Conn::deliver() {
  try {
    on_frame_(frame_);
  } catch (const std::exception& e) {
    close(std::string("internal error while handling a frame: ") + e.what());
  }
}

void Conn::read_header() {
  auto self = shared_from_this();
  asio::async_read(socket_, asio::buffer(head_), [this, self](std::error_code ec, size_t) {
    if (!open_) return;
    if (ec) return close(ec == asio::error::eof ? "connection closed" : ec.message());
    auto err = proto::decode_header(head_.data(), frame_.header);
    if (err != proto::HeaderError::kNone) return close(proto::header_error_text(err));
    frame_.payload.resize(frame_.header.length);
    if (frame_.header.length == 0) {
      deliver();
      if (open_) read_header();
      return;
    }
    read_payload();
  });
}

void Conn::read_payload() {
  auto self = shared_from_this();
  asio::async_read(socket_, asio::buffer(frame_.payload), [this, self](std::error_code ec, size_t) {
    if (!open_) return;
    if (ec) return close(ec == asio::error::eof ? "connection closed" : ec.message());
    deliver();
    if (open_) read_header();
  });
}

void Conn::send(std::vector<uint8_t> frame) {
  if (!open_ || frame.empty()) return;
  std::lock_guard lk(mu_);
  out_.push_back(std::move(frame));
  if (!writing_) {
    writing_ = true;
    write_front();
  }
}

void Conn::send_now(std::vector<uint8_t> frame) {
  if (frame.empty()) return;
  std::lock_guard lk(mu_);
  if (!open_) return;
  if (!writing_) {
    ssize_t n = ::send(socket_.native_handle(), frame.data(), frame.size(),
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == ssize_t(frame.size())) return;
    if (n > 0) frame.erase(frame.begin(), frame.begin() + n);
    // The rest goes the ordinary way; a send error shows up there and closes the link.
  }
  out_.push_back(std::move(frame));
  if (!writing_) {
    writing_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      std::lock_guard lk(self->mu_);
      self->write_front();
    });
  }
}

// Starts writing out_.front(). Called with mu_ held and writing_ set.
void Conn::write_front() {
  if (out_.empty() || !open_) {
    writing_ = false;
    return;
  }
  auto self = shared_from_this();
  // deque::push_back never moves existing elements, so the buffer stays valid while other
  // threads queue frames behind it.
  asio::async_write(socket_, asio::buffer(out_.front()), [this, self](std::error_code ec, size_t) {
    std::unique_lock lk(mu_);
    // close() leaves the frame in flight in place (asio was still reading it); it is
    // released here, whether the write completed or was aborted.
    out_.pop_front();
    if (!open_) {
      out_.clear();
      writing_ = false;
      return;
    }
    if (ec) {
      lk.unlock();
      return close(ec.message());
    }
    write_front();
  });
}

void Conn::close(const std::string& why) {
  {
    std::lock_guard lk(mu_);
    if (!open_) return;
    open_ = false;
    std::error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
    // The frame being written stays until its completion handler runs: freeing it here
    // freed it under asio's feet, and the handler then popped an empty queue.
    if (writing_)
      out_.erase(out_.begin() + 1, out_.end());
    else
      out_.clear();
  }
  auto cb = std::move(on_close_);
  if (cb) cb(why);
}

std::string Conn::peer_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(const_cast<Socket&>(socket_).native_handle(), reinterpret_cast<sockaddr*>(&ss),
                  &len) < 0)
    return "";
  char buf[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
      inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], buf, sizeof buf);
    else
      inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

}  // namespace dipc::daemon
