// Unit tests for the node configuration (dipc.conf) and the allow file (dipc.allow).
//
// Errors are checked down to the file name and line, because those are what an operator
// sees when dipcd refuses to start; a wrong line number sends them to the wrong place.
#include "common/config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/config_writer.h"
#include "common/key_rules.h"

namespace dipc {
namespace {

constexpr char kFile[] = "dipc.conf";

// Enough for a valid configuration; tests append or replace sections.
constexpr char kMinimal[] =
    "[node]\n"
    "name = \"n1\"\n"
    "[referee]\n"
    "enabled = true\n";

std::optional<Config> Parse(const std::string& text, ConfigError& err) {
  return parse_config(text, kFile, err);
}

// Expects text to be rejected at line with a message containing fragment.
void ExpectError(const std::string& text, int line, const std::string& fragment) {
  ConfigError err;
  auto cfg = Parse(text, err);
  ASSERT_FALSE(cfg.has_value()) << text;
  EXPECT_EQ(err.file, kFile);
  EXPECT_EQ(err.line, line) << err.to_string();
  EXPECT_NE(err.message.find(fragment), std::string::npos) << err.to_string();
}

// The source tree: $DIPC_SRC, else a DIPC_SRC macro from the build, else found from the
// path of this file (absolute in a CMake build).
std::filesystem::path SourceRoot() {
  if (const char* env = std::getenv("DIPC_SRC"); env && *env) return env;
#ifdef DIPC_SRC
  return DIPC_SRC;
#endif
  // tests/unit/config_test.cc -> the tree's root.
  return std::filesystem::absolute(__FILE__).parent_path().parent_path().parent_path();
}

// A file in a fresh temporary directory, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char dir[] = "/tmp/dipc_config_test.XXXXXX";
    dir_ = mkdtemp(dir);
    path_ = dir_ + "/file";
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string path_;
};

// ---- dipc.conf ----

TEST(ConfigTest, FullValidFile) {
  ConfigError err;
  auto cfg = Parse(R"(# full
[node]
name = "alpha-1.test_x"
listen_address = "::"
listen_port = 0
run_dir = "/var/run/dipc2"

[referee]
enabled = false
address = "referee.example.org:7799"

[security]
allow_file = "/srv/dipc.allow"
remote_root = true

[timeouts]
heartbeat_ms = 250
peer_timeout_ms = 2000
connect_timeout_ms = 1500

[log]
level = "debug"
target = "journal"
)",
                   err);
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  EXPECT_EQ(cfg->node_name, "alpha-1.test_x");
  EXPECT_EQ(cfg->listen_address, "::");
  EXPECT_EQ(cfg->listen_port, 0);
  EXPECT_EQ(cfg->run_dir, "/var/run/dipc2");
  EXPECT_FALSE(cfg->referee);
  EXPECT_EQ(cfg->referee_host, "referee.example.org");
  EXPECT_EQ(cfg->referee_port, 7799);
  EXPECT_EQ(cfg->allow_file, "/srv/dipc.allow");
  EXPECT_TRUE(cfg->remote_root);
  EXPECT_EQ(cfg->heartbeat_interval.count(), 250);
  EXPECT_EQ(cfg->peer_timeout.count(), 2000);
  EXPECT_EQ(cfg->connect_timeout.count(), 1500);
  EXPECT_EQ(cfg->log_level, "debug");
  EXPECT_EQ(cfg->log_target, "journal");
  EXPECT_EQ(cfg->source, kFile);
}

TEST(ConfigTest, Defaults) {
  ConfigError err;
  auto cfg = Parse(kMinimal, err);
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  EXPECT_EQ(cfg->node_name, "n1");
  EXPECT_EQ(cfg->listen_address, "0.0.0.0");
  EXPECT_EQ(cfg->listen_port, 7710);
  EXPECT_EQ(cfg->run_dir, "/run/dipc");
  EXPECT_TRUE(cfg->referee);
  EXPECT_EQ(cfg->referee_host, "");
  EXPECT_EQ(cfg->referee_port, 0);
  EXPECT_EQ(cfg->allow_file, "/etc/dipc.allow");
  EXPECT_FALSE(cfg->remote_root);
  EXPECT_EQ(cfg->heartbeat_interval.count(), 1000);
  EXPECT_EQ(cfg->peer_timeout.count(), 5000);
  EXPECT_EQ(cfg->connect_timeout.count(), 3000);
  EXPECT_EQ(cfg->log_level, "info");
  EXPECT_EQ(cfg->log_target, "stderr");
}

TEST(ConfigTest, SyntaxError) {
  ExpectError("[node]\nname = \"n1\"\nlisten_port = = 3\n", 3, "syntax error");
  ExpectError("[node]\nname = \"n1\n", 2, "syntax error");
  ExpectError(std::string(kMinimal) + "[node]\n", 5, "syntax error");  // table twice
  ExpectError("[node]\nname = \"a\"\nname = \"b\"\n", 3, "syntax error");
}

