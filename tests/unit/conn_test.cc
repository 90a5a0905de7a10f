// Conn: framing over a real socket pair, bounds, descriptor passing, posted closes.
#include "dipcd/conn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
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
 public:  // for the helpers below the fixture
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
  // A Conn on the other end of the pair, to send from; with a small send buffer when asked,
  // so that frames wait in its queue.
  std::shared_ptr<Conn> sender(bool small_sndbuf) {
    int small = 4096;
    if (small_sndbuf) setsockopt(sv_[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    auto c = std::make_shared<Conn>(io_, sv_[1]);
    sv_[1] = ::dup(sv_[1]);  // TearDown closes its own copy
    c->start([](Frame&) {}, [](const std::string&, CloseKind) {});
    return c;
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
  ASSERT_TRUE(run_until([&] { return ids_.size() == 4; })) << ids_.size() << " frames came; " << closed_;
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

TEST_F(ConnTest, AFrameLeftUnfinishedClosesAfterThePartialTimeout) {
  conn_->set_partial_timeout(std::chrono::milliseconds(100));
  auto f = admin_frame(1, "complete");
  write_peer(f);  // a whole frame first: no timer is left armed by it
  ASSERT_TRUE(run_until([&] { return ids_.size() == 1; }));
  write_peer(std::vector<uint8_t>(f.begin(), f.begin() + 7));  // then seven bytes of one
  ASSERT_TRUE(run_until([&] { return !closed_.empty(); }));
  EXPECT_NE(closed_.find("unfinished"), std::string::npos) << closed_;
}

TEST_F(ConnTest, ASlowButMovingFrameIsNotCut) {
  conn_->set_partial_timeout(std::chrono::milliseconds(150));
  auto f = admin_frame(1, std::string(40, 's'));
  for (size_t i = 0; i < f.size(); i += 10) {  // ten bytes every 60 ms
    write_peer(std::vector<uint8_t>(f.begin() + long(i), f.begin() + long(std::min(f.size(), i + 10))));
    io_.run_for(std::chrono::milliseconds(60));
    io_.restart();
  }
  ASSERT_TRUE(run_until([&] { return ids_.size() == 1; }));
  EXPECT_TRUE(closed_.empty()) << closed_;
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

// send_now() (DSM answers from another thread) does not stop reading, but a peer that
// lets its answers pile up is closed all the same, by their count.
TEST_F(ConnTest, FramesPilingUpFromSendNowCloseTheConnection) {
  auto f = admin_frame(1, "x");
  size_t i = 0;  // the first ones fill the socket's buffer, the rest wait
  for (; i < 2 * Conn::kMaxQueuedFrames && conn_->send_now(f); ++i) {
  }
  EXPECT_LT(i, 2 * Conn::kMaxQueuedFrames) << "never refused";
  EXPECT_GE(i, Conn::kMaxQueuedFrames) << "refused before the bound";
  ASSERT_TRUE(run_until([&] { return !closed_.empty(); }));
  EXPECT_NE(closed_.find("frames or"), std::string::npos) << closed_;
  EXPECT_FALSE(conn_->is_open());
}

// ... and by the bytes they hold in memory (pages copied: data given back, a sealed link).
TEST_F(ConnTest, BytesPilingUpFromSendNowCloseTheConnection) {
  conn_->set_max_queued_bytes(8u << 20);
  std::string chunk(1 << 20, 'p');
  size_t i = 0;  // the socket's buffer takes a few, then 8 MiB wait at most
  for (; i < 64 && conn_->send_now(admin_frame(1, chunk)); ++i) {
  }
  EXPECT_LT(i, 64u) << "never refused";
  EXPECT_GE(i, 8u) << "refused before the bound";
  ASSERT_TRUE(run_until([&] { return !closed_.empty(); }));
  EXPECT_NE(closed_.find("MiB of answers not read"), std::string::npos) << closed_;
  EXPECT_FALSE(conn_->is_open());
}

// What send_now() holds does not count against send()'s cap: a heartbeat sent behind a
// large grant on a sealed link must not close the link as "answers not read".
TEST_F(ConnTest, SendNowBytesDoNotCountAgainstSendsCap) {
  std::string chunk(1 << 20, 'g');
  size_t n = Conn::kOutputCap / chunk.size() + 8;  // more than the cap, nobody reading
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(conn_->send_now(admin_frame(1, chunk))) << i;
  conn_->send(admin_frame(2, "heartbeat"));
  EXPECT_TRUE(conn_->is_open()) << closed_;
  EXPECT_GT(conn_->queued_bytes(), Conn::kOutputCap);
}

TEST_F(ConnTest, DescriptorsTravelWithTheirFrame) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  OutFrame f(admin_frame(5, "with a pipe"));
  f.fds = {p[0]};
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

// A frame whose last bytes are a file's (OutFrame::file), header and fixed part in head:
// what the DSM owner sends a segment's pages with.
OutFrame file_frame(uint64_t id, const std::shared_ptr<FileSource>& file, uint64_t off,
                    uint64_t len) {
  OutFrame f(std::vector<uint8_t>(proto::kHeaderSize + 8));
  proto::Header h;
  h.type = FrameType::kDsmData;
  h.request_id = id;
  h.length = uint32_t(8 + len);
  proto::encode_header(h, f.head.data());
  std::memcpy(f.head.data() + proto::kHeaderSize, "fixed:8b", 8);
  f.file = file;
  f.file_offset = off;
  f.file_length = len;
  return f;
}

// A memfd of n bytes, each byte its offset's value mod 251 (no period of a page), as the
// source of all of it.
std::shared_ptr<FileSource> pattern_file(size_t n, std::vector<uint8_t>& bytes, int* raw = nullptr) {
  int fd = memfd_create("conn-test", MFD_CLOEXEC);
  if (raw) *raw = fd;
  bytes.resize(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = uint8_t(i % 251);
  if (fd < 0 || ::write(fd, bytes.data(), n) != ssize_t(n)) return nullptr;
  return std::make_shared<FileSource>(std::make_shared<const SharedFd>(fd), 0, n);
}

// The file part of a frame goes out with sendfile, in pieces when the socket is full; the
// frames before and after it keep their place, and the file stays open as long as a frame
// still needs it. Sent with send() and with send_now().
TEST_F(ConnTest, AFilePartLeavesWholeAndInOrderEvenWhenTheSocketIsFull) {
  std::vector<uint8_t> bytes;
  auto file = pattern_file(3 << 20, bytes);
  ASSERT_TRUE(file);
  auto other = sender(true);
  other->send(admin_frame(1, "before"));
  other->send(file_frame(2, file, 4096, 1 << 20));
  EXPECT_TRUE(other->send_now(file_frame(3, file, 0, 12288)));
  other->send_now(admin_frame(4, "after"));
  EXPECT_LT(other->queued_bytes(), size_t(1) << 20) << "a file part was read into memory";
  file.reset();  // the frames keep it open
  ASSERT_TRUE(run_until([&] { return ids_.size() == 4; })) << ids_.size() << " frames came; " << closed_;
  EXPECT_EQ(ids_, (std::vector<uint64_t>{1, 2, 3, 4}));
  auto expect_file = [&](const std::vector<uint8_t>& payload, size_t off, size_t len) {
    ASSERT_EQ(payload.size(), 8 + len);
    EXPECT_EQ(std::string(payload.begin(), payload.begin() + 8), "fixed:8b");
    EXPECT_TRUE(std::equal(payload.begin() + 8, payload.end(), bytes.begin() + long(off)));
  };
  expect_file(payloads_[1], 4096, 1 << 20);
  expect_file(payloads_[2], 0, 12288);
  EXPECT_TRUE(closed_.empty()) << closed_;
  other->close("done");
}

// A frame of a 1 MiB file part, queued on a full socket: its source saves [lo, hi), the file
// is punched (a hole: zeros), and what arrives is returned (the 8-byte fixed part off).
// What a DSM node does before it punches pages that a queued grant still has to send.
std::vector<uint8_t> saved_then_punched(ConnTest& t, uint64_t lo, uint64_t hi,
                                        std::vector<uint8_t>& bytes) {
  int fd = -1;
  auto file = pattern_file(1 << 20, bytes, &fd);
  EXPECT_TRUE(file);
  if (!file) return {};
  auto other = t.sender(true);
  other->send(file_frame(1, file, 0, 1 << 20));  // the socket takes only the start of it
  EXPECT_GT(other->bytes_out(), 0u);
  EXPECT_LT(other->bytes_out(), uint64_t(256) << 10);
  file->save(lo, hi);
  EXPECT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1 << 20), 0) << strerror(errno);
  EXPECT_TRUE(t.run_until([&] { return t.ids_.size() == 1; })) << t.closed_;
  other->close("done");
  if (t.payloads_.size() != 1 || t.payloads_[0].size() != 8u + (1 << 20)) return {};
  return std::vector<uint8_t>(t.payloads_[0].begin() + 8, t.payloads_[0].end());
}

// Saved whole while its frame waits half sent, a source sends the bytes the file had then.
TEST_F(ConnTest, ASavedSourceSendsTheBytesOfWhenItWasSaved) {
  std::vector<uint8_t> bytes;
  auto got = saved_then_punched(*this, 0, 1 << 20, bytes);
  EXPECT_EQ(got, bytes) << "bytes of the file after the save were sent";
}

// save(lo, hi) keeps only what it is asked for: the rest is read from the file when it is
// sent (after the punch: zeros).
TEST_F(ConnTest, ASourceSavesOnlyTheRangeAskedFor) {
  std::vector<uint8_t> bytes;
  auto got = saved_then_punched(*this, 256 << 10, 512 << 10, bytes);
  ASSERT_EQ(got.size(), bytes.size());
  EXPECT_TRUE(std::equal(got.begin() + (256 << 10), got.begin() + (512 << 10), bytes.begin() + (256 << 10)));
  EXPECT_TRUE(std::all_of(got.begin() + (512 << 10), got.end(), [](uint8_t b) { return b == 0; }));
}

// Sealed, the file part is read when the frame is sealed and travels encrypted.
TEST_F(ConnTest, AFilePartOnASealedLinkIsSealedWithItsFrame) {
  std::vector<uint8_t> bytes;
  auto file = pattern_file(1 << 20, bytes);
  ASSERT_TRUE(file);
  std::array<uint8_t, 32> k1{}, k2{};
  k1.fill(3);
  k2.fill(4);
  conn_->seal(k2, k1);
  auto other = sender(false);
  other->seal(k1, k2);
  other->send(file_frame(7, file, 8192, 65536));
  other->send(admin_frame(8, "after"));
  ASSERT_TRUE(run_until([&] { return ids_.size() == 2; }));
  EXPECT_EQ(ids_, (std::vector<uint64_t>{7, 8}));
  ASSERT_EQ(payloads_[0].size(), 8u + 65536);
  EXPECT_TRUE(std::equal(payloads_[0].begin() + 8, payloads_[0].end(), bytes.begin() + 8192));
  EXPECT_TRUE(closed_.empty()) << closed_;
  other->close("done");
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
