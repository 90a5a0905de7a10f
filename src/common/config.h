// Node configuration: /etc/dipc.conf (TOML) and the allow file /etc/dipc.allow.
//
// Loading never throws: a problem comes back as a ConfigError that names the file and the
// line, ready to print. Writing one is config_writer.h's job (the inverse of parse_config). Every key is documented in docs/config.md and dipc.conf(5).
// Thread safety: plain values; the daemon loads on its main thread and swaps on SIGHUP.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/key_rules.h"

namespace dipc {

struct ConfigError {
  std::string file;  // the file being read
  int line = 0;      // 1-based; 0 when the problem is not tied to a line
  std::string message;
  // "FILE:LINE: MESSAGE" (or "FILE: MESSAGE" without a line).
  std::string to_string() const;
};

struct Config {
  // [node]
  std::string node_name;                    // name, required: unique in the cluster
  std::string listen_address = "0.0.0.0";   // listen_address: peer links (IPv4 or IPv6)
  uint16_t listen_port = 7710;              // listen_port; 0 = any free port
  std::string run_dir = "/run/dipc";        // run_dir: socket, id table, port file
  uint32_t spin_us = 50;  // spin_us: the io thread polls this long after work before it sleeps
  // [referee]
  bool referee = false;        // enabled: this node runs the cluster's referee
  std::string referee_host;    // address = "HOST:PORT" (required unless enabled)
  uint16_t referee_port = 0;
  // [security]
  std::string allow_file = "/etc/dipc.allow";  // allow_file
  bool remote_root = false;  // remote_root: remote root acts as local root (else "nobody")
  std::string secret_file;   // secret_file: the cluster secret; empty = no authentication
  // [timeouts] in milliseconds
  std::chrono::milliseconds heartbeat_interval{1000};  // heartbeat_ms
  std::chrono::milliseconds peer_timeout{5000};        // peer_timeout_ms
  std::chrono::milliseconds connect_timeout{3000};     // connect_timeout_ms
  // [log]
  std::string log_level = "info";  // level: trace, debug, info, warn, error
  std::string log_target = "stderr";  // target: stderr, syslog (daemon facility), journal
  // [distribute]: keys that are distributed without IPC_DIPC, for every program under the
  // shim on this node (published to the shim in the id table)
  struct Distribute {
    std::vector<keys::KeyRange> keys;  // keys: at most keys::kMaxRanges keys and ranges
    bool all_keyed = false;            // all_keyed: every key but IPC_PRIVATE
    bool operator==(const Distribute&) const = default;
  } distribute;
  // [dsm] distributed shared memory, for the segments this node owns
  bool dsm_segment_mode = false;                 // mode = "page" | "segment"
  std::chrono::milliseconds dsm_quantum{2};      // quantum: ms a grant is kept at least
  // attach = "fault" | "whole": how this node's processes attach distributed segments
  // (page faults through userfaultfd, or the whole segment held from shmat to shmdt; also
  // what a node without a usable userfaultfd does)
  bool dsm_attach_whole = false;
  // [metrics]: listen = "ADDR:PORT" serves Prometheus text at http://ADDR:PORT/metrics
  bool metrics = false;          // off unless listen is set
  std::string metrics_address;   // an IP literal
  uint16_t metrics_port = 0;     // 0: any free port (written to RUN_DIR/metrics.port)
  // [debug]
  bool fault_injection = false;  // fault_injection: root may delay, stall or cut links (tests)

  std::string source;  // the file it was read from

  bool operator==(const Config&) const = default;
};

// Parses TOML text. On failure returns nullopt and fills err. Unknown sections or keys,
// wrong types and out-of-range values are errors (with the line of the offending key).
std::optional<Config> parse_config(std::string_view text, const std::string& source_name,
                                   ConfigError& err);
std::optional<Config> load_config(const std::string& path, ConfigError& err);

// The allow file: one entry per line, an IPv4/IPv6 address, a CIDR block or a host name
// (resolved when the file is read); '#' starts a comment; blank lines are ignored.
class AllowList {
 public:
  struct Net {
    sockaddr_in6 addr{};  // IPv4 entries are stored as v4-mapped IPv6
    int prefix = 128;
  };
  // True when addr (IPv4, IPv6 or v4-mapped) matches an entry.
  bool allows(const sockaddr* addr) const;
  bool allows_text(const std::string& address) const;  // convenience for tests and logs
  size_t size() const { return nets_.size(); }
  void add(const Net& n) { nets_.push_back(n); }

 private:
  std::vector<Net> nets_;
};

std::optional<AllowList> parse_allow(std::string_view text, const std::string& source_name,
                                     ConfigError& err);
std::optional<AllowList> load_allow(const std::string& path, ConfigError& err);

// The cluster secret: the file's bytes (a final newline dropped), at least 16 of them, in a
// file that only its owner may read. On failure returns nullopt and fills err.
std::optional<std::string> load_secret(const std::string& path, ConfigError& err);

}  // namespace dipc