TEST(ConfigTest, UnknownKey) {
  ConfigError err;
  std::string text =
      "[node]\nname = \"n1\"\nlisten_address = \"0.0.0.0\"\n\n\n\n"
      "listen_prot = 7711\n[referee]\nenabled = true\n";
  ASSERT_FALSE(Parse(text, err));
  EXPECT_EQ(err.to_string(),
            "dipc.conf:7: unknown key 'listen_prot' in [node] "
            "(known: name, listen_address, listen_port, run_dir, spin_us)");
  ExpectError(std::string(kMinimal) + "[timeouts]\nheartbeat = 5\n", 6,
              "unknown key 'heartbeat' in [timeouts]");
}

TEST(ConfigTest, UnknownSectionAndTopLevelKey) {
  ExpectError(std::string(kMinimal) + "\n[nodes]\nname = \"x\"\n", 6, "unknown section [nodes]");
  ExpectError("verbose = true\n" + std::string(kMinimal), 1, "unknown section [verbose]");
  ExpectError("node = 3\n", 1, "'node' must be a section [node]");
}

TEST(ConfigTest, WrongType) {
  ExpectError("[node]\nname = \"n1\"\nlisten_port = \"7710\"\n[referee]\nenabled = true\n", 3,
              "[node] listen_port must be an integer 0..65535, got \"7710\"");
  ExpectError("[node]\nname = 5\n[referee]\nenabled = true\n", 2, "[node] name must be");
  ExpectError(std::string(kMinimal) + "[security]\nremote_root = \"yes\"\n", 6,
              "[security] remote_root must be true or false, got \"yes\"");
  ExpectError(std::string(kMinimal) + "[timeouts]\nheartbeat_ms = 1.5\n", 6,
              "[timeouts] heartbeat_ms must be an integer");
  ExpectError("[node]\nname = \"n1\"\n[referee]\nenabled = 1\naddress = \"h:1\"\n", 4,
              "[referee] enabled must be true or false, got 1");
}

TEST(ConfigTest, OutOfRangeAndBadValues) {
  ConfigError err;
  ASSERT_FALSE(
      Parse("[node]\nname = \"n1\"\nlisten_port = 70000\n[referee]\nenabled = true\n", err));
  EXPECT_EQ(err.to_string(),
            "dipc.conf:3: [node] listen_port must be an integer 0..65535, got 70000");
  ExpectError("[node]\nname = \"n1\"\nlisten_port = -1\n[referee]\nenabled = true\n", 3, "got -1");
  ExpectError("[node]\nname = \"n1\"\nspin_us = 1001\n[referee]\nenabled = true\n", 3,
              "[node] spin_us must be an integer 0..1000, got 1001");
  ExpectError(std::string(kMinimal) + "[timeouts]\nconnect_timeout_ms = 0\n", 6,
              "connect_timeout_ms must be an integer 1..");
  ExpectError("[node]\nname = \"bad name\"\n[referee]\nenabled = true\n", 2,
              "[node] name must be a string of 1..64 characters");
  ExpectError("[node]\nname = \"" + std::string(65, 'a') + "\"\n[referee]\nenabled = true\n", 2,
              "[node] name must be a string of 1..64");
  ExpectError("[node]\nname = \"\"\n[referee]\nenabled = true\n", 2,
              "name must be a string of 1..64");
  ExpectError(
      "[node]\nname = \"n1\"\nlisten_address = \"localhost\"\n[referee]\n"
      "enabled = true\n",
      3, "listen_address must be an IPv4 or IPv6 address literal");
  ExpectError("[node]\nname = \"n1\"\nrun_dir = \"run/dipc\"\n[referee]\nenabled = true\n", 3,
              "run_dir must be an absolute path");
  ExpectError(std::string(kMinimal) + "[security]\nallow_file = \"dipc.allow\"\n", 6,
              "allow_file must be an absolute path");
  ExpectError(std::string(kMinimal) + "[log]\nlevel = \"verbose\"\n", 6,
              "level must be one of trace, debug, info, warn, error");
  ExpectError(std::string(kMinimal) + "[log]\ntarget = \"file\"\n", 6,
              "target must be one of stderr, syslog, journal");
  ExpectError(std::string(kMinimal) + "[metrics]\nlisten = \"localhost:9100\"\n", 6,
              "[metrics] listen must be a string \"ADDR:PORT\"");
  ExpectError(std::string(kMinimal) + "[metrics]\nlisten = 9100\n", 6,
              "[metrics] listen must be");
}

TEST(ConfigTest, MetricsListen) {
  ConfigError err;
  auto off = Parse(kMinimal, err);
  ASSERT_TRUE(off.has_value()) << err.to_string();
  EXPECT_FALSE(off->metrics);  // off by default
  auto on = Parse(std::string(kMinimal) + "[metrics]\nlisten = \"127.0.0.1:9100\"\n", err);
  ASSERT_TRUE(on.has_value()) << err.to_string();
  EXPECT_TRUE(on->metrics);
  EXPECT_EQ(on->metrics_address, "127.0.0.1");
  EXPECT_EQ(on->metrics_port, 9100);
  auto any = Parse(std::string(kMinimal) + "[metrics]\nlisten = \"[::1]:0\"\n", err);
  ASSERT_TRUE(any.has_value()) << err.to_string();
  EXPECT_EQ(any->metrics_address, "::1");
  EXPECT_EQ(any->metrics_port, 0);
}

