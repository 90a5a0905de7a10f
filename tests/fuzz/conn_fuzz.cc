// libFuzzer target for the connection and frame-handling code: Conn (src/dipcd/conn.h) over
// a real socket pair, with a Handshake and the referee's frame handlers behind it, wired the
// way PeerLinks and LocalServer wire them. Run by tests/fuzz/run_fuzz.sh conn.
//
// The input's first byte picks the role of the Conn and how the test's end of the socket
// behaves; the second picks how the rest is cut into writes:
//   role 0  a local client: every frame is answered with a reply frame (an echo of its
//           payload, several times over), admin frames with a burst of answers, and a frame
//           type the local socket does not take closes the connection — while answers are
//           still queued when the peer does not read (the double free once lived there).
//   role 1  the accepting side of a peer link without a secret: Handshake (acceptor) until
//           ready, then referee frames to a Referee (lookup, commit, abort, remove, hold,
//           list), operations answered with an echo, heartbeats, anything else closes.
//   role 2  the same with a cluster secret (the handshake's challenge, proofs, sealing).
//   role 3  the connecting side of a peer link: Handshake (connector) fed the acceptor's part.
//   bit 2   the test's end reads what dipcd writes (else it never reads: output backs up to
//           the high-water mark and the read pause).
// After the input the referee's leases are expired with a moved clock, its peer declared
// dead, and its per-node quota counters must match its tables (else abort()). The sanitizers
// catch the rest (use after free, leaks, overflows).
//
// Built with -DDIPC_FUZZ_SEED_WRITER instead of -fsanitize=fuzzer, this file is a small
// program that writes the seed corpus (one file per scenario) into the directory argv[1];
// tests/fuzz/corpus/conn/ holds its output.
// Thread safety: single-threaded (one io_context polled by the fuzzer's thread).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/ipc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dipcd/conn.h"
#include "dipcd/handshake.h"
#include "dipcd/referee.h"
#include "proto/wire.h"

namespace {

using namespace dipc;
using namespace dipc::daemon;
using proto::FrameType;
using proto::RegRecord;

constexpr const char* kSecret = "fuzz-secret-0123456789abcdef";

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "conn_fuzz: invariant broken: %s\n", what);
    std::abort();
  }
}

// Sends what the referee says to the one peer this harness has.
class ConnOutbox : public Referee::Outbox {
 public:
  std::shared_ptr<Conn> conn;
  std::string peer;
  void reg_reply(const std::string& node, uint64_t reqid, const RegRecord& r) override {
    if (node == peer && conn) conn->send(make_frame(FrameType::kRegReply, reqid, r, 4096));
  }
  void reg_removed(const std::string& holder, const RegRecord& r) override {
    if (holder == peer && conn) conn->send(make_frame(FrameType::kRegRemoved, 0, r, 4096));
  }
};

struct Harness {
  asio::io_context io;
  int sv[2] = {-1, -1};
  std::shared_ptr<Conn> conn;
  std::unique_ptr<Handshake> hs;
  bool ready = false;
  bool closed = false;
  std::string why;  // the close reason
  size_t frames = 0;
  int role = 0;
  Referee::Clock::time_point now{};
  ConnOutbox out;
  Referee referee{out, Referee::Limits{64, 4, 8, 16, std::chrono::milliseconds(10000),
                                       std::chrono::milliseconds(30000)},
                  [this] { return now; }};

  // Answers f with an OpReply echoing its payload, times times, each sent as a head and a
  // body from its own buffer, as OwnerSide relays message text.
  void echo(const Frame& f, int times) {
    for (int i = 0; i < times && conn->is_open(); ++i) {
      OutFrame o;
      o.body = daemon::Bytes::tail_of(std::vector<uint8_t>(f.payload), 0);
      proto::OpReply rep;
      rep.ret = int64_t(f.payload.size());
      rep.data = o.body;
      o.head = make_frame(FrameType::kOpReply, f.header.request_id, rep, o.body.size() + 64);
      if (o.head.empty()) return;
      o.head.resize(o.head.size() - o.body.size());  // the data is the record's last field
      conn->send(std::move(o));
    }
  }

