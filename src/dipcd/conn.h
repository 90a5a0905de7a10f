// A framed, full-duplex connection: the one transport of dipcd, used for the node's local
// clients (shim and dipc tool, over the Unix socket) and for peer links (TCP).
//
// Frames are read one at a time (header, then payload) and handed to the owner's callback;
// writes are queued and sent in order. Anything malformed closes the connection with a
// reason the owner logs: a peer can make us drop its connection, never crash or hang.
// Thread safety: every method runs on the io_context's one thread, except send_now(),
// which a worker thread may call to answer without waking the io thread; the write queue
// and the descriptor are guarded by a mutex for that.
#pragma once

#include <array>
#include <asio.hpp>
#include <atomic>
#include <mutex>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace dipc::daemon {

using Socket = asio::generic::stream_protocol::socket;

struct Frame {
  proto::Header header;
  std::vector<uint8_t> payload;
  proto::Reader reader() const { return proto::Reader(payload.data(), payload.size()); }
};

// Builds a whole frame (header and payload) from a message with encode(Writer&).
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

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  using FrameHandler = std::function<void(const Frame&)>;
  using CloseHandler = std::function<void(const std::string& why)>;

  explicit Conn(Socket socket) : socket_(std::move(socket)) {}
  void start(FrameHandler on_frame, CloseHandler on_close);
  void send(std::vector<uint8_t> frame);
  // Any thread: writes the frame at once when nothing is queued before it (the common
  // case), else queues it for the io thread. Frames keep their order.
  void send_now(std::vector<uint8_t> frame);
  void close(const std::string& why);
  bool is_open() const { return open_.load(); }
  Socket& socket() { return socket_; }
  std::string peer_address() const;  // "ADDR" for TCP, "" for Unix sockets

 private:
  void deliver();
  void read_header();
  void read_payload();
  void write_front();

  Socket socket_;
  FrameHandler on_frame_;
  CloseHandler on_close_;
  std::array<uint8_t, proto::kHeaderSize> head_{};
  Frame frame_;
  std::mutex mu_;  // guards out_, writing_ and the descriptor against send_now()
  std::deque<std::vector<uint8_t>> out_;
  bool writing_ = false;
  std::atomic<bool> open_{false};
};

}  // namespace dipc::daemon