TEST(ConfigTest, EarliestErrorIsReported) {
  // Two mistakes: the one higher in the file comes back, as a compiler would do it.
  ExpectError(
      "[log]\nlevel = \"loud\"\n[node]\nname = \"n1\"\nlisten_port = 1e3\n"
      "[referee]\nenabled = true\n",
      2, "level");
}

TEST(ConfigTest, MissingName) {
  ConfigError err;
  ASSERT_FALSE(Parse("[node]\nlisten_port = 1\n[referee]\nenabled = true\n", err));
  EXPECT_EQ(err.file, kFile);
  EXPECT_EQ(err.line, 0);
  EXPECT_NE(err.message.find("missing required key 'name' in [node]"), std::string::npos);
  EXPECT_EQ(err.to_string().rfind("dipc.conf: missing required key 'name'", 0), 0u)
      << err.to_string();
  ExpectError("", 0, "'name'");
}

TEST(ConfigTest, MissingRefereeAddress) {
  ExpectError("[node]\nname = \"n1\"\n", 0, "missing [referee] address");
  ExpectError("[node]\nname = \"n1\"\n[referee]\nenabled = false\n", 0,
              "missing [referee] address");
}

TEST(ConfigTest, PeerTimeoutMustExceedHeartbeat) {
  ExpectError(std::string(kMinimal) + "[timeouts]\nheartbeat_ms = 2000\npeer_timeout_ms = 2000\n",
              7, "peer_timeout_ms (2000) must be greater than heartbeat_ms (2000)");
  // Only heartbeat_ms written: the line of heartbeat_ms is the one to blame.
  ExpectError(std::string(kMinimal) + "[timeouts]\nheartbeat_ms = 6000\n", 6,
              "peer_timeout_ms (5000) must be greater than heartbeat_ms (6000)");
  ConfigError err;
  EXPECT_TRUE(Parse(std::string(kMinimal) + "[timeouts]\nheartbeat_ms = 4999\n", err))
      << err.to_string();
}

// Parses a configuration with [referee] address = addr on line 4.
std::optional<Config> WithReferee(const std::string& addr, ConfigError& err) {
  return Parse("[node]\nname = \"n1\"\n[referee]\naddress = \"" + addr + "\"\n", err);
}

TEST(ConfigTest, RefereeAddress) {
  struct Good {
    std::string text, host;
    uint16_t port;
  };
  for (const Good& g : {Good{"10.0.0.1:7710", "10.0.0.1", 7710}, Good{"[::1]:7710", "::1", 7710},
                        Good{"[fd00::1:2]:1", "fd00::1:2", 1},
                        Good{"node-2.lan:65535", "node-2.lan", 65535}, Good{"ref:80", "ref", 80}}) {
    ConfigError err;
    auto cfg = WithReferee(g.text, err);
    ASSERT_TRUE(cfg.has_value()) << g.text << ": " << err.to_string();
    EXPECT_EQ(cfg->referee_host, g.host) << g.text;
    EXPECT_EQ(cfg->referee_port, g.port) << g.text;
  }
  for (const char* bad : {"10.0.0.1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:77a",
                          ":7710", "::1:7710", "[::1]7710", "[::1:7710", "[10.0.0.1]:7710",
                          "[zz::]:1", "10.0.0.256:1", "bad host:1", "10.0.1:7710"}) {
    ConfigError err;
    EXPECT_FALSE(WithReferee(bad, err).has_value()) << bad;
    EXPECT_EQ(err.line, 4) << bad << ": " << err.to_string();
    EXPECT_NE(err.message.find("[referee] address must be a string \"HOST:PORT\""),
              std::string::npos)
        << err.to_string();
  }
  ConfigError err;
  EXPECT_FALSE(Parse("[node]\nname = \"n1\"\n[referee]\naddress = 7710\n", err));
  EXPECT_EQ(err.line, 4);
}

TEST(ConfigTest, ErrorToString) {
  EXPECT_EQ((ConfigError{"a.conf", 3, "bad"}).to_string(), "a.conf:3: bad");
  EXPECT_EQ((ConfigError{"a.conf", 0, "bad"}).to_string(), "a.conf: bad");
}

