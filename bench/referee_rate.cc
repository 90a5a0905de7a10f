// referee_rate: how many look-ups per second the referee's table answers, in process, with
// M distributed objects registered by N nodes (bench/scale.sh; docs/benchmarks.md "Scale").
// It drives dipc::daemon::Referee directly (the class dipcd's referee room runs on its io
// thread) with an Outbox that encodes each answer as a RegRecord, as the room does before
// it writes the frame; what it leaves out is the link (reading the request frame, writing
// the answer), which the end-to-end figure of bench/scale.sh includes.
//
//   referee_rate [--objects M] [--nodes N] [--ms MS]
// Prints "lookups_per_s X objects M nodes N". Single-threaded, like the referee.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dipcd/referee.h"
#include "proto/wire.h"

namespace {

using dipc::daemon::Referee;
using dipc::proto::Kind;
using dipc::proto::RegRecord;
using dipc::proto::RegStatus;

class EncodingOutbox : public Referee::Outbox {
 public:
  void reg_reply(const std::string&, uint64_t, const RegRecord& r) override {
    dipc::proto::Writer w(buf_, sizeof buf_);
    r.encode(w);
    ++replies;
    if (r.status != RegStatus::kExists) ++misses;
  }
  void reg_removed(const std::string&, const RegRecord&) override {}
  uint64_t replies = 0, misses = 0;

 private:
  uint8_t buf_[4096];
};

}  // namespace

int main(int argc, char** argv) {
  int objects = 10000, nodes = 16, ms = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    int v = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--objects")) objects = v;
    else if (!std::strcmp(argv[i], "--nodes")) nodes = v;
    else if (!std::strcmp(argv[i], "--ms")) ms = v;
    else {
      std::fprintf(stderr, "usage: referee_rate [--objects M] [--nodes N] [--ms MS]\n");
      return 2;
    }
  }
  if (objects < 1 || objects > 1000000 || nodes < 2 || nodes > 1000 || ms < 1) {
    std::fprintf(stderr, "referee_rate: bad arguments\n");
    return 2;
  }
  EncodingOutbox out;
  Referee::Limits lim;
  lim.entries_per_node = size_t(objects);
  Referee ref(out, lim, [] { return Referee::Clock::now(); });
  std::vector<std::string> names;
  for (int k = 1; k <= nodes; ++k) {
    names.push_back("node" + std::to_string(k));
    ref.node_joined(names.back(), "127.0.0.1", uint16_t(40000 + k));
  }
  for (int i = 0; i < objects; ++i) {
    RegRecord r;
    r.kind = Kind::kMsg;
    r.key = 0x10000 + i;
    r.status = RegStatus::kExists;
    r.owner = names[size_t(i % nodes)];
    r.id = i;
    r.mode = 0666;
    if (!ref.commit(names[size_t(i % nodes)], r)) {
      std::fprintf(stderr, "referee_rate: commit %d refused\n", i);
      return 1;
    }
  }
  using clk = std::chrono::steady_clock;
  uint64_t n = 0, reqid = 0;
  uint32_t x = 12345;
  auto t0 = clk::now(), end = t0 + std::chrono::milliseconds(ms);
  clk::time_point t1;
  do {
    for (int k = 0; k < 256; ++k) {
      x = x * 1664525u + 1013904223u;  // a pseudo-random key of the table, from a node
      int i = int((x >> 8) % uint32_t(objects));
      ref.lookup(names[size_t((i + 1) % nodes)], ++reqid, Kind::kMsg, 0x10000 + i, 0);
    }
    n += 256;
    t1 = clk::now();
  } while (t1 < end);
  double s = std::chrono::duration<double>(t1 - t0).count();
  if (out.replies != n || out.misses != 0) {
    std::fprintf(stderr, "referee_rate: %llu answers (%llu not found) to %llu look-ups\n",
                 (unsigned long long)out.replies, (unsigned long long)out.misses,
                 (unsigned long long)n);
    return 1;
  }
  std::printf("lookups_per_s %.0f objects %d nodes %d\n", double(n) / s, objects, nodes);
  return 0;
}
