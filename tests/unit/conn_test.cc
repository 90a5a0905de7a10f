// Conn: framing over a real socket pair, bounds, descriptor passing, posted closes.
#include "dipcd/conn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <vector>

namespace dipc::daemon {
namespace {

using proto::FrameType;

std::vector<uint8_t> admin_frame(uint64_t id, const std::string& text) {
  proto::AdminReply r{0, text};
  return make_frame(FrameType::kAdminReply, id, r, text.size() + 16);
}

class ConnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv_), 0);
    conn_ = std::make_shared<Conn>(io_, sv_[0]);
    conn_->start([this](Frame& f) { on_frame(f); },
                 [this](const std::string& why, CloseKind) { closed_ = why; });
  }
  void TearDown() override {
    conn_->close("test over");
    io_.poll();
    ::close(sv_[1]);
  }
  virtual void on_frame(Frame& f) {
    ids_.push_back(f.header.request_id);
    payloads_.push_back(f.payload);
    if (f.take_fd() >= 0) ++fds_;
  }
  // Runs the io context until pred holds (bounded: 2 s).
  template <typename Pred>
  bool run_until(Pred pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!pred() && std::chrono::steady_clock::now() < end) {
      io_.run_for(std::chrono::milliseconds(10));
      io_.restart();
    }
    return pred();
  }
  void write_peer(const std::vector<uint8_t>& b) {
    ASSERT_EQ(::write(sv_[1], b.data(), b.size()), ssize_t(b.size()));
  }

  asio::io_context io_;
  int sv_[2] = {-1, -1};
  std::shared_ptr<Conn> conn_;
  std::vector<uint64_t> ids_;
  std::vector<std::vector<uint8_t>> payloads_;
  std::string closed_;
  int fds_ = 0;
};

TEST_F(ConnTest, FramesInOneWriteAndFramesSplitAcrossWritesArriveWholeInOrder) {
  std::vector<uint8_t> all;
  for (uint64_t i = 1; i <= 3; ++i) {
    auto f = admin_frame(i, std::string(size_t(i) * 10, char('a' + i)));
    all.insert(all.end(), f.begin(), f.end());
  }
  write_peer(all);
  proto::OpReply op;
  std::string text(200000, 'z');  // larger than one read chunk
  op.data = text;
  auto big = make_frame(FrameType::kOpReply, 4, op, text.size() + 64);
  for (size_t at = 0; at < big.size(); at += 7001) {
    std::vector<uint8_t> part(big.begin() + long(at),
                              big.begin() + long(std::min(big.size(), at + 7001)));
    write_peer(part);
    io_.poll();
    io_.restart();
  }
  ASSERT_TRUE(run_until([&] { return ids_.size() == 4; }));
  EXPECT_EQ(ids_, (std::vector<uint64_t>{1, 2, 3, 4}));
  proto::Reader r(payloads_[3].data(), payloads_[3].size());
  proto::OpReply rep;
  ASSERT_TRUE(rep.decode(r));
  EXPECT_EQ(rep.data, text);
  EXPECT_TRUE(closed_.empty());
}

TEST_F(ConnTest, FrameOverTheLimitClosesWithAReason) {
  conn_->set_max_payload(16);
  write_peer(admin_frame(1, std::string(100, 'x')));
  ASSERT_TRUE(run_until([&] { return !closed_.empty(); }));
  EXPECT_NE(closed_.find("too long"), std::string::npos) << closed_;
  EXPECT_TRUE(ids_.empty());
}

TEST_F(ConnTest, GarbageClosesWithAReason) {
  write_peer(std::vector<uint8_t>(proto::kHeaderSize, 0xEE));
  ASSERT_TRUE(run_until([&] { return !closed_.empty(); }));
  EXPECT_NE(closed_.find("magic"), std::string::npos) << closed_;
}

