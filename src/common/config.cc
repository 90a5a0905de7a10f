// Node configuration: reads /etc/dipc.conf (TOML, via toml++) and the allow file.
//
// Both readers are strict on purpose: a typo in a key or an out-of-range value is reported
// with the file and line instead of being ignored, because a silently ignored setting on
// one node of a cluster is much harder to find than a daemon that refuses to start.
// Nothing here throws; toml++'s parse_error is caught and turned into a ConfigError.
#include "common/config.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>

namespace dipc {

std::string ConfigError::to_string() const {
  if (line > 0) return fmt::format("{}:{}: {}", file, line, message);
  return fmt::format("{}: {}", file, message);
}

namespace {

// Upper bound for every time-out: a day is far beyond any sensible value and keeps
// deadline arithmetic (now + timeout) clear of overflow.
constexpr int64_t kMaxTimeoutMs = 86'400'000;
// [node] spin_us: a millisecond at most (longer only burns the CPU a sleeping wait would save).
constexpr int64_t kMaxSpinUs = 1000;
constexpr size_t kMaxNodeName = 64;

struct SectionSpec {
  std::string_view name;
  std::string_view keys;  // comma-separated, as shown to the user
};
constexpr std::array<SectionSpec, 9> kSections = {{
    {"node", "name, listen_address, listen_port, run_dir, spin_us"},
    {"referee", "enabled, address"},
    {"security", "allow_file, remote_root, secret_file"},
    {"timeouts", "heartbeat_ms, peer_timeout_ms, connect_timeout_ms"},
    {"log", "level, target"},
    {"distribute", "keys, all_keyed"},
    {"dsm", "mode, quantum, attach"},
    {"debug", "fault_injection"},
    {"metrics", "listen"},
}};
constexpr std::string_view kSectionList =
    "node, referee, security, timeouts, log, distribute, dsm, debug, metrics";
constexpr std::array<std::string_view, 5> kLogLevels = {"trace", "debug", "info", "warn", "error"};

const SectionSpec* find_section(std::string_view name) {
  for (const auto& s : kSections)
    if (s.name == name) return &s;
  return nullptr;
}

bool key_known(const SectionSpec& spec, std::string_view key) {
  std::string_view rest = spec.keys;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view k = rest.substr(0, comma);
    if (k == key) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 2);  // ", "
  }
  return false;
}

// inet_pton stops at a NUL, so "10.0.0.1\0junk" (TOML allows \u0000) would pass unchecked.
bool parse_ipv4(std::string_view s, in_addr& out) {
  std::string z(s);
  return z.find('\0') == std::string::npos && inet_pton(AF_INET, z.c_str(), &out) == 1;
}

bool parse_ipv6(std::string_view s, in6_addr& out) {
  std::string z(s);
  return z.find('\0') == std::string::npos && inet_pton(AF_INET6, z.c_str(), &out) == 1;
}

bool is_ip_literal(std::string_view s) {
  in_addr a4;
  in6_addr a6;
  return parse_ipv4(s, a4) || parse_ipv6(s, a6);
}

// A DNS-style name: dot-separated labels of letters, digits, '-' and '_'. The last label
// must not be all digits, so a mistyped address such as "10.0.1" is rejected instead of
// being handed to getaddrinfo, which would read it as 10.0.0.1.
bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::string_view last;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
    last = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return !std::all_of(last.begin(), last.end(),
                      [](char c) { return isdigit(static_cast<unsigned char>(c)); });
}

// Parses a decimal number of at most max_digits digits; no sign, no spaces.
bool parse_uint(std::string_view s, size_t max_digits, unsigned& out) {
  if (s.empty() || s.size() > max_digits) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<unsigned>(c - '0');
  }
  return true;
}