TEST(ConfigTest, LoadConfig) {
  TempFile f("[node]\nname = \"disk\"\n[referee]\nenabled = true\n");
  ConfigError err;
  auto cfg = load_config(f.path(), err);
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  EXPECT_EQ(cfg->node_name, "disk");
  EXPECT_EQ(cfg->source, f.path());

  TempFile bad("[node]\nname = \"disk\"\nport = 1\n");
  EXPECT_FALSE(load_config(bad.path(), err));
  EXPECT_EQ(err.to_string().rfind(bad.path() + ":3: unknown key 'port'", 0), 0u) << err.to_string();

  std::string missing = f.dir() + "/nope.conf";
  EXPECT_FALSE(load_config(missing, err));
  EXPECT_EQ(err.file, missing);
  EXPECT_EQ(err.line, 0);
  EXPECT_NE(err.message.find("No such file or directory"), std::string::npos) << err.message;

  EXPECT_FALSE(load_config(f.dir(), err));  // a directory opens but cannot be read
  EXPECT_NE(err.message.find("Is a directory"), std::string::npos) << err.message;
}

// ---- [distribute] ----

TEST(ConfigTest, DistributeKeys) {
  ConfigError err;
  auto cfg = Parse(std::string(kMinimal) +
                       "[distribute]\n"
                       "keys = [40, 0x7000, \"41\", \"0x7100-0x71ff\", \"100-100\", "
                       "\"0-9\", 0xffffffff]\n",
                   err);
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  EXPECT_FALSE(cfg->distribute.all_keyed);
  const auto& k = cfg->distribute.keys;
  ASSERT_EQ(k.size(), 7u);
  EXPECT_EQ(k[0].lo, 40u);
  EXPECT_EQ(k[0].hi, 40u);
  EXPECT_EQ(k[1].lo, 0x7000u);
  EXPECT_EQ(k[2].lo, 41u);
  EXPECT_EQ(k[3].lo, 0x7100u);
  EXPECT_EQ(k[3].hi, 0x71ffu);
  EXPECT_EQ(k[4].lo, 100u);
  EXPECT_EQ(k[4].hi, 100u);
  EXPECT_EQ(k[5].lo, 0u);  // a range may start at 0; IPC_PRIVATE itself never matches
  EXPECT_EQ(k[5].hi, 9u);
  EXPECT_EQ(k[6].lo, 0xffffffffu);
  EXPECT_FALSE(keys::in_ranges(k.data(), k.size(), 0));
  EXPECT_TRUE(keys::in_ranges(k.data(), k.size(), 9));
  EXPECT_FALSE(keys::in_ranges(k.data(), k.size(), 10));
  EXPECT_TRUE(keys::in_ranges(k.data(), k.size(), 0x71ff));
  EXPECT_FALSE(keys::in_ranges(k.data(), k.size(), 0x7200));

  cfg = Parse(std::string(kMinimal) + "[distribute]\nall_keyed = true\nkeys = []\n", err);
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  EXPECT_TRUE(cfg->distribute.all_keyed);
  EXPECT_TRUE(cfg->distribute.keys.empty());

  cfg = Parse(kMinimal, err);  // the defaults: nothing is distributed by configuration
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  EXPECT_FALSE(cfg->distribute.all_keyed);
  EXPECT_TRUE(cfg->distribute.keys.empty());
}

TEST(ConfigTest, DistributeErrors) {
  std::string d = std::string(kMinimal) + "[distribute]\n";  // keys start on line 6
  ExpectError(d + "key = [40]\n", 6, "unknown key 'key' in [distribute] (known: keys, all_keyed)");
  ExpectError(d + "all_keyed = \"yes\"\n", 6, "[distribute] all_keyed must be true or false");
  // keys = VALUE on line 6, and what the message must say.
  const std::pair<const char*, const char*> kBad[] = {
      {"40", "[distribute] keys must be an array of keys and ranges"},
      {"\"40,41\"", "[distribute] keys must be an array"},
      {"[0]", "0: key 0 is IPC_PRIVATE"},
      {"[-1]", "-1 is negative: write a key unsigned, as ipcs prints it (0xffffffff)"},
      {"[0x100000000]", "key above 0xffffffff"},
      {"[1.5]", "items must be integers or strings"},
      {"[[1, 2]]", "items must be integers or strings"},
      {"[\"0x71ff-0x7100\"]", "LO greater than HI"},
      {"[\"40,41\"]", "\"40,41\": not a key"},
      {"[\" 40\"]", "not a key"},
      {"[\"\"]", "empty item"},
      {"[\"-5\"]", "not a key"},
      {"[\"5-\"]", "not a key"},
      {"[\"0x\"]", "not a key"},
      {"[\"0x1g\"]", "not a key"},
      {"[\"4\\u00000\"]", "not a key"},
  };
  for (const auto& [value, fragment] : kBad)
    ExpectError(d + "keys = " + value + "\n", 6, fragment);
  // The line of the offending item, not of the key.
  ExpectError(d + "keys = [\n  40,\n  41,\n  \"0x10-0x5\",\n]\n", 9, "LO greater than HI");
  std::string many = d + "keys = [";
  for (int i = 1; i <= 257; ++i) many += std::to_string(i) + ",";
  ExpectError(many + "]\n", 6, "holds 257 items, at most 256");
}