  void local_frame(Frame& f) {
    switch (f.header.type) {
      case FrameType::kOp: return echo(f, 4);
      case FrameType::kCancel: return;
      case FrameType::kAdmin: {
        proto::Admin a;
        auto r = f.reader();
        int n = a.decode(r) ? 16 : 1;
        std::string text(2048, 'x');
        for (int i = 0; i < n && conn->is_open(); ++i) {
          proto::AdminReply part{0, text};
          conn->send(make_frame(FrameType::kAdminMore, f.header.request_id, part, 4096));
        }
        return;
      }
      default: conn->close("frame type not taken on the local socket");
    }
  }

  void peer_frame(Frame& f) {
    if (!ready) {
      auto r = f.reader();
      Handshake::Step step = hs->on_frame(f.header.type, r);
      for (auto& o : step.send) conn->send(std::move(o));
      switch (step.state) {
        case Handshake::State::kWaiting: return;
        case Handshake::State::kReady:
          if (step.keys) conn->seal(step.keys->tx, step.keys->rx);
          ready = true;
          out.peer = hs->peer_name();
          Check(proto::is_valid_node_name(out.peer), "a ready link has a valid name");
          referee.node_joined(out.peer, "127.0.0.1", hs->peer_port());
          conn->set_max_payload(proto::kMaxPayload);
          return;
        case Handshake::State::kRefuse:
        case Handshake::State::kFail: conn->close(step.reason); return;
      }
      return;
    }
    switch (f.header.type) {
      case FrameType::kHeartbeat: return;
      case FrameType::kOp: return echo(f, 1);
      case FrameType::kRegLookup:
      case FrameType::kRegCommit:
      case FrameType::kRegAbort:
      case FrameType::kRegRemove:
      case FrameType::kRegHold: {
        RegRecord rec;
        auto r = f.reader();
        if (!rec.decode(r) || !r.at_end()) return conn->close("malformed referee request");
        const std::string& from = out.peer;
        if (f.header.type == FrameType::kRegLookup)
          referee.lookup(from, f.header.request_id, rec.kind, rec.key, rec.flags);
        else if (f.header.type == FrameType::kRegCommit)
          referee.commit(from, rec);
        else if (f.header.type == FrameType::kRegAbort)
          referee.abort(from, rec.kind, rec.key);
        else if (f.header.type == FrameType::kRegRemove)
          referee.remove(from, rec.kind, rec.key);
        else
          referee.hold(from, rec);
        now += std::chrono::milliseconds(f.header.request_id & 0xfff);
        referee.expire();
        return;
      }
      case FrameType::kRegList: {
        std::vector<std::string> storage;
        std::vector<uint8_t> page(proto::kHeaderSize + proto::kMaxPayload);
        proto::Writer w(page.data() + proto::kHeaderSize, proto::kMaxPayload);
        auto recs = referee.records(storage);
        w.u32(uint32_t(recs.size()));
        for (auto& x : recs) x.encode(w);
        if (!w.ok()) return;
        proto::Header h;
        h.type = FrameType::kRegListReply;
        h.request_id = f.header.request_id;
        h.length = uint32_t(w.size());
        proto::encode_header(h, page.data());
        page.resize(proto::kHeaderSize + w.size());
        conn->send(std::move(page));
        return;
      }
      default: conn->close("frame type not used on links");
    }
  }

  void check_referee() {
    for (const std::string& n : {std::string("a"), out.peer}) {
      Referee::Usage want;
      for (auto& [k, e] : referee.entries()) {
        if (e.owner == n) {
          ++want.entries;
          if (e.locked) ++want.locks;
        }
        for (auto& w : e.waiting)
          if (w.node == n) ++want.waiting;
        Check(e.owner.empty() || proto::is_valid_node_name(e.owner), "entry owner is valid");
      }
      for (auto& [k, held] : referee.holdings()) want.holds += held.count(n);
      Check(referee.usage(n) == want, "referee quota counters match its tables");
      Check(want.entries <= referee.limits().entries_per_node, "entries within the quota");
      Check(want.locks <= referee.limits().locks_per_node, "locks within the quota");
    }
  }

