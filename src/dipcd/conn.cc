#include "dipcd/conn.h"

#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/format.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace dipc::daemon {

std::vector<uint8_t> make_empty_frame(proto::FrameType type, uint64_t request_id) {
  std::vector<uint8_t> buf(proto::kHeaderSize);
  proto::Header h;
  h.type = type;
  h.request_id = request_id;
  proto::encode_header(h, buf.data());
  return buf;
}

SharedFd::~SharedFd() {
  if (fd >= 0) ::close(fd);
}

namespace {

// pread of all n bytes (one read stops short of 2 GiB); what is past the file's end is zero.
void pread_all(int fd, uint8_t* dst, size_t n, uint64_t at) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(fd, dst + got, n - got, off_t(at + got));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += size_t(k);
  }
  if (got < n) std::memset(dst + got, 0, n - got);
}

}  // namespace

std::map<uint64_t, std::vector<uint8_t>>::const_iterator FileSource::piece_at(uint64_t at,
                                                                               uint64_t* next) const {
  auto it = saved_.upper_bound(at);
  *next = it == saved_.end() ? offset_ + length_ : it->first;
  if (it != saved_.begin()) {
    auto p = std::prev(it);
    if (at < p->first + p->second.size()) return p;
  }
  return saved_.end();
}

