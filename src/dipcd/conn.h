// Conn: the one transport of dipcd, a framed full-duplex connection over a stream socket.
// Used for the node's local clients (shim and dipc tool, over the Unix socket) and for peer
// links (TCP).
//
// Reading is buffered: one recvmsg takes whatever has arrived (up to kReadChunk bytes) and
// every complete frame in it is handed to the owner's callback, in order. On a Unix socket
// descriptors passed with SCM_RIGHTS are collected and given to the next frame completed
// (the local protocol never pipelines a frame that carries descriptors); at most
// kMaxPendingFds wait, more closes the connection.
//
// Writing is gathered: queued frames, each made of up to two buffers (a head and a body,
// so that data is relayed without being copied into a new frame), leave in one sendmsg; a
// frame's file part (pages of a segment) leaves with sendfile, not read into dipcd at all.
// Output is bounded, as redis bounds a client's output buffer: above the high-water mark
// the connection stops reading (a peer that does not read its answers stops being served,
// so its requests cannot grow our memory), and past the hard cap it is closed.
//
// Sealing (peer links of a cluster with a secret): once seal() is given the handshake's
// keys, every frame leaves as a kSealed frame holding it encrypted (XChaCha20-Poly1305,
// libsodium; the nonce is a per-direction counter, so a replayed, reordered, dropped or
// altered frame fails to open and closes the link), and only kSealed frames are taken.
//
// Frames above the payload limit close the connection; the limit starts small for a peer
// link (nothing before the hello needs more) and is raised once the link is ready.
//
// Anything malformed closes the connection with a reason the owner logs: a peer can make us
// drop its connection, never crash or hang. The close callback is posted to the io thread,
// never run inside the caller, so a close from within a handler cannot re-enter the owner's
// bookkeeping half way through.
//
// Thread safety: every method runs on the io thread, except send_now() and is_open(), which
// a worker thread may call to answer without waking the io thread; the write queue and the
// descriptor are guarded by a mutex for that.
#pragma once

#include <array>
#include <asio.hpp>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dipcd/bytes.h"
#include "proto/wire.h"

namespace dipc::daemon {

// A received frame. Descriptors that came with it are owned by it (closed with it) until
// taken with take_fd().
struct Frame {
  proto::Header header;
  std::vector<uint8_t> payload;
  std::vector<int> fds;
  Frame() = default;
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;
  ~Frame();
  proto::Reader reader() const { return proto::Reader(payload.data(), payload.size()); }
  // The next descriptor that came with the frame, now the caller's; -1 when none is left.
  int take_fd();
};

// A descriptor shared by the frames that send from it, closed with the last of them.
struct SharedFd {
  int fd = -1;
  explicit SharedFd(int f) : fd(f) {}
  ~SharedFd();
  SharedFd(const SharedFd&) = delete;
  SharedFd& operator=(const SharedFd&) = delete;
};

// Where the file parts of frames come from: [offset, offset+length) of a file (a shared
// memory segment's memfd), sent with sendfile, except the pieces save() copied into memory,
// which are sent from there. Whoever is about to drop bytes of the file while frames still
// need them (a DSM node punching pages out of its memfd) calls save(lo, hi) first; it
// copies only what is in [lo, hi) and not sent yet (the frames of one source leave in
// order, on one connection). Bytes already handed to the kernel by sendfile are its
// references to the file's pages, which a punch does not change; save() does not guard
// against writing over the file's bytes in place. Any thread.
class FileSource {
 public:
  FileSource(std::shared_ptr<const SharedFd> file, uint64_t offset, uint64_t length)
      : file_(std::move(file)), offset_(offset), length_(length), sent_(offset) {}
  uint64_t offset() const { return offset_; }
  uint64_t length() const { return length_; }
  // Sends up to n bytes from file offset `at` (inside the range) to the socket; as send.
  ssize_t send_to(int sock, uint64_t at, size_t n);
  // Copies n bytes from `at` into dst (what a sealed link sends); past the file's end, zeros.
  void read(uint64_t at, uint8_t* dst, size_t n);
  void save(uint64_t lo, uint64_t hi);
  bool overlaps(uint64_t lo, uint64_t hi) const { return lo < offset_ + length_ && offset_ < hi; }