  void run(const uint8_t* data, size_t size) {
    if (size < 2) return;
    role = data[0] & 3;
    bool drain = data[0] & 4;
    size_t chunk = size_t(data[1]) * 16 + 1;
    data += 2;
    size -= 2;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    ::fcntl(sv[1], F_SETFL, O_NONBLOCK);
    int small = 64 * 1024;  // a small send buffer, so that output backs up quickly
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    conn = std::make_shared<Conn>(io, sv[0]);
    out.conn = conn;
    // Another node owning a few keys, so that lookups find entries, holdings match some.
    referee.node_joined("a", "10.0.0.1", 7000);
    for (int32_t k = 1; k <= 4; ++k) {
      RegRecord r;
      r.kind = proto::Kind::kMsg;
      r.key = k;
      r.id = k;
      referee.commit("a", r);
    }
    if (role != 0) {
      Handshake::Settings s;
      s.my_name = "node1";
      s.my_port = 7001;
      if (role == 2) s.secret = kSecret;
      auto vet = [](const std::string& peer) -> std::string {
        return peer == "node1" ? "name in use" : "";
      };
      hs = std::make_unique<Handshake>(
          role == 3 ? Handshake::Role::kConnector : Handshake::Role::kAcceptor, s,
          role == 3 ? Handshake::Vet(nullptr) : Handshake::Vet(vet));
      conn->set_max_payload(1024);
    }
    conn->start(
        [this](Frame& f) {
          ++frames;
          if (role == 0)
            local_frame(f);
          else
            peer_frame(f);
        },
        [this](const std::string& w, CloseKind) {
          closed = true;
          why = w;
        });
    if (hs)
      for (auto& o : hs->start()) conn->send(std::move(o));
    size_t at = 0;
    std::vector<uint8_t> sink(256 * 1024);
    for (int round = 0; round < 4000 && !closed; ++round) {
      if (at < size) {
        size_t n = std::min(chunk, size - at);
        ssize_t w = ::send(sv[1], data + at, n, MSG_NOSIGNAL);
        if (w > 0) at += size_t(w);
      }
      if (drain) while (::recv(sv[1], sink.data(), sink.size(), 0) > 0) {}
      io.poll();
      io.restart();
      Check(conn->queued_bytes() <= Conn::kOutputCap, "output within its cap");
      if (at >= size && round > 8 && io.poll() == 0) break;
      io.restart();
    }
    if (ready) {
      now += std::chrono::seconds(60);
      referee.expire();
      check_referee();
      referee.node_dead(out.peer);
      check_referee();
    }
    // CONN_FUZZ_TRACE=1: one line per input (to see what a seed reaches).
    if (std::getenv("CONN_FUZZ_TRACE"))
      std::fprintf(stderr, "conn_fuzz: role %d, %zu frames, ready %d, %zu entries, out %llu, %s\n",
                   role, frames, int(ready), referee.entries().size(),
                   (unsigned long long)conn->bytes_out(), closed ? why.c_str() : "open");
    conn->close("input over");
    io.poll();
    io.restart();
    ::close(sv[1]);
    out.conn.reset();
    conn.reset();
    io.poll();
  }
};

}  // namespace

#ifndef DIPC_FUZZ_SEED_WRITER

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness h;
  h.run(data, size);
  return 0;
}

#else