// Splits "HOST:PORT" or "[IPv6]:PORT". Returns "" on success, otherwise what is wrong.
std::string split_host_port(std::string_view s, std::string& host, uint16_t& port) {
  std::string_view h, p;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return "missing ']' after the IPv6 address";
    h = s.substr(1, close - 1);
    in6_addr a6;
    if (!parse_ipv6(h, a6)) return fmt::format("'{}' is not an IPv6 address", h);
    if (close + 1 >= s.size() || s[close + 1] != ':') return "missing ':PORT' after ']'";
    p = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return "missing ':PORT'";
    h = s.substr(0, colon);
    p = s.substr(colon + 1);
    if (h.find(':') != std::string_view::npos)
      return "an IPv6 address must be written in brackets: [ADDRESS]:PORT";
    in_addr a4;
    if (!parse_ipv4(h, a4) && !is_host_name(h))
      return fmt::format("'{}' is not an IPv4 address or host name", h);
  }
  unsigned n = 0;
  if (!parse_uint(p, 5, n) || n == 0 || n > 65535)
    return fmt::format("port '{}' must be a number 1..65535", p);
  host = std::string(h);
  port = static_cast<uint16_t>(n);
  return {};
}

// How a value looks in the file, for "got ..." in messages.
std::string describe(const toml::node& n) {
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  if (auto s = n.value_exact<std::string>()) return fmt::format("{:?}", *s);  // "quoted"
  std::ostringstream os;
  n.visit([&os](const auto& v) { os << v; });
  return os.str();
}

int line_of(const toml::key& k, const toml::node& n) {
  if (k.source().begin.line > 0) return static_cast<int>(k.source().begin.line);
  return static_cast<int>(n.source().begin.line);
}

// Validates a parsed document into a Config. Every check runs, and the error kept is the
// one nearest the top of the file, so fixing errors top-down (as with a compiler) works.
class Reader {
 public:
  Reader(const toml::table& root, const std::string& file, ConfigError& err)
      : root_(root), file_(file), err_(err) {}

  bool failed() const { return failed_; }

  void fail(int line, std::string message) {
    // A line-less error (a missing key) only wins when nothing better is known.
    if (failed_ && (line == 0 || (err_.line != 0 && err_.line <= line))) return;
    err_ = ConfigError{file_, line, std::move(message)};
    failed_ = true;
  }
  void fail(const toml::node* where, std::string message) {
    fail(where ? static_cast<int>(where->source().begin.line) : 0, std::move(message));
  }

  // Unknown sections and keys, and sections that are not tables.
  void check_structure() {
    for (const auto& [name, node] : root_) {
      const SectionSpec* spec = find_section(name.str());
      if (!spec) {
        fail(line_of(name, node),
             fmt::format("unknown section [{}] (known: {})", name.str(), kSectionList));
      } else if (!node.is_table()) {
        fail(line_of(name, node), fmt::format("'{}' must be a section [{}] holding {}", name.str(),
                                              name.str(), spec->keys));
      } else {
        for (const auto& [key, value] : *node.as_table())
          if (!key_known(*spec, key.str()))
            fail(line_of(key, value), fmt::format("unknown key '{}' in [{}] (known: {})", key.str(),
                                                  spec->name, spec->keys));
      }
    }
  }

  const toml::node* get(std::string_view section, std::string_view key) const {
    const toml::table* t = root_[section].as_table();
    return t ? t->get(key) : nullptr;
  }

  // The typed readers leave out alone when the key is absent, and report and return
  // false when it is present but wrong.
  bool integer(std::string_view section, std::string_view key, int64_t lo, int64_t hi,
               int64_t& out) {
    const toml::node* n = get(section, key);
    if (!n) return true;
    if (auto v = n->value_exact<int64_t>(); v && *v >= lo && *v <= hi) {
      out = *v;
      return true;
    }
    fail(n, fmt::format("[{}] {} must be an integer {}..{}, got {}", section, key, lo, hi,
                        describe(*n)));
    return false;
  }

  bool boolean(std::string_view section, std::string_view key, bool& out) {
    const toml::node* n = get(section, key);
    if (!n) return true;
    if (auto v = n->value_exact<bool>()) {
      out = *v;
      return true;
    }
    fail(n, fmt::format("[{}] {} must be true or false, got {}", section, key, describe(*n)));
    return false;
  }

  // A string accepted by ok(); what describes valid values for the message.
  template <typename Pred>
  bool string(std::string_view section, std::string_view key, std::string_view what, Pred ok,
              std::string& out) {
    const toml::node* n = get(section, key);
    if (!n) return true;
    if (auto v = n->value_exact<std::string>(); v && ok(*v)) {
      out = *v;
      return true;
    }
    fail(n, fmt::format("[{}] {} must be {}, got {}", section, key, what, describe(*n)));
    return false;
  }