 private:
  // The saved piece holding `at`, or saved_.end() and in *next the start of the next one
  // (or the range's end). Called with mu_ held.
  std::map<uint64_t, std::vector<uint8_t>>::const_iterator piece_at(uint64_t at, uint64_t* next) const;
  std::mutex mu_;
  const std::shared_ptr<const SharedFd> file_;
  std::map<uint64_t, std::vector<uint8_t>> saved_;  // by file offset, disjoint
  const uint64_t offset_, length_;
  uint64_t sent_;  // bytes before this file offset have been sent (or read to seal)
};

// A frame to send: head (header and fixed fields) and an optional body sent after it, and
// then, optionally, file_length bytes of a FileSource from file_offset on (not copied into
// dipcd's memory while the source is a file: the pages of a shared memory segment on their
// way to another node). The bytes are taken when the frame is sent (and, over TCP, read by
// the kernel as late as it transmits them), not when it is queued: until the peer has them
// they must not change in the file, or the source must have been saved.
struct OutFrame {
  std::vector<uint8_t> head;
  Bytes body;  // data passed on (a message's text, a relayed answer), not copied
  std::vector<int> fds;  // sent with the frame (SCM_RIGHTS), not owned: the sender keeps them
  std::shared_ptr<FileSource> file;
  uint64_t file_offset = 0;
  uint64_t file_length = 0;
  bool now = false;  // queued by send_now(): counted apart from send()'s bound (Conn)
  OutFrame() = default;
  OutFrame(std::vector<uint8_t> whole) : head(std::move(whole)) {}  // a whole frame, as head
  size_t held() const { return head.size() + body.size(); }  // in memory
  size_t size() const { return held() + size_t(file_length); }  // on the wire
  bool empty() const { return head.empty(); }
};

// Builds a whole frame (header and payload) from a message with encode(Writer&). An empty
// result means the message did not fit in max_payload: an error, never a frame to send.
template <typename Msg>
std::vector<uint8_t> make_frame(proto::FrameType type, uint64_t request_id, const Msg& msg,
                                size_t max_payload) {
  std::vector<uint8_t> buf(proto::kHeaderSize + max_payload);
  proto::Writer w(buf.data() + proto::kHeaderSize, max_payload);
  msg.encode(w);
  proto::Header h;
  h.type = type;
  h.request_id = request_id;
  h.length = uint32_t(w.size());
  proto::encode_header(h, buf.data());
  buf.resize(w.ok() ? proto::kHeaderSize + w.size() : 0);
  return buf;
}
std::vector<uint8_t> make_empty_frame(proto::FrameType type, uint64_t request_id);

// Who ended a connection, so that owners decide what to log by kind, never by the text.
enum class CloseKind {
  kPeer,   // the other end closed it
  kError,  // a transport or protocol error found here (bad frame, send error, output cap)
  kLocal,  // its owner closed it for a reason worth a log line
  kQuiet,  // its owner closed it as expected (refused, process exited, shutting down)
};

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  using FrameHandler = std::function<void(Frame&)>;
  using CloseHandler = std::function<void(const std::string& why, CloseKind kind)>;

  static constexpr size_t kReadChunk = 64 * 1024;
  static constexpr size_t kMaxPendingFds = 8;
  // Output bounds of send(), on the bytes it queued in memory and the kernel has not taken
  // yet (a frame's file part is not in memory and not counted): past kHighWater it stops
  // reading until half is drained, past kOutputCap the connection closes. send_now() does
  // not stop reading (two nodes streaming segments to each other must not both stop), and
  // its frames are not counted there (a segment's pages copied for a sealed link must not
  // make the next heartbeat close the link): more than kMaxQueuedFrames waiting, or
  // kMaxQueuedBytes of them in memory, closes the connection (a peer that asks without
  // reading its answers).
  static constexpr size_t kHighWater = 4u << 20;
  static constexpr size_t kOutputCap = 64u << 20;
  // 2^20: a grant of up to 1 TiB in 1 MiB chunks, or about 100 MB of small answers.
  static constexpr size_t kMaxQueuedFrames = size_t(1) << 20;
  // And at most 4 GiB of them in memory (a segment's pages copied: data given back, or any
  // pages on a sealed link); a file part is not in memory and not counted.
  static constexpr size_t kMaxQueuedBytes = size_t(4) << 30;