TEST_F(ConnTest, APeerThatDoesNotReadStopsBeingReadThenIsServedAgain) {
  // The peer reads nothing; we queue answers past the high-water mark.
  int small = 4096;
  setsockopt(sv_[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::string chunk(60000, 'q');
  for (int i = 0; i < 1000 && conn_->queued_bytes() <= Conn::kHighWater; ++i)
    conn_->send(admin_frame(99, chunk));
  ASSERT_GT(conn_->queued_bytes(), Conn::kHighWater);
  write_peer(admin_frame(7, "are you there"));
  io_.run_for(std::chrono::milliseconds(100));
  io_.restart();
  EXPECT_TRUE(ids_.empty()) << "a connection over the high-water mark was still read";
  // The peer drains everything: the request is then delivered.
  fcntl(sv_[1], F_SETFL, O_NONBLOCK);
  std::vector<uint8_t> sink(1 << 16);
  ASSERT_TRUE(run_until([&] {
    while (::read(sv_[1], sink.data(), sink.size()) > 0) {
    }
    return ids_.size() == 1;
  }));
  EXPECT_EQ(ids_[0], 7u);
  EXPECT_TRUE(closed_.empty());
}

TEST_F(ConnTest, OutputPastTheCapClosesTheConnection) {
  std::string chunk(1 << 20, 'c');
  for (size_t i = 0; i <= Conn::kOutputCap / chunk.size() + 1 && conn_->is_open(); ++i)
    conn_->send(admin_frame(1, chunk));
  EXPECT_FALSE(conn_->is_open());
  ASSERT_TRUE(run_until([&] { return !closed_.empty(); }));
  EXPECT_NE(closed_.find("not read"), std::string::npos) << closed_;
}

TEST_F(ConnTest, DescriptorsTravelWithTheirFrame) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  OutFrame f{admin_frame(5, "with a pipe"), {}, {p[0]}};
  // Sent from a second Conn on the other end, so both directions use the same code.
  auto other = std::make_shared<Conn>(io_, sv_[1]);
  sv_[1] = ::dup(sv_[1]);  // TearDown closes its own copy
  other->start([](Frame&) {}, [](const std::string&, CloseKind) {});
  other->send(std::move(f));
  ASSERT_TRUE(run_until([&] { return ids_.size() == 1; }));
  EXPECT_EQ(fds_, 1);
  other->close("done");
  ::close(p[0]);
  ::close(p[1]);
}

TEST_F(ConnTest, SealedFramesOpenOnlyInOrderAndUnaltered) {
  std::array<uint8_t, 32> k1{}, k2{};
  k1.fill(1);
  k2.fill(2);
  conn_->seal(/*tx=*/k2, /*rx=*/k1);
  // The peer: a Conn sealing with the matching keys; what it sends is captured raw too.
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  auto peer = std::make_shared<Conn>(io_, sp[0]);
  peer->start([](Frame&) {}, [](const std::string&, CloseKind) {});
  peer->seal(k1, k2);
  for (uint64_t i = 1; i <= 3; ++i) peer->send(admin_frame(i, "secret text " + std::to_string(i)));
  io_.run_for(std::chrono::milliseconds(50));
  io_.restart();
  std::vector<uint8_t> raw(4096);
  ssize_t n = ::read(sp[1], raw.data(), raw.size());
  ASSERT_GT(n, 0);
  raw.resize(size_t(n));
  EXPECT_EQ(std::search(raw.begin(), raw.end(), std::begin("secret"), std::end("secret") - 1),
            raw.end()) << "plain text on a sealed link";
  // Replayed in order: all three open.
  write_peer(raw);
  ASSERT_TRUE(run_until([&] { return ids_.size() == 3; }));
  EXPECT_EQ(ids_, (std::vector<uint64_t>{1, 2, 3}));
  // The same bytes again (a replay): the counters have moved on, so the link closes.
  write_peer(std::vector<uint8_t>(raw.begin(), raw.begin() + long(raw.size() / 3)));
  ASSERT_TRUE(run_until([&] { return !closed_.empty(); }));
  EXPECT_NE(closed_.find("does not open"), std::string::npos) << closed_;
  EXPECT_EQ(ids_.size(), 3u);
  peer->close("done");
  io_.poll();
  ::close(sp[1]);
}

TEST_F(ConnTest, AnUnsealedFrameOnASealedLinkCloses) {
  std::array<uint8_t, 32> k{};
  conn_->seal(k, k);
  write_peer(admin_frame(1, "in clear"));
  ASSERT_TRUE(run_until([&] { return !closed_.empty(); }));
  EXPECT_NE(closed_.find("not sealed"), std::string::npos) << closed_;
  EXPECT_TRUE(ids_.empty());
}

class ClosingConnTest : public ConnTest {
 protected:
  void on_frame(Frame& f) override {
    ConnTest::on_frame(f);
    conn_->close("closed from the handler");
    close_seen_inside_ = !closed_.empty();
  }
  bool close_seen_inside_ = true;
};

TEST_F(ClosingConnTest, CloseFromAHandlerRunsTheCloseCallbackLaterNotInside) {
  auto a = admin_frame(1, "one"), b = admin_frame(2, "two");
  a.insert(a.end(), b.begin(), b.end());
  write_peer(a);
  ASSERT_TRUE(run_until([&] { return !closed_.empty(); }));
  EXPECT_FALSE(close_seen_inside_);
  EXPECT_EQ(ids_, (std::vector<uint64_t>{1}));  // nothing delivered after the close
  EXPECT_EQ(closed_, "closed from the handler");
}

}  // namespace
}  // namespace dipc::daemon