TEST(KeyRulesTest, ParseList) {
  keys::KeyRange r[keys::kMaxRanges];
  size_t n = 0, bad = 0, bad_len = 0;
  ASSERT_EQ(keys::parse_list("40,0x7000-0x70ff,0XAB", r, keys::kMaxRanges, &n, &bad, &bad_len),
            keys::ParseError::kNone);
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(r[1].lo, 0x7000u);
  EXPECT_EQ(r[1].hi, 0x70ffu);
  EXPECT_EQ(r[2].lo, 0xabu);
  EXPECT_EQ(keys::parse_list("40,,41", r, keys::kMaxRanges, &n, &bad, &bad_len),
            keys::ParseError::kEmpty);
  EXPECT_EQ(bad, 3u);
  EXPECT_EQ(bad_len, 0u);
  EXPECT_EQ(keys::parse_list("40,4x", r, keys::kMaxRanges, &n, &bad, &bad_len),
            keys::ParseError::kBadNumber);
  EXPECT_EQ(bad, 3u);
  EXPECT_EQ(bad_len, 2u);
  EXPECT_EQ(keys::parse_list("", r, keys::kMaxRanges, &n, &bad, &bad_len),
            keys::ParseError::kEmpty);
  EXPECT_EQ(keys::parse_list("40,", r, keys::kMaxRanges, &n, &bad, &bad_len),
            keys::ParseError::kEmpty);
  EXPECT_EQ(keys::parse_list("4294967296", r, keys::kMaxRanges, &n, &bad, &bad_len),
            keys::ParseError::kTooBig);
  EXPECT_EQ(keys::parse_list("99999999999999999999999", r, keys::kMaxRanges, &n, &bad, &bad_len),
            keys::ParseError::kTooBig);
  EXPECT_EQ(keys::parse_list("0", r, keys::kMaxRanges, &n, &bad, &bad_len),
            keys::ParseError::kPrivate);
  EXPECT_EQ(keys::parse_list("1-2-3", r, keys::kMaxRanges, &n, &bad, &bad_len),
            keys::ParseError::kBadNumber);
  EXPECT_EQ(keys::parse_list("1,2,3", r, 2, &n, &bad, &bad_len), keys::ParseError::kTooMany);
  EXPECT_EQ(bad, 4u);
}

TEST(KeyRulesTest, Format) {
  Config::Distribute d;
  EXPECT_EQ(format_key_rules(d), "none (only calls with IPC_DIPC)");
  d.keys = {{40, 40}, {0x7000, 0x70ff}};
  EXPECT_EQ(format_key_rules(d), "40 (0x28), 28672-28927 (0x7000-0x70ff)");
  d.all_keyed = true;
  EXPECT_EQ(format_key_rules(d), "every key but IPC_PRIVATE (all_keyed)");
  EXPECT_EQ(check_key_list("40,0x7000-0x70ff"), "");
  EXPECT_NE(check_key_list("40, 41").find("' 41': not a key"), std::string::npos)
      << check_key_list("40, 41");
  EXPECT_NE(check_key_list(std::string("40\0", 3)).find("NUL"), std::string::npos);
}

TEST(ConfigTest, SampleFilesParse) {
  std::filesystem::path root = SourceRoot();
  if (!std::filesystem::exists(root / "etc/dipc.conf"))
    GTEST_SKIP() << "source tree not found at " << root << " (set DIPC_SRC)";
  ConfigError err;
  auto cfg = load_config(root / "etc/dipc.conf", err);
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  // The sample shows the defaults.
  EXPECT_EQ(cfg->listen_address, "0.0.0.0");
  EXPECT_EQ(cfg->listen_port, 7710);
  EXPECT_EQ(cfg->run_dir, "/run/dipc");
  EXPECT_EQ(cfg->spin_us, Config{}.spin_us);
  EXPECT_EQ(cfg->allow_file, "/etc/dipc.allow");
  EXPECT_EQ(cfg->peer_timeout.count(), 5000);
  EXPECT_EQ(cfg->log_level, "info");
  EXPECT_FALSE(cfg->distribute.all_keyed);
  EXPECT_TRUE(cfg->distribute.keys.empty());
  auto allow = load_allow(root / "etc/dipc.allow", err);
  ASSERT_TRUE(allow.has_value()) << err.to_string();
  EXPECT_TRUE(allow->allows_text("127.0.0.1"));
  EXPECT_TRUE(allow->allows_text("10.0.0.77"));
  EXPECT_FALSE(allow->allows_text("192.168.1.20"));
}

// ---- writing dipc.conf (config_writer.h) ----