ssize_t FileSource::send_to(int sock, uint64_t at, size_t n) {
  std::lock_guard g(mu_);
  if (n == 0 || at < offset_ || at + n > offset_ + length_) {
    errno = EINVAL;
    return -1;
  }
  uint64_t next;
  auto p = piece_at(at, &next);
  ssize_t sent;
  if (p != saved_.end()) {
    size_t k = std::min<uint64_t>(n, p->first + p->second.size() - at);
    sent = ::send(sock, p->second.data() + (at - p->first), k, MSG_DONTWAIT | MSG_NOSIGNAL);
  } else {
    off_t pos = off_t(at);
    size_t k = std::min<uint64_t>(n, next - at);
    sent = ::sendfile(sock, file_->fd, &pos, k);
    if (sent == 0) {
      // The file ended before the range (it cannot shrink: DSM seals its memfds; this is
      // defence): what is missing is sent as zeros, as a read past the end gives.
      static const uint8_t zeros[4096] = {};
      sent = ::send(sock, zeros, std::min(k, sizeof zeros), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
  }
  if (sent > 0) sent_ = std::max(sent_, at + uint64_t(sent));
  return sent;
}

void FileSource::read(uint64_t at, uint8_t* dst, size_t n) {
  std::lock_guard g(mu_);
  if (at < offset_ || at + n > offset_ + length_) {
    std::memset(dst, 0, n);
    return;
  }
  uint64_t end = at + n;
  while (at < end) {
    uint64_t next;
    auto p = piece_at(at, &next);
    if (p != saved_.end()) {
      size_t k = std::min<uint64_t>(end - at, p->first + p->second.size() - at);
      std::memcpy(dst, p->second.data() + (at - p->first), k);
      at += k;
      dst += k;
    } else {
      size_t k = std::min(end, next) - at;
      pread_all(file_->fd, dst, k, at);
      at += k;
      dst += k;
    }
  }
  sent_ = std::max(sent_, end);
}

void FileSource::save(uint64_t lo, uint64_t hi) {
  std::lock_guard g(mu_);
  lo = std::max(lo, sent_);
  hi = std::min(hi, offset_ + length_);
  // The gaps between the pieces saved already, within [lo, hi).
  for (uint64_t at = lo; at < hi;) {
    uint64_t next;
    auto p = piece_at(at, &next);
    if (p != saved_.end()) {
      at = p->first + p->second.size();
      continue;
    }
    uint64_t k = std::min(hi, next) - at;
    std::vector<uint8_t> b(static_cast<size_t>(k));
    pread_all(file_->fd, b.data(), b.size(), at);
    saved_.emplace(at, std::move(b));
    at += k;
  }
}

Frame::~Frame() {
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
}

int Frame::take_fd() {
  for (int& fd : fds) {
    if (fd >= 0) {
      int out = fd;
      fd = -1;
      return out;
    }
  }
  return -1;
}

Conn::Conn(asio::io_context& io, int fd) : io_(io), fd_(fd), sd_(io, fd), partial_timer_(io) {
  int fl = fcntl(fd_, F_GETFL);
  if (fl >= 0) fcntl(fd_, F_SETFL, fl | O_NONBLOCK);
}

Conn::~Conn() {
  for (int fd : pending_fds_) ::close(fd);
  sodium_memzero(tx_.key.data(), tx_.key.size());
  sodium_memzero(rx_.key.data(), rx_.key.size());
}

namespace {

void counter_nonce(uint64_t n, unsigned char out[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES]) {
  std::memset(out, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  for (int i = 0; i < 8; ++i) out[i] = uint8_t(n >> (8 * i));
}

}  // namespace

uint32_t Conn::limit_for(proto::FrameType t) const {
  return t == proto::FrameType::kSealed ? max_payload_ + proto::kHeaderSize + proto::kSealOverhead
                                        : max_payload_;
}

void Conn::seal(const std::array<uint8_t, 32>& tx, const std::array<uint8_t, 32>& rx) {
  std::lock_guard lk(mu_);
  tx_.key = tx;
  tx_.counter = 0;
  tx_on_ = true;
  rx_.key = rx;
  rx_.counter = 0;
  rx_on_ = true;
}

// The frame, encrypted as the payload of a kSealed frame. Called with mu_ held, in the
// order frames are queued, so nonces follow the stream.
OutFrame Conn::seal_locked(OutFrame f) {
  size_t plain = f.size();
  OutFrame out;
  out.head.resize(proto::kHeaderSize + plain + proto::kSealOverhead);
  uint8_t* c = out.head.data() + proto::kHeaderSize;
  std::memcpy(c, f.head.data(), f.head.size());
  if (!f.body.empty()) std::memcpy(c + f.head.size(), f.body.data(), f.body.size());
  // Sealed, the file part is read now: what is encrypted is what leaves.
  if (f.file_length) f.file->read(f.file_offset, c + f.held(), size_t(f.file_length));
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  counter_nonce(tx_.counter++, nonce);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(c, &clen, c, plain, nullptr, 0, nullptr, nonce,
                                             tx_.key.data());
  proto::Header h;
  h.type = proto::FrameType::kSealed;
  h.length = uint32_t(clen);
  proto::encode_header(h, out.head.data());
  return out;
}

void Conn::start(FrameHandler on_frame, CloseHandler on_close) {
  on_frame_ = std::move(on_frame);
  on_close_ = std::move(on_close);
  open_ = true;
  // The first read is posted: no frame handler runs inside start() itself.
  asio::post(io_, [self = shared_from_this()] { self->read_some(); });
}

void Conn::wait_readable() {
  if (reading_ || !open_ || paused_) return;
  reading_ = true;
  sd_.async_wait(asio::posix::stream_descriptor::wait_read,
                 [this, self = shared_from_this()](std::error_code ec) {
                   reading_ = false;
                   if (!open_) return;
                   if (ec) return close(ec.message(), CloseKind::kError);
                   read_some();
                 });
}

// Reads what has arrived, delivers every complete frame, and waits for more. Bounded: one
// recvmsg per wake-up, so one busy connection cannot starve the others.
void Conn::read_some() {
  if (!open_ || paused_) return;
  // Room for the next chunk; a frame larger than the chunk gets its whole size at once.
  // The buffer only grows: a read does not zero-fill a fresh chunk (that memset was a few
  // per cent of dipcd's CPU time in a remote call loop).
  if (in_start_ > 0 && in_start_ == in_end_) in_start_ = in_end_ = 0;
  size_t want = kReadChunk;
  if (in_end_ - in_start_ >= proto::kHeaderSize) {
    proto::Header h;
    if (proto::decode_header(in_.data() + in_start_, h) == proto::HeaderError::kNone &&
        h.length <= limit_for(h.type))
      want = std::max(want, proto::kHeaderSize + h.length - (in_end_ - in_start_));
  }
  // Move undelivered bytes to the front before growing, so the buffer stays small.
  if (in_start_ > 0) {
    std::memmove(in_.data(), in_.data() + in_start_, in_end_ - in_start_);
    in_end_ -= in_start_;
    in_start_ = 0;
  }
  if (in_.size() < in_end_ + want) in_.resize(in_end_ + want);
  iovec iov{in_.data() + in_end_, want};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * kMaxPendingFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof ctl;
  ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return wait_readable();
    return close(strerror(errno), CloseKind::kError);
  }
  in_end_ += size_t(n);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      pending_fds_.push_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) return close("too many descriptors passed with one message", CloseKind::kError);
  if (pending_fds_.size() > kMaxPendingFds) return close("too many descriptors passed", CloseKind::kError);
  if (n == 0) return close("connection closed", CloseKind::kPeer);
  bytes_in_ += uint64_t(n);
  if (!parse_frames()) return;
  watch_partial();
  wait_readable();
}

// Arms the partial-frame timer while bytes of an unfinished frame wait; it closes the
// connection if no byte came in the whole time.
void Conn::watch_partial() {
  if (partial_timeout_.count() == 0 || partial_armed_ || in_end_ == in_start_) return;
  partial_armed_ = true;
  uint64_t stamp = bytes_in_;
  partial_timer_.expires_after(partial_timeout_);
  partial_timer_.async_wait([this, self = shared_from_this(), stamp](std::error_code ec) {
    partial_armed_ = false;
    if (ec || !open_) return;
    if (in_end_ > in_start_ && bytes_in_ == stamp && !paused_)
      return close(fmt::format("a frame left unfinished for {} ms", partial_timeout_.count()),
                   CloseKind::kError);
    watch_partial();
  });
}

bool Conn::parse_frames() {
  while (open_ && !paused_) {
    size_t avail = in_end_ - in_start_;
    if (avail < proto::kHeaderSize) break;
    Frame f;
    auto err = proto::decode_header(in_.data() + in_start_, f.header);
    if (err != proto::HeaderError::kNone) {
      close(proto::header_error_text(err), CloseKind::kError);
      return false;
    }
    if (f.header.length > limit_for(f.header.type)) {
      close(max_payload_ < proto::kMaxPayload ? "frame too long for a link that has not said hello"
                                              : proto::header_error_text(proto::HeaderError::kTooLong),
            CloseKind::kError);
      return false;
    }
    if (avail < proto::kHeaderSize + f.header.length) break;
    const uint8_t* p = in_.data() + in_start_ + proto::kHeaderSize;
    if (rx_on_ != (f.header.type == proto::FrameType::kSealed)) {
      close(rx_on_ ? "a frame that is not sealed on an encrypted link"
                   : "a sealed frame on a link that is not encrypted",
            CloseKind::kError);
      return false;
    }
    if (rx_on_) {
      // Opened in place: the inner frame replaces the sealed one.
      size_t clen = f.header.length;
      if (clen < proto::kSealOverhead + proto::kHeaderSize) {
        close("sealed frame too short", CloseKind::kError);
        return false;
      }
      std::vector<uint8_t> plain(clen - proto::kSealOverhead);
      unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
      counter_nonce(rx_.counter, nonce);
      unsigned long long plen = 0;
      if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), &plen, nullptr, p, clen, nullptr,
                                                     0, nonce, rx_.key.data()) != 0) {
        close("a sealed frame that does not open (altered, replayed or out of order)", CloseKind::kError);
        return false;
      }
      ++rx_.counter;
      in_start_ += proto::kHeaderSize + clen;
      auto inner = proto::decode_header(plain.data(), f.header);
      if (inner != proto::HeaderError::kNone || f.header.type == proto::FrameType::kSealed ||
          f.header.length != plen - proto::kHeaderSize || f.header.length > max_payload_) {
        close("a sealed frame holding no valid frame", CloseKind::kError);
        return false;
      }
      f.payload.assign(plain.begin() + proto::kHeaderSize, plain.begin() + long(plen));
    } else {
      f.payload.assign(p, p + f.header.length);
      in_start_ += proto::kHeaderSize + f.header.length;
    }
    f.fds = std::move(pending_fds_);
    pending_fds_.clear();
    // A handler that throws (an allocation failure, a bug) costs that connection, never the
    // daemon: no exception leaves this function.
    if (spdlog::should_log(spdlog::level::trace))
      spdlog::trace("frame in fd {}: type {} request {} payload {} bytes", fd_,
                    int(f.header.type), f.header.request_id, f.header.length);
    try {
      on_frame_(f);
    } catch (const std::exception& e) {
      close(std::string("internal error while handling a frame: ") + e.what(), CloseKind::kError);
      return false;
    }
  }
  return open_.load();
}

