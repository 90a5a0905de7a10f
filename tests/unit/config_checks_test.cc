// dipcd's checks beyond parsing (dipcd/config_checks.h): what --check fails on or warns
// about, the allow file's fix, and which changed keys a SIGHUP cannot apply.
#include "dipcd/config_checks.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <grp.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

namespace dipc::daemon {
namespace {

Config Base(const std::string& dir) {
  Config c;
  c.node_name = "n1";
  c.referee = true;
  c.run_dir = dir + "/run";
  c.source = dir + "/dipc.conf";
  return c;
}

std::string TempDir() {
  char t[] = "/tmp/dipc-checks-XXXXXX";
  EXPECT_NE(mkdtemp(t), nullptr);
  return t;
}

TEST(Preflight, CleanConfigurationHasNoFindings) {
  std::string dir = TempDir();
  EXPECT_TRUE(preflight(Base(dir), 1, true).empty());
  rmdir(dir.c_str());
}

TEST(Preflight, UnresolvableRefereeHostIsFatal) {
  std::string dir = TempDir();
  Config c = Base(dir);
  c.referee = false;
  c.referee_host = "no-such-host.invalid";  // RFC 6761: never resolves
  c.referee_port = 7710;
  auto f = preflight(c, 1, true);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(f[0].fatal);
  EXPECT_NE(f[0].message.find("[referee] address"), std::string::npos) << f[0].message;
  EXPECT_NE(f[0].message.find("no-such-host.invalid"), std::string::npos);
  c.referee_host = "127.0.0.1";
  EXPECT_TRUE(preflight(c, 1, true).empty());
  rmdir(dir.c_str());
}

TEST(Preflight, RunDirWithoutParentIsFatal) {
  std::string dir = TempDir();
  Config c = Base(dir);
  c.run_dir = dir + "/missing/run";
  auto f = preflight(c, 1, true);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(f[0].fatal);
  EXPECT_NE(f[0].message.find("[node] run_dir"), std::string::npos) << f[0].message;
  EXPECT_NE(f[0].message.find(dir + "/missing"), std::string::npos) << f[0].message;
  rmdir(dir.c_str());
}

TEST(Preflight, EmptyAllowFileWarns) {
  std::string dir = TempDir();
  auto f = preflight(Base(dir), 0, true);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_FALSE(f[0].fatal);
  EXPECT_NE(f[0].message.find("allow file is empty"), std::string::npos) << f[0].message;
  rmdir(dir.c_str());
}

TEST(Preflight, NonRootWarnsItMayNotCreateRunDir) {
  // access() says what this user may do: as root every directory is writable, so the check
  // runs in a child that has become nobody (cli.sh checks the warning with dipcd --check
  // run as nobody too). The child's exit status says which expectation failed.
  auto check = [] {
    Config c = Base("/tmp");
    c.run_dir = "/proc/dipc-run";
    auto f = preflight(c, 1, false);
    if (f.size() != 1) return 1;
    if (f[0].fatal) return 2;
    if (f[0].message.find("may not create it in /proc") == std::string::npos) return 3;
    return 0;
  };
  if (geteuid() != 0) {
    EXPECT_EQ(check(), 0);
    return;
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0)
      _exit(9);
    _exit(check());
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: not one finding, 2: fatal, 3: wrong message, 9: could not become nobody";
}

TEST(AllowFileProblem, MissingFileNamesTheKeyAndAFix) {
  Config c;
  c.allow_file = "/nonexistent/dipc.allow";
  c.source = "/etc/dipc.conf";
  ConfigError e{c.allow_file, 0, "cannot open: No such file or directory"};
  std::string s = allow_file_problem(c, e);
  EXPECT_NE(s.find("/nonexistent/dipc.allow"), std::string::npos) << s;
  EXPECT_NE(s.find("[security] allow_file in /etc/dipc.conf"), std::string::npos) << s;
  EXPECT_NE(s.find("dipc.allow(5)"), std::string::npos) << s;
}

TEST(KeysNeedingRestart, LevelAndAllowFileApplyEverythingElseIsNamed) {
  Config a;
  Config b = a;
  b.log_level = "debug";
  b.allow_file = "/etc/other.allow";
  EXPECT_TRUE(keys_needing_restart(a, b).empty());
  b.log_target = "journal";
  b.peer_timeout = std::chrono::milliseconds(9000);
  b.remote_root = true;
  auto k = keys_needing_restart(a, b);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[0], "[security] remote_root");
  EXPECT_EQ(k[1], "[timeouts] peer_timeout_ms");
  EXPECT_EQ(k[2], "[log] target");
}

}  // namespace
}  // namespace dipc::daemon