// A Config whose every field differs from its default, so that a field the writer leaves
// out (or the parser ignores) makes the round trip fail.
Config FullConfig() {
  Config c;
  c.node_name = "alpha-1.test_x";
  c.listen_address = "::1";
  c.listen_port = 7799;
  c.run_dir = "/var/run/dipc \"two\"\\x";  // quotes and a backslash must survive
  c.spin_us = 0;
  c.referee = true;
  c.referee_host = "referee.example.org";
  c.referee_port = 7711;
  c.allow_file = "/srv/dipc.allow";
  c.remote_root = true;
  c.secret_file = "/etc/dipc.secret";
  c.heartbeat_interval = std::chrono::milliseconds(250);
  c.peer_timeout = std::chrono::milliseconds(2500);
  c.connect_timeout = std::chrono::milliseconds(1500);
  c.log_level = "debug";
  c.log_target = "syslog";
  c.distribute.keys = {{40, 40}, {0x7000, 0x70ff}, {0, 9}, {0xffffffff, 0xffffffff}};
  c.distribute.all_keyed = true;
  c.dsm_segment_mode = true;
  c.dsm_quantum = std::chrono::milliseconds(7);
  c.dsm_attach_whole = true;
  c.metrics = true;
  c.metrics_address = "::1";
  c.metrics_port = 9710;
  c.fault_injection = true;
  c.source = kFile;
  return c;
}

// Writes cfg, parses the text back and expects the very same value.
void ExpectRoundTrip(const Config& cfg) {
  std::string text = format_config(cfg);
  ConfigError err;
  auto back = Parse(text, err);
  ASSERT_TRUE(back.has_value()) << err.to_string() << "\n" << text;
  EXPECT_TRUE(*back == cfg) << text;
  EXPECT_EQ(format_config(*back), text);
}

TEST(ConfigWriterTest, EveryFieldRoundTrips) {
  const Config full = FullConfig();
  const Config def;
  // This list fails to compile when Config gains or loses a field. Then: read the new key
  // in config.cc, write it in config_writer.cc (one function per section), give it a
  // value other than its default in FullConfig(), and name it here.
  const auto& [name, listen_address, listen_port, run_dir, spin_us, referee, referee_host, referee_port,
               allow_file, remote_root, secret_file, heartbeat, peer_timeout, connect_timeout,
               log_level, log_target, distribute, dsm_segment_mode, dsm_quantum, dsm_attach_whole, metrics,
               metrics_address, metrics_port, fault_injection, source] = full;
  EXPECT_NE(name, def.node_name);
  EXPECT_NE(listen_address, def.listen_address);
  EXPECT_NE(listen_port, def.listen_port);
  EXPECT_NE(run_dir, def.run_dir);
  EXPECT_NE(spin_us, def.spin_us);
  EXPECT_NE(referee, def.referee);
  EXPECT_NE(referee_host, def.referee_host);
  EXPECT_NE(referee_port, def.referee_port);
  EXPECT_NE(allow_file, def.allow_file);
  EXPECT_NE(remote_root, def.remote_root);
  EXPECT_NE(secret_file, def.secret_file);
  EXPECT_NE(heartbeat, def.heartbeat_interval);
  EXPECT_NE(peer_timeout, def.peer_timeout);
  EXPECT_NE(connect_timeout, def.connect_timeout);
  EXPECT_NE(log_level, def.log_level);
  EXPECT_NE(log_target, def.log_target);
  EXPECT_NE(distribute.keys, def.distribute.keys);
  EXPECT_NE(distribute.all_keyed, def.distribute.all_keyed);
  EXPECT_NE(dsm_segment_mode, def.dsm_segment_mode);
  EXPECT_NE(dsm_quantum, def.dsm_quantum);
  EXPECT_NE(dsm_attach_whole, def.dsm_attach_whole);
  EXPECT_NE(metrics, def.metrics);
  EXPECT_NE(metrics_address, def.metrics_address);
  EXPECT_NE(metrics_port, def.metrics_port);
  EXPECT_NE(fault_injection, def.fault_injection);
  EXPECT_EQ(source, kFile);
  ExpectRoundTrip(full);
}

TEST(ConfigWriterTest, VariantsRoundTrip) {
  Config c = FullConfig();
  c.referee_host = "fd00::7";  // written in brackets
  ExpectRoundTrip(c);
  c.referee_host = "10.1.2.3";
  c.referee_port = 65535;
  c.listen_port = 0;
  ExpectRoundTrip(c);
  c.secret_file.clear();                                // no secret: the key is left out
  c.run_dir = "/tmp/dipc\t\x01\x7f/\xc3\xa9t\xc3\xa9";  // control characters and UTF-8
  ExpectRoundTrip(c);
  EXPECT_EQ(format_config(c).find("secret_file"), std::string::npos);

  Config minimal;  // the defaults, a name and the referee: what kMinimal says
  minimal.node_name = "n1";
  minimal.referee = true;
  minimal.source = kFile;
  ExpectRoundTrip(minimal);
  EXPECT_EQ(format_config(minimal).find("\naddress"), std::string::npos);
}

