// Writes a Config as dipc.conf text (see config_writer.h).
//
// One function per section, listed in kSections: the writer side of the readers in
// config.cc's validate(). Keys are the ones docs/config.md documents.
#include "common/config_writer.h"

#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string_view>

namespace dipc {
namespace {

void write_node(const Config& c, toml::table& t) {
  t.insert("name", c.node_name);
  t.insert("listen_address", c.listen_address);
  t.insert("listen_port", int64_t{c.listen_port});
  t.insert("run_dir", c.run_dir);
  t.insert("spin_us", int64_t{c.spin_us});
}

void write_referee(const Config& c, toml::table& t) {
  t.insert("enabled", c.referee);
  if (c.referee_host.empty()) return;
  // An IPv6 literal takes brackets, as split_host_port in config.cc expects.
  bool v6 = c.referee_host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + c.referee_host + "]" : c.referee_host;
  t.insert("address", host + ":" + std::to_string(c.referee_port));
}

void write_security(const Config& c, toml::table& t) {
  t.insert("allow_file", c.allow_file);
  t.insert("remote_root", c.remote_root);
  if (!c.secret_file.empty()) t.insert("secret_file", c.secret_file);
}

void write_timeouts(const Config& c, toml::table& t) {
  t.insert("heartbeat_ms", int64_t{c.heartbeat_interval.count()});
  t.insert("peer_timeout_ms", int64_t{c.peer_timeout.count()});
  t.insert("connect_timeout_ms", int64_t{c.connect_timeout.count()});
}

void write_log(const Config& c, toml::table& t) {
  t.insert("level", c.log_level);
  t.insert("target", c.log_target);
}

// A single key as an integer, a range as the string "0xLO-0xHI" (how ipcs shows keys).
void write_distribute(const Config& c, toml::table& t) {
  toml::array keys;
  for (const auto& r : c.distribute.keys) {
    if (r.lo == r.hi) {
      keys.push_back(int64_t{r.lo});
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%x-0x%x", unsigned(r.lo), unsigned(r.hi));
      keys.push_back(std::string(buf));
    }
  }
  t.insert("keys", std::move(keys));
  t.insert("all_keyed", c.distribute.all_keyed);
}

void write_dsm(const Config& c, toml::table& t) {
  t.insert("mode", c.dsm_segment_mode ? "segment" : "page");
  t.insert("quantum", int64_t{c.dsm_quantum.count()});
  t.insert("attach", c.dsm_attach_whole ? "whole" : "fault");
}

void write_metrics(const Config& c, toml::table& t) {
  if (!c.metrics) return;
  bool v6 = c.metrics_address.find(':') != std::string::npos;
  t.insert("listen", (v6 ? "[" + c.metrics_address + "]" : c.metrics_address) + ":" +
                         std::to_string(c.metrics_port));
}

void write_debug(const Config& c, toml::table& t) {
  if (c.fault_injection) t.insert("fault_injection", true);
}

struct SectionWriter {
  std::string_view name;
  void (*write)(const Config&, toml::table&);
};

constexpr SectionWriter kSections[] = {
    {"node", write_node},         {"referee", write_referee}, {"security", write_security},
    {"timeouts", write_timeouts}, {"log", write_log},         {"distribute", write_distribute},
    {"dsm", write_dsm},           {"debug", write_debug},     {"metrics", write_metrics},
};

}  // namespace

toml::table config_table(const Config& cfg) {
  toml::table doc;
  for (const SectionWriter& s : kSections) {
    toml::table section;
    s.write(cfg, section);
    if (!section.empty()) doc.insert(s.name, std::move(section));
  }
  return doc;
}

std::string toml_text(const toml::table& doc) {
  std::ostringstream os;
  os << toml::toml_formatter{doc};
  std::string text = os.str();
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

std::string format_config(const Config& cfg) { return toml_text(config_table(cfg)); }

}  // namespace dipc