 private:
  const toml::table& root_;
  const std::string& file_;
  ConfigError& err_;
  bool failed_ = false;
};

bool valid_node_name(const std::string& s) {
  return !s.empty() && s.size() <= kMaxNodeName && std::all_of(s.begin(), s.end(), [](char c) {
    return isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

bool absolute_path(const std::string& s) { return !s.empty() && s.front() == '/'; }

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

bool read_file(const std::string& path, std::string& out, ConfigError& err) {
  try {
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "re"));
    if (!f) {
      err = ConfigError{path, 0, fmt::format("cannot open: {}", std::strerror(errno))};
      return false;
    }
    out.clear();
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) out.append(buf, n);
    if (std::ferror(f.get())) {  // e.g. EISDIR: fopen succeeds on a directory
      err = ConfigError{path, 0, fmt::format("cannot read: {}", std::strerror(errno))};
      return false;
    }
    return true;
  } catch (const std::exception& e) {  // bad_alloc: report it, never let it escape
    err = ConfigError{path, 0, fmt::format("cannot read: {}", e.what())};
    return false;
  }
}

// ---- allow list ----

in6_addr v4_mapped(const in_addr& a4) {
  in6_addr a6{};
  a6.s6_addr[10] = 0xff;
  a6.s6_addr[11] = 0xff;
  std::memcpy(&a6.s6_addr[12], &a4, 4);
  return a6;
}

AllowList::Net make_net(const in6_addr& a, int prefix) {
  AllowList::Net n;
  n.addr.sin6_family = AF_INET6;
  n.addr.sin6_addr = a;
  n.prefix = prefix;
  return n;
}

bool prefix_match(const in6_addr& net, const in6_addr& a, int prefix) {
  prefix = std::clamp(prefix, 0, 128);
  int bytes = prefix / 8, bits = prefix % 8;
  if (std::memcmp(net.s6_addr, a.s6_addr, bytes) != 0) return false;
  if (bits == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - bits));
  return ((net.s6_addr[bytes] ^ a.s6_addr[bytes]) & mask) == 0;
}

// Parses an address literal; IPv4 becomes v4-mapped. max_prefix is 32 or 128.
bool parse_literal(std::string_view s, in6_addr& out, int& max_prefix) {
  in_addr a4;
  if (parse_ipv4(s, a4)) {
    out = v4_mapped(a4);
    max_prefix = 32;
    return true;
  }
  max_prefix = 128;
  return parse_ipv6(s, out);
}

// Adds one trimmed, non-empty entry. Returns "" or what is wrong with it.
std::string add_allow_entry(std::string_view entry, AllowList& list) {
  in6_addr a;
  int max_prefix = 0;
  if (size_t slash = entry.find('/'); slash != std::string_view::npos) {
    std::string_view addr = entry.substr(0, slash), len = entry.substr(slash + 1);
    if (!parse_literal(addr, a, max_prefix))
      return fmt::format("'{}' is not an IPv4 or IPv6 address (in CIDR block '{}')", addr, entry);
    unsigned prefix = 0;
    if (!parse_uint(len, 3, prefix) || static_cast<int>(prefix) > max_prefix)
      return fmt::format("bad prefix length '{}' in '{}': must be 0..{} for {}", len, entry,
                         max_prefix, max_prefix == 32 ? "IPv4" : "IPv6");
    int stored = static_cast<int>(prefix) + (max_prefix == 32 ? 96 : 0);
    list.add(make_net(a, stored));
    return {};
  }
  if (parse_literal(entry, a, max_prefix)) {
    list.add(make_net(a, 128));
    return {};
  }
  if (!is_host_name(entry))
    return fmt::format("'{}' is not an address, CIDR block or host name (one entry per line)",
                       entry);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one result per address, not one per socket type
  addrinfo* res = nullptr;
  std::string name(entry);
  int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res);
  if (rc != 0)
    return fmt::format("cannot resolve host name '{}': {}", entry,
                       rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
  size_t added = 0;
  for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      sockaddr_in sin;
      std::memcpy(&sin, ai->ai_addr, sizeof sin);
      list.add(make_net(v4_mapped(sin.sin_addr), 128));
      ++added;
    } else if (ai->ai_family == AF_INET6) {
      sockaddr_in6 sin6;
      std::memcpy(&sin6, ai->ai_addr, sizeof sin6);
      list.add(make_net(sin6.sin6_addr, 128));
      ++added;
    }
  }
  freeaddrinfo(res);
  if (added == 0) return fmt::format("host name '{}' has no IPv4 or IPv6 address", entry);
  return {};
}