// [log] level = "trace": one line per frame, in and out. The level is checked before any
// formatting, so that tracing off costs one load and a branch per frame.
void Conn::trace_frame(const char* dir, const uint8_t* head, size_t n) const {
  proto::Header h;
  if (n < proto::kHeaderSize || proto::decode_header(head, h) != proto::HeaderError::kNone) return;
  spdlog::trace("frame {} fd {}: type {} request {} payload {} bytes", dir, fd_, int(h.type),
                h.request_id, h.length);
}

void Conn::send(OutFrame frame) {
  if (spdlog::should_log(spdlog::level::trace))
    trace_frame("out", frame.head.data(), frame.head.size());
  if (frame.empty()) {
    // make_frame() gives an empty frame when the message did not fit: a caller's bug,
    // said out loud rather than a frame silently missing.
    spdlog::error("a frame that did not fit its buffer was not sent");
    return;
  }
  std::unique_lock lk(mu_);
  if (!open_ || refusing_) return;
  if (tx_on_) frame = seal_locked(std::move(frame));
  queued_ += frame.held();
  queued_send_ += frame.held();
  out_.push_back(std::move(frame));
  if (queued_send_ > kOutputCap)
    return close_locked(fmt::format("more than {} bytes of answers not read", kOutputCap), lk);
  if (!writing_) {
    std::string err = flush_locked();
    if (!err.empty()) return close_locked(err, lk);
  }
  if (queued_send_ > kHighWater) paused_ = true;  // reading stops; resumes once drained
}

