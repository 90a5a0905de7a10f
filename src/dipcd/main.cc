// dipcd: the DIPC daemon, one per node, run as root in the foreground.
//
// Reads /etc/dipc.conf (or --config FILE) and the allow file it names, then serves the
// node's processes on a Unix socket and other nodes over TCP until SIGTERM or SIGINT.
// SIGHUP re-reads both files: the allow list and the log level take effect at once, other
// changes need a restart (each changed key is logged as such). Logs go to [log] target.
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <iostream>

#include "common/config.h"
#include "common/key_rules.h"
#include "dipcd/config_checks.h"
#include "dipcd/daemon.h"

namespace {

bool set_level(const std::string& level) {
  auto l = spdlog::level::from_str(level);
  if (l == spdlog::level::off && level != "off") return false;
  spdlog::set_level(l);
  return true;
}

// Descriptors dipcd may hold by its documented bounds: per local client its connection and
// two pidfds (4096 clients), one per shared-memory attachment (65536), a memfd per
// distributed segment, links, listeners. The usual soft limit of 1024 is far below; the
// soft limit is raised to the hard one, and, as root, both to kWant when lower.
void raise_file_limit() {
  constexpr rlim_t kWant = 131072;
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  if (r.rlim_max != RLIM_INFINITY && r.rlim_max < kWant) {
    rlimit up{kWant, kWant};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) return;
  }
  rlim_t before = r.rlim_cur;
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < kWant)
    spdlog::warn("open files limited to {} (was {}): with many clients and attachments dipcd "
                 "may run out of descriptors; raise RLIMIT_NOFILE (LimitNOFILE= for systemd) "
                 "to {}", r.rlim_cur, before, kWant);
}

