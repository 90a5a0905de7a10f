// Each node's dipc.conf in a local cluster (see cluster_config.h).
#include "tools/cluster_config.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <optional>
#include <string_view>

#include "common/config.h"
#include "common/config_writer.h"
#include "tools/cluster_files.h"

namespace dipc::tools::cluster {
namespace {

// What `up` writes per node: a --set of these would break the cluster, so it is refused
// with what to use instead.
struct ManagedKey {
  std::string_view section;
  std::string_view key;
  std::string_view instead;
};
constexpr ManagedKey kManaged[] = {
    {"node", "name", "each node is named nodeK"},
    {"node", "listen_address",
     "each node listens on its own address (127.0.0.1, or "
     "10.213.ID.K with --netns)"},
    {"node", "run_dir", "each node's run dir is DIR/nodeK/run"},
    {"referee", "enabled", "node1 runs the referee"},
    {"referee", "address", "every node is pointed at node1's referee"},
    {"security", "allow_file", "use --allow TEXT to choose what every node's allow file says"},
};

bool BareKey(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

Config BaseConfig(const Layout& l, int k, const UpOptions& o, const std::string& referee_host,
                  uint16_t referee_port) {
  Config c;
  c.node_name = NodeName(k);
  c.listen_address = NodeAddress(l, k);
  c.listen_port = 0;  // any free port; dipcd writes it to run/dipcd.port
  c.run_dir = RunDir(l.dir, k);
  c.referee = k == 1;
  if (k != 1) {
    c.referee_host = referee_host;
    c.referee_port = referee_port;
  }
  c.allow_file = AllowPath(l.dir, k);
  if (!o.no_secret) c.secret_file = SecretPath(l.dir);
  c.heartbeat_interval = std::chrono::milliseconds(o.heartbeat_ms);
  c.peer_timeout = std::chrono::milliseconds(o.peer_timeout_ms);
  c.log_level = "info";
  return c;
}

void Apply(const Setting& s, toml::table& doc) {
  toml::table* section = doc[s.section].as_table();
  if (section == nullptr) {
    // A section the writer left out, or one the parser will refuse: insert and let it judge.
    doc.insert_or_assign(s.section, toml::table{});
    section = doc[s.section].as_table();
  }
  const toml::node* value = s.holder.get("v");
  value->visit([&](const auto& v) { section->insert_or_assign(s.key, v); });
}

// The section and key defined on line (1-based) of text, or the section alone when the
// line is a [section] header.
std::pair<std::string, std::string> KeyAtLine(const std::string& text, int line) {
  std::string section;
  size_t start = 0;
  for (int n = 1; start <= text.size(); ++n) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string l = Trim(text.substr(start, end - start));
    start = end + 1;
    bool header = l.size() >= 2 && l.front() == '[' && l.back() == ']';
    if (header) section = Trim(l.substr(1, l.size() - 2));
    if (n == line) {
      if (header) return {section, ""};
      size_t eq = l.find('=');
      return {section, eq == std::string::npos ? "" : Trim(l.substr(0, eq))};
    }
  }
  return {"", ""};
}

std::string AllArgs(const std::vector<Setting>& settings) {
  std::string out;
  for (const auto& s : settings) out += (out.empty() ? "--set " : " --set ") + OneLine(s.arg);
  return out;
}

}  // namespace

std::vector<Setting> ParseSettings(const std::vector<std::string>& args) {
  std::vector<Setting> out;
  for (const std::string& arg : args) {
    std::string prefix = "--set " + OneLine(arg) + ": ";
    size_t eq = arg.find('=');
    size_t dot = arg.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
      throw Failure(prefix + "must be SECTION.KEY=VALUE, e.g. --set security.remote_root=true");
    }
    Setting s;
    s.arg = arg;
    s.section = arg.substr(0, dot);
    s.key = arg.substr(dot + 1, eq - dot - 1);
    std::string value = arg.substr(eq + 1);
    if (!BareKey(s.section) || !BareKey(s.key)) {
      throw Failure(prefix +
                    "SECTION and KEY are names of letters, digits, '_' and '-' (see "
                    "dipc.conf(5)), e.g. --set log.level=debug");
    }
    for (const ManagedKey& m : kManaged) {
      if (m.section == s.section && m.key == s.key) {
        throw Failure(prefix + "[" + s.section + "] " + s.key +
                      " is set by `dipc cluster up` itself: " + std::string(m.instead));
      }
    }
    if (value.empty()) throw Failure(prefix + "no VALUE after '='");
    try {
      s.holder = toml::parse("v = " + value);
    } catch (const toml::parse_error& e) {
      bool plain_word = value.find_first_of("\"'[]{}\n\r#") == std::string::npos;
      if (!plain_word) {
        throw Failure(prefix + "VALUE is not a TOML value (" + std::string(e.description()) +
                      "); strings go in quotes: --set 'log.level=\"debug\"'");
      }
      s.holder = toml::table{};
      s.holder.insert("v", value);
    }
    if (s.holder.size() != 1 || s.holder.get("v") == nullptr) {
      throw Failure(prefix + "VALUE must be exactly one TOML value");
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string NodeConfigText(const Layout& l, int k, const UpOptions& o,
                           const std::vector<Setting>& settings, const std::string& referee_host,
                           uint16_t referee_port) {
  toml::table doc = config_table(BaseConfig(l, k, o, referee_host, referee_port));
  for (const Setting& s : settings) Apply(s, doc);
  std::string text = "# Written by `dipc cluster up` for " + NodeName(k) +
                     " of the local cluster in " + OneLine(l.dir) + ".\n";
  if (!settings.empty()) text += "# With " + AllArgs(settings) + ".\n";
  text += toml_text(doc);

  ConfigError err;
  if (parse_config(text, ConfigPath(l.dir, k), err)) return text;
  auto [section, key] = KeyAtLine(text, err.line);
  // The last --set of a key is the one in effect.
  for (auto s = settings.rbegin(); s != settings.rend(); ++s) {
    if (err.line > 0 && s->section == section && (key.empty() || s->key == key)) {
      throw Failure("--set " + OneLine(s->arg) + ": " + err.message);
    }
  }
  if (settings.empty()) {
    throw Failure("the configuration written for " + NodeName(k) +
                  " is not valid (a bug): " + err.to_string());
  }
  throw Failure("with " + AllArgs(settings) + ", " + NodeName(k) +
                "'s configuration is not valid: " + err.message);
}

void CheckSettings(const Layout& l, const UpOptions& o, const std::vector<Setting>& settings) {
  NodeConfigText(l, 1, o, settings, "", 0);
  if (l.nodes > 1) NodeConfigText(l, 2, o, settings, NodeAddress(l, 1), 1);
}

}  // namespace dipc::tools::cluster