// [distribute] keys: an array whose items are keys (integers) or strings holding a key or
// an inclusive range "LO-HI" (decimal or 0x hex), checked one by one with their line.
void read_keys(Reader& r, const toml::node& n, std::vector<keys::KeyRange>& out) {
  constexpr std::string_view kForm =
      "an array of keys and ranges, e.g. [40, 0x7000, \"0x7100-0x71ff\"]";
  const toml::array* a = n.as_array();
  if (!a)
    return r.fail(&n, fmt::format("[distribute] keys must be {}, got {}", kForm, describe(n)));
  if (a->size() > keys::kMaxRanges)
    return r.fail(&n, fmt::format("[distribute] keys holds {} items, at most {} are allowed "
                                  "(use ranges)",
                                  a->size(), keys::kMaxRanges));
  for (const toml::node& item : *a) {
    keys::KeyRange k;
    keys::ParseError e = keys::ParseError::kNone;
    if (auto v = item.value_exact<int64_t>()) {
      if (*v < 0) {
        r.fail(&item, fmt::format("[distribute] keys: {} is negative: write a key unsigned, as "
                                  "ipcs prints it ({:#x})",
                                  *v, static_cast<uint32_t>(*v)));
        continue;
      }
      if (*v > 0xffffffffll)
        e = keys::ParseError::kTooBig;
      else if (*v == 0)
        e = keys::ParseError::kPrivate;
      else
        k.lo = k.hi = static_cast<uint32_t>(*v);
    } else if (auto sv = item.value_exact<std::string>()) {
      // parse_item stops at nothing but its end: a NUL inside is "not a key" like any byte.
      e = keys::parse_item(sv->data(), sv->data() + sv->size(), &k);
    } else {
      r.fail(&item, fmt::format("[distribute] keys items must be integers or strings "
                                "\"KEY\" or \"LO-HI\", got {}",
                                describe(item)));
      continue;
    }
    if (e != keys::ParseError::kNone) {
      r.fail(&item, fmt::format("[distribute] keys: {}: {} (keys are 1..0xffffffff; a "
                                "range is \"LO-HI\")",
                                describe(item), keys::describe(e)));
      continue;
    }
    out.push_back(k);
  }
}