// Runs the io thread's handlers until the daemon stops. [node] spin_us: after work, the
// thread keeps polling (yielding the CPU to any thread that wants it) for spin before it
// sleeps in epoll_wait, so that an answer that comes soon is taken without a wake-up (tens
// of microseconds on a VM). Never on a machine with one CPU online.
void run_io(asio::io_context& io, std::chrono::microseconds spin) {
  if (spin.count() <= 0 || sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    io.run();
    return;
  }
  auto last = std::chrono::steady_clock::now();
  for (;;) {
    if (io.poll() > 0) {
      last = std::chrono::steady_clock::now();
      continue;
    }
    if (io.stopped()) return;
    if (std::chrono::steady_clock::now() - last < spin) {
      // Any other thread that wants this CPU gets it. (Stopping at the first yield that gave
      // the CPU away was tried: it spared a node whose daemons and processes all share one
      // CPU, but lost most of the gain between nodes, docs/benchmarks.md.)
      sched_yield();
      continue;
    }
    if (io.run_one() == 0) return;
    last = std::chrono::steady_clock::now();
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Frames of up to a few MiB (pages of shared memory, long messages) come and go all the
  // time: taken from the heap and kept there for reuse, not mapped and unmapped each time
  // (a fresh mapping costs a page fault and a zeroed page per 4 KiB). The memory is still
  // given back after a burst (memory_trim.h).
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  CLI::App app{
      "dipcd: the DIPC daemon. Serves this node's processes and links it to the "
      "other nodes of its cluster; runs in the foreground as root and logs to stderr."};
  std::string config_path = "/etc/dipc.conf";
  std::string log_level;
  bool check = false;
  app.add_option("-c,--config", config_path, "configuration file (TOML), see dipc.conf(5)")
      ->capture_default_str();
  app.add_option("-l,--log-level", log_level,
                 "trace, debug, info, warn or error (overrides [log] level)");
  app.add_flag("--check", check, "check the configuration and the allow file, then exit");
  app.set_version_flag("--version", "dipcd " DIPC_VERSION " (protocol " +
                                        std::to_string(dipc::proto::kProtocolVersion) + ")");
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("dipcd");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");

  dipc::ConfigError err;
  auto cfg = dipc::load_config(config_path, err);
  if (!cfg) {
    std::cerr << "dipcd: " << err.to_string() << "\n";
    return 2;
  }
  auto allow = dipc::load_allow(cfg->allow_file, err);
  if (!allow) {
    std::cerr << "dipcd: " << dipc::daemon::allow_file_problem(*cfg, err) << "\n";
    return 2;
  }
  std::string secret;
  if (!cfg->secret_file.empty()) {
    auto sec = dipc::load_secret(cfg->secret_file, err);
    if (!sec) {
      std::cerr << "dipcd: " << err.to_string() << "\n";
      return 2;
    }
    secret = std::move(*sec);
  }
  if (sodium_init() < 0) {
    std::cerr << "dipcd: libsodium cannot initialise\n";
    return 1;
  }
  if (!set_level(log_level.empty() ? cfg->log_level : log_level)) {
    std::cerr << "dipcd: unknown log level '" << log_level << "'\n";
    return 2;
  }
  // The log target is chosen once the configuration is known (stderr until then).
  if (cfg->log_target != "stderr") {
    spdlog::sink_ptr sink;
    if (cfg->log_target == "syslog")
      sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("dipcd", LOG_PID, LOG_DAEMON, false);
    else
      sink = std::make_shared<spdlog::sinks::systemd_sink_mt>();
    auto l = std::make_shared<spdlog::logger>("dipcd", sink);
    l->set_level(spdlog::get_level());
    if (!check) {
      spdlog::drop("dipcd");
      spdlog::set_default_logger(l);
      spdlog::set_pattern("%v");  // syslog and the journal keep their own time and level
    }
  }
  // What start-up would fail on, and mistakes worth a warning: --check fails on the first,
  // a start stops on them; warnings go to stderr with --check, to the log otherwise.
  bool fatal = false;
  for (auto& f : dipc::daemon::preflight(*cfg, allow->size(), geteuid() == 0)) {
    fatal = fatal || f.fatal;
    if (check)
      std::cerr << "dipcd: " << (f.fatal ? "error: " : "warning: ") << f.message << "\n";
    else if (f.fatal)
      spdlog::error("{}", f.message);
    else
      spdlog::warn("{}", f.message);
  }
  if (fatal) return 2;
  if (check) {
    std::cout << config_path << ": ok (node " << cfg->node_name << ", " << allow->size()
              << " allow entries)\n";
    return 0;
  }
  if (geteuid() != 0)
    spdlog::warn("not running as root: calls from other users cannot run as them, and "
                 "dipcd may not create {} (run it as root)",
                 cfg->run_dir);
  signal(SIGPIPE, SIG_IGN);
  raise_file_limit();

  asio::io_context io;
  dipc::daemon::Daemon daemon(io, *cfg, std::move(*allow), std::move(secret));
  // Under systemd (Type=notify, $NOTIFY_SOCKET set) the service is ready once the node has
  // joined its cluster; the state is its status line. Without systemd these do nothing.
  daemon.on_state = [ready = false](const std::string& s) mutable {
    if (s == "joined" && !ready) {
      ready = true;
      sd_notify(0, "READY=1\nSTATUS=joined");
    } else if (s == "stopped") {
      sd_notify(0, "STOPPING=1\nSTATUS=stopped");
    } else {
      sd_notifyf(0, "STATUS=%s", s.c_str());
    }
  };
  std::string start_err;
  if (!daemon.start(start_err)) {
    spdlog::error("cannot start: {}", start_err);
    return 1;
  }
  if (cfg->distribute.all_keyed || !cfg->distribute.keys.empty())
    spdlog::info("keys distributed by configuration: {}", dipc::format_key_rules(cfg->distribute));
  asio::signal_set stop(io, SIGTERM, SIGINT);
  stop.async_wait([&](std::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    daemon.shutdown();
    io.stop();
  });
  asio::signal_set hup(io, SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](std::error_code ec, int) {
      if (ec) return;
      dipc::ConfigError e;
      auto nc = dipc::load_config(config_path, e);
      if (!nc) {
        spdlog::error("SIGHUP: {} (keeping the running configuration)", e.to_string());
      } else {
        auto na = dipc::load_allow(nc->allow_file, e);
        if (!na)
          spdlog::error("SIGHUP: {} (keeping the previous allow list)", e.to_string());
        else
          daemon.reload(std::move(*na));
        if (log_level.empty()) set_level(nc->log_level);
        for (auto& key : dipc::daemon::keys_needing_restart(*cfg, *nc))
          spdlog::warn("SIGHUP: {} changed: needs a restart of dipcd (the running value stays)",
                       key);
      }
      wait_hup();
    });
  };
  wait_hup();
  // A handler that throws is a bug the rooms did not catch: the tables may be half updated,
  // so say so and exit; the service manager restarts dipcd, and a restarted dipcd cleans up
  // what its predecessor left (placeholders) and rejoins.
  try {
    run_io(io, std::chrono::microseconds(cfg->spin_us));
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}: exiting", e.what());
    return 70;  // EX_SOFTWARE
  }
  spdlog::info("stopped");
  return 0;
}
