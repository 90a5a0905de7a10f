#include "dipcd/config_checks.h"

#include <fmt/format.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dipc::daemon {

namespace {

std::string parent_of(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

}  // namespace

std::vector<Finding> preflight(const Config& cfg, size_t allow_entries, bool as_root) {
  std::vector<Finding> out;
  const std::string& src = cfg.source;
  if (!cfg.referee && !cfg.referee_host.empty()) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(cfg.referee_host.c_str(), nullptr, &hints, &res);
    if (rc == 0) {
      freeaddrinfo(res);
    } else {
      out.push_back({true, fmt::format("{}: [referee] address: host '{}' does not resolve ({}): "
                                       "give an address or a name this node can resolve",
                                       src, cfg.referee_host, gai_strerror(rc))});
    }
  }
  struct stat st {};
  std::string parent = parent_of(cfg.run_dir);
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    out.push_back({true, fmt::format("{}: [node] run_dir = \"{}\": its parent directory {} does "
                                     "not exist: create it, or choose another run_dir",
                                     src, cfg.run_dir, parent)});
  } else if (::stat(cfg.run_dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    out.push_back({true, fmt::format("{}: [node] run_dir = \"{}\" is not a directory", src,
                                     cfg.run_dir)});
  } else if (!as_root && ::stat(cfg.run_dir.c_str(), &st) != 0 &&
             ::access(parent.c_str(), W_OK | X_OK) != 0) {
    out.push_back({false, fmt::format("{}: [node] run_dir = \"{}\" does not exist and this user "
                                      "may not create it in {}: run dipcd as root, or create "
                                      "it first",
                                      src, cfg.run_dir, parent)});
  }
  if (allow_entries == 0)
    out.push_back({false, fmt::format("{}: the allow file is empty: no other node may link to "
                                      "this one (list the nodes' addresses or networks, "
                                      "dipc.allow(5))",
                                      cfg.allow_file)});
  return out;
}

std::string allow_file_problem(const Config& cfg, const ConfigError& err) {
  std::string s = err.to_string();
  struct stat st {};
  if (::stat(cfg.allow_file.c_str(), &st) != 0)
    s += fmt::format(" ([security] allow_file in {} points there: create the file with one "
                     "address, CIDR block or host name per line (dipc.allow(5)), or point "
                     "allow_file at one)",
                     cfg.source.empty() ? "the configuration" : cfg.source);
  return s;
}

std::vector<std::string> keys_needing_restart(const Config& a, const Config& b) {
  std::vector<std::string> out;
  auto check = [&](bool differs, const char* key) {
    if (differs) out.emplace_back(key);
  };
  check(a.node_name != b.node_name, "[node] name");
  check(a.listen_address != b.listen_address, "[node] listen_address");
  check(a.listen_port != b.listen_port, "[node] listen_port");
  check(a.run_dir != b.run_dir, "[node] run_dir");
  check(a.spin_us != b.spin_us, "[node] spin_us");
  check(a.referee != b.referee, "[referee] enabled");
  check(a.referee_host != b.referee_host || a.referee_port != b.referee_port,
        "[referee] address");
  check(a.remote_root != b.remote_root, "[security] remote_root");
  check(a.secret_file != b.secret_file, "[security] secret_file");
  check(a.heartbeat_interval != b.heartbeat_interval, "[timeouts] heartbeat_ms");
  check(a.peer_timeout != b.peer_timeout, "[timeouts] peer_timeout_ms");
  check(a.connect_timeout != b.connect_timeout, "[timeouts] connect_timeout_ms");
  check(a.log_target != b.log_target, "[log] target");
  check(!(a.distribute == b.distribute), "[distribute]");
  check(a.dsm_segment_mode != b.dsm_segment_mode, "[dsm] mode");
  check(a.dsm_quantum != b.dsm_quantum, "[dsm] quantum");
  check(a.dsm_attach_whole != b.dsm_attach_whole, "[dsm] attach");
  check(a.fault_injection != b.fault_injection, "[debug] fault_injection");
  check(a.metrics != b.metrics || a.metrics_address != b.metrics_address ||
            a.metrics_port != b.metrics_port,
        "[metrics] listen");
  return out;
}

}  // namespace dipc::daemon