namespace {

using Buf = std::vector<uint8_t>;

void Append(Buf& b, const std::vector<uint8_t>& f) { b.insert(b.end(), f.begin(), f.end()); }

Buf Hello(const char* name) {
  proto::Hello h;
  h.node = name;
  h.listen_port = 7002;
  return make_frame(FrameType::kHello, 0, h, 256);
}

Buf Reg(FrameType t, uint64_t id, int32_t key, int32_t flags, const char* owner = "",
          int32_t obj = 0) {
  RegRecord r;
  r.kind = proto::Kind::kMsg;
  r.key = key;
  r.flags = flags;
  r.owner = owner;
  r.id = obj;
  r.mode = 0666;
  return make_frame(t, id, r, 4096);
}

Buf Op(uint64_t id, const std::string& text) {
  proto::OpRequest q;
  q.kind = proto::Kind::kMsg;
  q.op = proto::Op::kMsgSnd;
  q.id = 1;
  q.user = "root";
  q.pid = 42;
  q.data = text;
  return make_frame(FrameType::kOp, id, q, text.size() + 256);
}

Buf AdminFrame(uint64_t id, const char* cmd) {
  proto::Admin a;
  a.command = cmd;
  return make_frame(FrameType::kAdmin, id, a, 256);
}

void Write(const std::string& dir, const char* name, uint8_t mode, uint8_t chunk,
           const Buf& body) {
  std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::fputc(mode, f);
  std::fputc(chunk, f);
  std::fwrite(body.data(), 1, body.size(), f);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: conn_fuzz_seeds DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  // The local crash: a burst of requests never read, then a frame the socket does not take.
  Buf burst;
  for (int i = 1; i <= 40; ++i) Append(burst, AdminFrame(uint64_t(i), "status"));
  Append(burst, Hello("node2"));
  Write(dir, "local_burst_then_hello", 0, 255, burst);
  Buf ops;
  for (int i = 1; i <= 8; ++i) Append(ops, Op(uint64_t(i), std::string(size_t(i) * 300, 'm')));
  Append(ops, make_empty_frame(FrameType::kCancel, 3));
  Write(dir, "local_ops_read", 4, 7, ops);
  // A peer link: hello, then every referee request.
  Buf peer = Hello("node2");
  Append(peer, Reg(FrameType::kRegLookup, 1, 100, IPC_CREAT | 0666));
  Append(peer, Reg(FrameType::kRegCommit, 0, 100, 0, "", 5));
  Append(peer, Reg(FrameType::kRegLookup, 2, 1, 0));
  Append(peer, Reg(FrameType::kRegLookup, 3, 200, IPC_CREAT | IPC_EXCL | 0600));
  Append(peer, Reg(FrameType::kRegAbort, 0, 200, 0));
  Append(peer, Reg(FrameType::kRegHold, 0, 2, 0, "a", 2));
  Append(peer, Reg(FrameType::kRegHold, 0, 300, 0, "a", 9));
  Append(peer, Reg(FrameType::kRegCommit, 0, 1, 0, "", 66));  // another node's key
  Append(peer, make_empty_frame(FrameType::kRegList, 4));
  Append(peer, make_empty_frame(FrameType::kHeartbeat, 0));
  Append(peer, Op(5, "hello over the link"));
  Append(peer, Reg(FrameType::kRegRemove, 0, 100, 0));
  Write(dir, "peer_referee", 1 | 4, 3, peer);
  Buf locks = Hello("node3");
  for (int k = 0; k < 12; ++k)
    Append(locks, Reg(FrameType::kRegLookup, uint64_t(100 + k), 500 + k, IPC_CREAT | 0600));
  for (int k = 0; k < 12; ++k)
    Append(locks, Reg(FrameType::kRegLookup, uint64_t(200 + k), 500, 0));
  Write(dir, "peer_lock_quota", 1, 0, locks);
  Write(dir, "peer_name_in_use", 1 | 4, 1, Hello("node1"));
  // With a secret: the connector's hello (the acceptor answers with a challenge).
  Write(dir, "secret_hello", 2 | 4, 255, Hello("node2"));
  // The connecting side, answered by an acceptor that accepts or refuses.
  proto::HelloAck ack;
  ack.accepted = 1;
  ack.node = "node9";
  Buf acc = make_frame(FrameType::kHelloAck, 0, ack, 256);
  Append(acc, Reg(FrameType::kRegLookup, 1, 7, IPC_CREAT));
  Write(dir, "connector_accepted", 3 | 4, 255, acc);
  ack.accepted = 0;
  ack.reason = "address not allowed";
  Write(dir, "connector_refused", 3, 255, make_frame(FrameType::kHelloAck, 0, ack, 256));
  return 0;
}

#endif
