// referee_load: how many look-ups per second a running referee answers over the network.
//
// It joins the cluster as one more node (its own name, the cluster secret and referee
// address of the node configuration it is given), through the same classes dipcd uses
// (PeerLinks: the link, its handshake and heartbeats; RemoteReferee: the look-ups), then
// keeps WINDOW look-ups in flight on its one link (as the io thread of a node with many
// callers does) of keys FIRST..FIRST+COUNT-1 of one kind, and counts the answers for MS
// milliseconds after a warm-up. The referee is the real dipcd of the cluster (bench/scale.sh
// runs this against node1); what this leaves out is the caller's side of a msgget (the shim,
// its dipcd, the check at the owner, the placeholder), which bench/scale.sh's end-to-end
// figure includes.
//
//   referee_load --config NODE_CONF --name NAME --first KEY --count N
//                [--kind msg|sem|shm] [--window W] [--ms MS]
// Prints "lookups_per_s X window W answered A found F ms MS". Exit status 0, 1 when the
// referee could not be joined in 10 s or answered nothing, 2 on bad usage.
#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/config.h"
#include "dipcd/peer_links.h"
#include "dipcd/referee_client.h"
#include "proto/wire.h"

namespace {

using dipc::daemon::PeerLinks;
using dipc::daemon::RemoteReferee;
using dipc::proto::Kind;
using dipc::proto::RegRecord;
using dipc::proto::RegStatus;
using Clock = std::chrono::steady_clock;

int usage() {
  std::fprintf(stderr,
               "usage: referee_load --config NODE_CONF --name NAME --first KEY --count N "
               "[--kind msg|sem|shm] [--window W] [--ms MS]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string conf, name, kind_s = "msg";
  long first = -1, count = 0, window = 256, ms = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--config") conf = v;
    else if (a == "--name") name = v;
    else if (a == "--kind") kind_s = v;
    else if (a == "--first") first = std::strtol(v.c_str(), nullptr, 0);
    else if (a == "--count") count = std::atol(v.c_str());
    else if (a == "--window") window = std::atol(v.c_str());
    else if (a == "--ms") ms = std::atol(v.c_str());
    else return usage();
  }
  Kind kind = kind_s == "msg" ? Kind::kMsg : kind_s == "sem" ? Kind::kSem : Kind::kShm;
  if (conf.empty() || name.empty() || first < 0 || count < 1 || count > 10000000 ||
      window < 1 || window > 65536 || ms < 1 || ms > 600000 ||
      (kind_s != "msg" && kind_s != "sem" && kind_s != "shm"))
    return usage();
  spdlog::set_level(spdlog::level::warn);

  dipc::ConfigError err;
  auto cfg = dipc::load_config(conf, err);
  if (!cfg) {
    std::fprintf(stderr, "referee_load: %s\n", err.to_string().c_str());
    return 2;
  }
  auto allow = dipc::load_allow(cfg->allow_file, err);
  if (!allow) {
    std::fprintf(stderr, "referee_load: %s\n", err.to_string().c_str());
    return 2;
  }
  std::string secret;
  if (!cfg->secret_file.empty()) {
    auto s = dipc::load_secret(cfg->secret_file, err);
    if (!s) {
      std::fprintf(stderr, "referee_load: %s\n", err.to_string().c_str());
      return 2;
    }
    secret = *s;
  }
  if (cfg->referee || cfg->referee_host.empty()) {
    std::fprintf(stderr, "referee_load: %s runs the referee itself: give another node's\n",
                 conf.c_str());
    return 2;
  }

  asio::io_context io;
  PeerLinks::Settings st;
  st.my_name = name;
  st.listen_address = "127.0.0.1";
  st.listen_port = 0;  // any free port
  st.secret = secret;
  st.secret_file = cfg->secret_file;
  st.allow_file = cfg->allow_file;
  st.heartbeat = cfg->heartbeat_interval;
  st.peer_timeout = cfg->peer_timeout;
  st.connect_timeout = cfg->connect_timeout;
  PeerLinks links(io, st, std::move(*allow));
  std::string why;
  if (!links.listen(why)) {
    std::fprintf(stderr, "referee_load: cannot listen: %s\n", why.c_str());
    return 1;
  }
  RemoteReferee referee(io, links, cfg->referee_host, cfg->referee_port);

  long next = 0, in_flight = 0, answered = 0, found = 0;
  bool counting = false, stopping = false;
  Clock::time_point t0{}, t1{};
  std::function<void()> ask = [&] {
    ++in_flight;
    int32_t key = int32_t(first + next);
    next = (next + 1) % count;
    referee.lookup(kind, key, 0, [&](const RegRecord& r) {
      --in_flight;
      if (counting) {
        ++answered;
        if (r.status == RegStatus::kExists) ++found;
      }
      if (!stopping) ask();
    });
  };
  asio::steady_timer timer(io);
  referee.on_joined = [&] {
    for (long i = 0; i < window; ++i) ask();
    // Warm-up: a tenth of the time, at most 200 ms; then count for ms.
    timer.expires_after(std::chrono::milliseconds(std::min<long>(200, ms / 10 + 1)));
    timer.async_wait([&](std::error_code) {
      counting = true;
      t0 = Clock::now();
      timer.expires_after(std::chrono::milliseconds(ms));
      timer.async_wait([&](std::error_code) {
        t1 = Clock::now();
        counting = false;
        stopping = true;
        links.shutdown();
        io.stop();
      });
    });
  };
  asio::steady_timer give_up(io);
  give_up.expires_after(std::chrono::seconds(10) + std::chrono::milliseconds(ms));
  give_up.async_wait([&](std::error_code ec) {
    if (ec || stopping) return;
    std::fprintf(stderr, "referee_load: %s\n",
                 referee.joined() ? "the referee stopped answering"
                                  : ("could not join the referee: " + referee.last_error()).c_str());
    stopping = true;
    links.shutdown();
    io.stop();
  });
  referee.start();
  io.run();
  if (answered == 0 || t1 <= t0) {
    std::fprintf(stderr, "referee_load: no answer counted\n");
    return 1;
  }
  double secs = std::chrono::duration<double>(t1 - t0).count();
  std::printf("lookups_per_s %.0f window %ld answered %ld found %ld ms %ld\n", answered / secs,
              window, answered, found, ms);
  return 0;
}