// Turns a syntactically valid document into a Config, or reports the first problem.
std::optional<Config> validate(const toml::table& root, const std::string& source_name,
                               ConfigError& err) {
  Config cfg;
  cfg.source = source_name;
  Reader r(root, source_name, err);
  r.check_structure();

  // [node]
  if (!r.get("node", "name")) {
    r.fail(0,
           "missing required key 'name' in [node]: add name = \"NODE\" (unique in the "
           "cluster, 1..64 characters of A-Z a-z 0-9 . _ -)");
  }
  r.string("node", "name", "a string of 1..64 characters from A-Z a-z 0-9 . _ -", valid_node_name,
           cfg.node_name);
  r.string(
      "node", "listen_address", "an IPv4 or IPv6 address literal",
      [](const std::string& s) { return is_ip_literal(s); }, cfg.listen_address);
  int64_t port = cfg.listen_port;
  if (r.integer("node", "listen_port", 0, 65535, port))
    cfg.listen_port = static_cast<uint16_t>(port);
  r.string("node", "run_dir", "an absolute path", absolute_path, cfg.run_dir);
  int64_t spin = cfg.spin_us;
  if (r.integer("node", "spin_us", 0, kMaxSpinUs, spin)) cfg.spin_us = static_cast<uint32_t>(spin);

  // [referee]
  r.boolean("referee", "enabled", cfg.referee);
  if (const toml::node* n = r.get("referee", "address")) {
    constexpr std::string_view kForm = "a string \"HOST:PORT\" or \"[IPv6]:PORT\"";
    if (auto v = n->value_exact<std::string>()) {
      std::string why = split_host_port(*v, cfg.referee_host, cfg.referee_port);
      if (!why.empty())
        r.fail(n,
               fmt::format("[referee] address must be {}, got {}: {}", kForm, describe(*n), why));
    } else {
      r.fail(n, fmt::format("[referee] address must be {}, got {}", kForm, describe(*n)));
    }
  } else if (!cfg.referee) {
    r.fail(0,
           "missing [referee] address: set address = \"HOST:PORT\" of the referee node, "
           "or enabled = true on the node that runs the referee");
  }

  // [security]
  r.string("security", "allow_file", "an absolute path", absolute_path, cfg.allow_file);
  r.boolean("security", "remote_root", cfg.remote_root);
  r.string("security", "secret_file", "an absolute path", absolute_path, cfg.secret_file);

  // [timeouts]
  int64_t hb = cfg.heartbeat_interval.count(), peer = cfg.peer_timeout.count(),
          conn = cfg.connect_timeout.count();
  bool hb_ok = r.integer("timeouts", "heartbeat_ms", 1, kMaxTimeoutMs, hb);
  bool peer_ok = r.integer("timeouts", "peer_timeout_ms", 1, kMaxTimeoutMs, peer);
  r.integer("timeouts", "connect_timeout_ms", 1, kMaxTimeoutMs, conn);
  if (hb_ok && peer_ok && peer <= hb) {
    // Blame the key the user wrote; peer_timeout_ms first, as it is the one to raise.
    const toml::node* where = r.get("timeouts", "peer_timeout_ms");
    if (!where) where = r.get("timeouts", "heartbeat_ms");
    r.fail(where, fmt::format("[timeouts] peer_timeout_ms ({}) must be greater than "
                              "heartbeat_ms ({}); several heartbeats is usual",
                              peer, hb));
  }
  cfg.heartbeat_interval = std::chrono::milliseconds(hb);
  cfg.peer_timeout = std::chrono::milliseconds(peer);
  cfg.connect_timeout = std::chrono::milliseconds(conn);

  // [log]
  r.string(
      "log", "level", "one of trace, debug, info, warn, error",
      [](const std::string& s) {
        return std::find(kLogLevels.begin(), kLogLevels.end(), s) != kLogLevels.end();
      },
      cfg.log_level);
  r.string(
      "log", "target", "one of stderr, syslog, journal",
      [](const std::string& s) { return s == "stderr" || s == "syslog" || s == "journal"; },
      cfg.log_target);

  // [distribute]
  r.boolean("distribute", "all_keyed", cfg.distribute.all_keyed);
  if (const toml::node* n = r.get("distribute", "keys")) read_keys(r, *n, cfg.distribute.keys);

  // [debug]
  r.boolean("debug", "fault_injection", cfg.fault_injection);

  // [metrics]
  if (const toml::node* n = r.get("metrics", "listen")) {
    constexpr std::string_view kForm =
        "a string \"ADDR:PORT\" or \"[IPv6]:PORT\" with an IP address literal";
    auto v = n->value_exact<std::string>();
    std::string host;
    uint16_t mport = 0;
    // Port 0 (any free port, written to RUN_DIR/metrics.port) is allowed here, unlike a
    // referee's address: checked as port 1, then set.
    bool any_port = v && v->size() > 2 && v->ends_with(":0");
    std::string why = !v        ? std::string("not a string")
                      : any_port ? split_host_port(v->substr(0, v->size() - 1) + "1", host, mport)
                                 : split_host_port(*v, host, mport);
    if (any_port) mport = 0;
    if (why.empty() && !is_ip_literal(host)) why = "the address must be an IP literal";
    if (why.empty()) {
      cfg.metrics_address = host;
      cfg.metrics_port = mport;
      cfg.metrics = true;
    } else {
      r.fail(n, fmt::format("[metrics] listen must be {}, got {}: {}", kForm, describe(*n), why));
    }
  }

  // [dsm]
  std::string mode = cfg.dsm_segment_mode ? "segment" : "page";
  r.string(
      "dsm", "mode", "\"page\" or \"segment\"",
      [](const std::string& s) { return s == "page" || s == "segment"; }, mode);
  cfg.dsm_segment_mode = mode == "segment";
  int64_t quantum = cfg.dsm_quantum.count();
  r.integer("dsm", "quantum", 0, 60'000, quantum);
  cfg.dsm_quantum = std::chrono::milliseconds(quantum);
  std::string attach = cfg.dsm_attach_whole ? "whole" : "fault";
  r.string(
      "dsm", "attach", "\"fault\" or \"whole\"",
      [](const std::string& s) { return s == "fault" || s == "whole"; }, attach);
  cfg.dsm_attach_whole = attach == "whole";

  if (r.failed()) return std::nullopt;
  return cfg;
}

}  // namespace