bool Conn::send_now(OutFrame frame) {
  if (frame.empty()) return false;
  if (spdlog::should_log(spdlog::level::trace)) trace_frame("out", frame.head.data(), frame.head.size());
  std::unique_lock lk(mu_);
  if (!open_) return false;
  if (refusing_) return false;
  if (tx_on_) frame = seal_locked(std::move(frame));
  if (out_.size() >= kMaxQueuedFrames || queued_ + frame.held() > max_queued_bytes_) {
    // A peer that does not read what it is answered: closed on the io thread (this may be
    // another), and neither this frame nor any after it is sent (no gap in the stream).
    refusing_ = true;
    asio::post(io_, [self = shared_from_this()] {
      self->close(fmt::format("more than {} frames or {} MiB of answers not read",
                              kMaxQueuedFrames, self->max_queued_bytes_ >> 20),
                  CloseKind::kError);
    });
    return false;
  }
  bool first = out_.empty();
  queued_ += frame.held();
  frame.now = true;
  out_.push_back(std::move(frame));
  // Nothing queued before it: written here and now, as far as the kernel takes it. A send
  // error shows up again on the io thread, which closes the link.
  if (first) (void)write_locked();
  if (!out_.empty() && !writing_) {
    writing_ = true;
    asio::post(io_, [self = shared_from_this()] {
      std::unique_lock lk(self->mu_);
      self->writing_ = false;
      if (!self->open_) return;
      std::string err = self->flush_locked();
      if (!err.empty()) self->close_locked(err, lk);
    });
  }
  return true;
}