  // Takes ownership of the connected socket fd (made non-blocking here).
  Conn(asio::io_context& io, int fd);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  void start(FrameHandler on_frame, CloseHandler on_close);
  // The largest payload accepted from now on (at most proto::kMaxPayload).
  void set_max_payload(uint32_t n) { max_payload_ = n; }
  // A frame begun and not finished within t closes the connection (0: no limit). For local
  // clients, which have no heartbeat: a half-sent frame must not hold a connection for ever.
  void set_partial_timeout(std::chrono::milliseconds t) { partial_timeout_ = t; }
  // send_now()'s bound on bytes in memory (kMaxQueuedBytes; smaller in tests).
  void set_max_queued_bytes(size_t n) { max_queued_bytes_ = n; }
  // From now on, frames leave sealed with tx and must arrive sealed with rx (32-byte keys).
  void seal(const std::array<uint8_t, 32>& tx, const std::array<uint8_t, 32>& rx);
  bool sealed() const { return rx_on_; }
  void send(OutFrame frame);
  // Any thread: writes the frame at once when nothing is queued before it (the common
  // case), else queues it for the io thread. Frames keep their order. False when the
  // connection is closed (the frame is not sent).
  bool send_now(OutFrame frame);
  void close(const std::string& why, CloseKind kind = CloseKind::kLocal);
  bool is_open() const { return open_.load(); }
  int native_handle() const { return fd_; }
  std::string peer_address() const;  // "ADDR" for TCP, "" for Unix sockets
  size_t queued_bytes() const { return queued_; }
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_.load(); }

 private:
  void trace_frame(const char* dir, const uint8_t* head, size_t n) const;
  void read_some();
  void wait_readable();
  bool parse_frames();  // false once the connection closed while delivering
  // Called with mu_ held: writes what the kernel takes and arms a wait for the rest;
  // returns the error that must close the connection, or "".
  std::string flush_locked();
  // Called with mu_ held, on any thread: writes what the kernel takes of out_, system calls
  // only; the error that must close the connection, or "".
  std::string write_locked();
  void resume();
  void close_locked(const std::string& why, std::unique_lock<std::mutex>& lk,
                    CloseKind kind = CloseKind::kError);

  asio::io_context& io_;
  int fd_;
  asio::posix::stream_descriptor sd_;  // for readiness waits only; I/O uses fd_ directly
  FrameHandler on_frame_;
  CloseHandler on_close_;
  uint32_t max_payload_ = proto::kMaxPayload;
  std::vector<uint8_t> in_;  // bytes received, not yet delivered: [in_start_, in_end_)
  size_t in_start_ = 0;      // offset of the first undelivered byte in in_
  size_t in_end_ = 0;        // end of the bytes received (in_ beyond it: room to read into)
  std::vector<int> pending_fds_;
  // Sealing: keys and the next nonce of each direction (tx under mu_, rx io thread only).
  struct Key {
    std::array<uint8_t, 32> key{};
    uint64_t counter = 0;
  };
  Key tx_, rx_;
  bool rx_on_ = false;
  bool tx_on_ = false;  // guarded by mu_
  OutFrame seal_locked(OutFrame f);
  uint32_t limit_for(proto::FrameType t) const;
  void watch_partial();
  std::chrono::milliseconds partial_timeout_{0};
  asio::steady_timer partial_timer_;
  bool partial_armed_ = false;
  bool reading_ = false;  // a read wait is armed
  bool paused_ = false;   // output above the high-water mark
  uint64_t bytes_in_ = 0;

  std::mutex mu_;  // guards out_, queued_, writing_, the descriptor against send_now()
  std::deque<OutFrame> out_;
  size_t out_offset_ = 0;  // bytes of out_.front() already sent
  size_t queued_ = 0;  // bytes of out_ in memory (file parts not counted)
  size_t queued_send_ = 0;  // those of them send() queued: its high-water mark and cap
  bool writing_ = false;  // a write wait is armed
  size_t max_queued_bytes_ = kMaxQueuedBytes;
  bool refusing_ = false;  // send_now() found the frame bound passed: closing, nothing more
  std::atomic<uint64_t> bytes_out_{0};
  std::atomic<bool> open_{false};
};

}  // namespace dipc::daemon