TEST(ConfigWriterTest, TableCanBeChangedBeforeWriting) {
  Config c = FullConfig();
  toml::table doc = config_table(c);
  ASSERT_NE(doc["log"].as_table(), nullptr);
  doc["log"].as_table()->insert_or_assign("level", "trace");
  ConfigError err;
  auto back = Parse(toml_text(doc), err);
  ASSERT_TRUE(back.has_value()) << err.to_string();
  c.log_level = "trace";
  EXPECT_TRUE(*back == c);

  doc["log"].as_table()->insert_or_assign("colour", true);  // the parser stays the judge
  EXPECT_FALSE(Parse(toml_text(doc), err).has_value());
  EXPECT_NE(err.message.find("unknown key 'colour' in [log]"), std::string::npos) << err.message;
}

// ---- dipc.allow ----

std::optional<AllowList> ParseAllow(const std::string& text, ConfigError& err) {
  return parse_allow(text, "dipc.allow", err);
}

void ExpectAllowError(const std::string& text, int line, const std::string& fragment) {
  ConfigError err;
  ASSERT_FALSE(ParseAllow(text, err).has_value()) << text;
  EXPECT_EQ(err.file, "dipc.allow");
  EXPECT_EQ(err.line, line) << err.to_string();
  EXPECT_NE(err.message.find(fragment), std::string::npos) << err.to_string();
}

TEST(AllowTest, AddressesAndCidrs) {
  ConfigError err;
  auto list = ParseAllow(
      "# cluster\n"
      "\n"
      "   192.168.1.5   \n"
      "10.1.0.0/16 # lab\n"
      "\t2001:db8::7\n"
      "fd00:1::/64\n"
      "172.16.9.9/24\r\n",  // host bits set: the block is still 172.16.9.0/24
      err);
  ASSERT_TRUE(list.has_value()) << err.to_string();
  EXPECT_EQ(list->size(), 5u);
  EXPECT_TRUE(list->allows_text("192.168.1.5"));
  EXPECT_FALSE(list->allows_text("192.168.1.6"));
  EXPECT_TRUE(list->allows_text("10.1.0.1"));
  EXPECT_TRUE(list->allows_text("10.1.255.254"));
  EXPECT_FALSE(list->allows_text("10.2.0.1"));
  EXPECT_TRUE(list->allows_text("2001:db8::7"));
  EXPECT_FALSE(list->allows_text("2001:db8::8"));
  EXPECT_TRUE(list->allows_text("fd00:1::abcd:1"));
  EXPECT_TRUE(list->allows_text("fd00:1:0:0:ffff::1"));
  EXPECT_FALSE(list->allows_text("fd00:1:0:1::1"));
  EXPECT_TRUE(list->allows_text("172.16.9.200"));
  EXPECT_FALSE(list->allows_text("172.16.10.1"));
  // IPv4 as v4-mapped IPv6 matches the IPv4 entries.
  EXPECT_TRUE(list->allows_text("::ffff:10.1.2.3"));
  EXPECT_FALSE(list->allows_text("::ffff:10.2.2.3"));
  EXPECT_FALSE(list->allows_text("not-an-address"));
}

TEST(AllowTest, SockaddrFamilies) {
  ConfigError err;
  auto list = ParseAllow("10.0.0.0/8\n::1\n", err);
  ASSERT_TRUE(list.has_value()) << err.to_string();

  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(7710);
  inet_pton(AF_INET, "10.9.8.7", &sin.sin_addr);
  EXPECT_TRUE(list->allows(reinterpret_cast<sockaddr*>(&sin)));
  inet_pton(AF_INET, "11.0.0.1", &sin.sin_addr);
  EXPECT_FALSE(list->allows(reinterpret_cast<sockaddr*>(&sin)));

  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
  EXPECT_TRUE(list->allows(reinterpret_cast<sockaddr*>(&sin6)));
  inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6.sin6_addr);  // as accept() on a "::" socket
  EXPECT_TRUE(list->allows(reinterpret_cast<sockaddr*>(&sin6)));
  inet_pton(AF_INET6, "::2", &sin6.sin6_addr);
  EXPECT_FALSE(list->allows(reinterpret_cast<sockaddr*>(&sin6)));
  // "10.0.0.1" in IPv4-compatible (not mapped) form is a different address.
  inet_pton(AF_INET6, "::10.0.0.1", &sin6.sin6_addr);
  EXPECT_FALSE(list->allows(reinterpret_cast<sockaddr*>(&sin6)));

  sockaddr unix_addr{};
  unix_addr.sa_family = AF_UNIX;
  EXPECT_FALSE(list->allows(&unix_addr));
  EXPECT_FALSE(list->allows(nullptr));
}

TEST(AllowTest, WholeRanges) {
  ConfigError err;
  auto v4 = ParseAllow("0.0.0.0/0\n", err);
  ASSERT_TRUE(v4.has_value()) << err.to_string();
  EXPECT_TRUE(v4->allows_text("203.0.113.9"));
  EXPECT_FALSE(v4->allows_text("2001:db8::1"));  // every IPv4 address, no IPv6 one
  auto v6 = ParseAllow("::/0\n", err);
  ASSERT_TRUE(v6.has_value()) << err.to_string();
  EXPECT_TRUE(v6->allows_text("2001:db8::1"));
  EXPECT_TRUE(v6->allows_text("203.0.113.9"));    // v4-mapped is inside ::/0
  auto odd = ParseAllow("10.0.0.128/25\n", err);  // a prefix that is not a byte boundary
  ASSERT_TRUE(odd.has_value()) << err.to_string();
  EXPECT_TRUE(odd->allows_text("10.0.0.255"));
  EXPECT_FALSE(odd->allows_text("10.0.0.127"));
}