std::string Conn::write_locked() {
  while (!out_.empty()) {
    OutFrame& front = out_.front();
    if (front.file_length && out_offset_ >= front.held()) {
      // The front frame's file part: from the file to the socket, never through dipcd.
      uint64_t done = out_offset_ - front.held();
      ssize_t sent = front.file->send_to(fd_, front.file_offset + done, size_t(front.file_length - done));
      if (sent < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return std::string("sending a segment's pages: ") + strerror(errno);
      }
      if (sent == 0) return "sending a segment's pages: nothing was taken";
      bytes_out_ += uint64_t(sent);
      out_offset_ += size_t(sent);
      if (out_offset_ == front.size()) {
        out_.pop_front();
        out_offset_ = 0;
      }
      continue;
    }
    iovec iov[64];
    int n = 0;
    size_t off = out_offset_;
    std::vector<int>* fds = nullptr;
    for (auto& f : out_) {
      if (n > 0 && !f.fds.empty()) break;  // descriptors leave with their own frame's bytes
      if (n == 0 && !f.fds.empty() && off == 0) fds = &f.fds;
      size_t hs = f.head.size();
      if (off < hs) iov[n++] = {f.head.data() + off, hs - off};
      if (!f.body.empty()) {
        size_t bo = off > hs ? off - hs : 0;
        if (bo < f.body.size()) iov[n++] = {f.body.mutable_data() + bo, f.body.size() - bo};
      }
      off = 0;
      if (f.file_length || n >= 62) break;  // a file part leaves on its own (above)
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = size_t(n);
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * kMaxPendingFds)];
    if (fds) {
      size_t count = std::min(fds->size(), kMaxPendingFds);
      msg.msg_control = ctl;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * count);
      std::memcpy(CMSG_DATA(c), fds->data(), sizeof(int) * count);
    }
    ssize_t sent = ::sendmsg(fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return strerror(errno);
    }
    bytes_out_ += uint64_t(sent);
    size_t left = size_t(sent);
    if (fds && left > 0) fds->clear();
    // What was taken, frame by frame, from the front; a frame with a file part stays at the
    // front once its memory part is sent (it was the last gathered).
    while (left > 0 && !out_.empty()) {
      OutFrame& f = out_.front();
      size_t rest = f.held() - out_offset_;
      size_t take = std::min(left, rest);
      left -= take;
      queued_ -= take;
      if (!f.now) queued_send_ -= take;
      out_offset_ += take;
      if (out_offset_ == f.size()) {
        out_.pop_front();
        out_offset_ = 0;
      } else if (take == rest) {
        break;  // the file part is next
      }
    }
  }
  return {};
}

std::string Conn::flush_locked() {
  std::string err = write_locked();
  if (!err.empty()) return err;
  if (paused_ && queued_send_ <= kHighWater / 2) {
    paused_ = false;
    asio::post(io_, [self = shared_from_this()] { self->resume(); });
  }
  if (out_.empty() || writing_) return {};
  writing_ = true;
  sd_.async_wait(asio::posix::stream_descriptor::wait_write,
                 [this, self = shared_from_this()](std::error_code ec) {
                   std::unique_lock lk(mu_);
                   writing_ = false;
                   if (!open_) return;
                   std::string err = ec ? ec.message() : flush_locked();
                   if (!err.empty()) close_locked(err, lk);
                 });
  return {};
}

// Output has drained below the low-water mark: deliver what is buffered, then read again.
void Conn::resume() {
  if (!open_ || paused_) return;
  if (parse_frames()) wait_readable();
}

void Conn::close(const std::string& why, CloseKind kind) {
  std::unique_lock lk(mu_);
  close_locked(why, lk, kind);
}

void Conn::close_locked(const std::string& why, std::unique_lock<std::mutex>& lk, CloseKind kind) {
  if (!open_) return;
  open_ = false;
  ::shutdown(fd_, SHUT_RDWR);
  std::error_code ignored;
  sd_.cancel(ignored);
  out_.clear();
  queued_ = queued_send_ = 0;
  lk.unlock();
  partial_timer_.cancel(ignored);
  if (auto cb = std::move(on_close_))
    asio::post(io_, [cb = std::move(cb), why, kind, self = shared_from_this()] { cb(why, kind); });
}

std::string Conn::peer_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "";
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