std::optional<Config> parse_config(std::string_view text, const std::string& source_name,
                                   ConfigError& err) {
  try {
    toml::table root = toml::parse(text, std::string_view(source_name));
    return validate(root, source_name, err);
  } catch (const toml::parse_error& e) {
    err = ConfigError{source_name, static_cast<int>(e.source().begin.line),
                      fmt::format("syntax error: {}", e.description())};
  } catch (const std::exception& e) {  // bad_alloc and the like: still never escape
    err = ConfigError{source_name, 0, fmt::format("cannot parse: {}", e.what())};
  }
  return std::nullopt;
}

std::optional<Config> load_config(const std::string& path, ConfigError& err) {
  std::string text;
  if (!read_file(path, text, err)) return std::nullopt;
  return parse_config(text, path, err);
}

bool AllowList::allows(const sockaddr* addr) const {
  if (!addr) return false;
  in6_addr a;
  if (addr->sa_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, addr, sizeof sin);
    a = v4_mapped(sin.sin_addr);
  } else if (addr->sa_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, addr, sizeof sin6);
    a = sin6.sin6_addr;
  } else {
    return false;
  }
  return std::any_of(nets_.begin(), nets_.end(),
                     [&a](const Net& n) { return prefix_match(n.addr.sin6_addr, a, n.prefix); });
}

bool AllowList::allows_text(const std::string& address) const {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  int max_prefix = 0;
  if (!parse_literal(address, sin6.sin6_addr, max_prefix)) return false;
  return allows(reinterpret_cast<const sockaddr*>(&sin6));
}

std::optional<AllowList> parse_allow(std::string_view text, const std::string& source_name,
                                     ConfigError& err) {
  AllowList list;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    line = line.substr(0, line.find('#'));
    constexpr std::string_view kSpace = " \t\r\v\f";
    size_t first = line.find_first_not_of(kSpace);
    if (first == std::string_view::npos) continue;
    line = line.substr(first, line.find_last_not_of(kSpace) - first + 1);
    std::string why;
    try {  // getaddrinfo and fmt may allocate; keep the never-throws promise
      why = add_allow_entry(line, list);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (!why.empty()) {
      err = ConfigError{source_name, line_no, std::move(why)};
      return std::nullopt;
    }
  }
  return list;
}

std::optional<AllowList> load_allow(const std::string& path, ConfigError& err) {
  std::string text;
  if (!read_file(path, text, err)) return std::nullopt;
  return parse_allow(text, path, err);
}

std::optional<std::string> load_secret(const std::string& path, ConfigError& err) {
  err = ConfigError{path, 0, ""};
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    err.message = fmt::format("cannot open the cluster secret: {}", std::strerror(errno));
    return std::nullopt;
  }
  struct stat st {};
  if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0) {
    std::fclose(f);
    err.message = "the cluster secret is readable by others: chmod 600 it";
    return std::nullopt;
  }
  std::string secret;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && secret.size() < 65536)
    secret.append(buf, n);
  std::fclose(f);
  if (!secret.empty() && secret.back() == '\n') secret.pop_back();
  if (secret.size() < 16) {
    err.message =
        "the cluster secret is shorter than 16 bytes (e.g. head -c 32 /dev/urandom | base64)";
    return std::nullopt;
  }
  return secret;
}

}  // namespace dipc