TEST(AllowTest, HostName) {
  ConfigError err;
  auto list = ParseAllow("localhost  # resolved when read\n", err);
  ASSERT_TRUE(list.has_value()) << err.to_string();
  EXPECT_GE(list->size(), 1u);
  EXPECT_TRUE(list->allows_text("127.0.0.1"));
  EXPECT_FALSE(list->allows_text("127.0.0.2"));
  EXPECT_FALSE(list->allows_text("10.0.0.1"));
}

TEST(AllowTest, BadLines) {
  ExpectAllowError("10.0.0.1\n\n10.0.0.0/33\n", 3, "bad prefix length '33'");
  ExpectAllowError("fd00::/129\n", 1, "must be 0..128 for IPv6");
  ExpectAllowError("# c\n10.0.0.0/\n", 2, "bad prefix length");
  ExpectAllowError("10.0.0.0/8x\n", 1, "bad prefix length");
  ExpectAllowError("10.0.0.0/-1\n", 1, "bad prefix length");
  ExpectAllowError("10.0.0/8\n", 1, "not an IPv4 or IPv6 address");
  ExpectAllowError("::1\n10.0.0.1 10.0.0.2\n", 2, "not an address, CIDR block or host name");
  ExpectAllowError("\n\n\n$$$\n", 4, "not an address");
  ExpectAllowError("10.0.0.300\n", 1, "not an address");
  ExpectAllowError("10.1\n", 1, "not an address");  // not read as 10.0.0.1
  ExpectAllowError("127.0.0.1\nno-such-host.invalid\n", 2,
                   "cannot resolve host name 'no-such-host.invalid'");
}

TEST(AllowTest, EmptyAllowsNothing) {
  ConfigError err;
  auto list = ParseAllow("# nobody\n\n   \n", err);
  ASSERT_TRUE(list.has_value()) << err.to_string();
  EXPECT_EQ(list->size(), 0u);
  EXPECT_FALSE(list->allows_text("127.0.0.1"));
  EXPECT_FALSE(list->allows_text("::1"));
  auto none = ParseAllow("", err);
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->allows_text("10.0.0.1"));
}

TEST(AllowTest, LoadAllow) {
  TempFile f("# allow\n10.0.0.0/8\n");
  ConfigError err;
  auto list = load_allow(f.path(), err);
  ASSERT_TRUE(list.has_value()) << err.to_string();
  EXPECT_TRUE(list->allows_text("10.4.4.4"));

  TempFile bad("10.0.0.0/8\nfoo bar\n");
  EXPECT_FALSE(load_allow(bad.path(), err));
  EXPECT_EQ(err.file, bad.path());
  EXPECT_EQ(err.line, 2);

  EXPECT_FALSE(load_allow(f.dir() + "/missing.allow", err));
  EXPECT_EQ(err.line, 0);
  EXPECT_NE(err.message.find("No such file or directory"), std::string::npos) << err.message;
}

// ---- [dsm] ----

TEST(ConfigTest, DsmKeys) {
  ConfigError err;
  auto cfg = Parse(kMinimal, err);
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  EXPECT_FALSE(cfg->dsm_segment_mode);
  EXPECT_EQ(cfg->dsm_quantum.count(), 2);
  cfg = Parse(std::string(kMinimal) + "[dsm]\nmode = \"segment\"\nquantum = 0\n", err);
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  EXPECT_TRUE(cfg->dsm_segment_mode);
  EXPECT_EQ(cfg->dsm_quantum.count(), 0);
  EXPECT_FALSE(cfg->dsm_attach_whole);
  cfg = Parse(std::string(kMinimal) + "[dsm]\nattach = \"whole\"\n", err);
  ASSERT_TRUE(cfg.has_value()) << err.to_string();
  EXPECT_TRUE(cfg->dsm_attach_whole);
  ExpectError(std::string(kMinimal) + "[dsm]\nattach = \"all\"\n", 6, "\"fault\" or \"whole\"");
  ExpectError(std::string(kMinimal) + "[dsm]\nmode = \"pages\"\n", 6, "\"page\" or \"segment\"");
  ExpectError(std::string(kMinimal) + "[dsm]\nquantum = -1\n", 6, "quantum");
  ExpectError(std::string(kMinimal) + "[dsm]\nquantum = 60001\n", 6, "quantum");
  ExpectError(std::string(kMinimal) + "[dsm]\nquanta = 1\n", 6, "unknown key 'quanta' in [dsm]");
}

}  // namespace
}  // namespace dipc
