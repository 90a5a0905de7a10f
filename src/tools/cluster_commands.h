// The three `dipc cluster` commands, one file each: cluster_up.cc, cluster_exec.cc and
// cluster_down.cc (which also holds Teardown, shared with a failed `up`). cluster.cc
// turns the command line into these options and prints a Failure.
//
// Each command runs in its own short-lived, single-threaded `dipc` process, so all state
// lives in the cluster directory (cluster_layout.h). The commands throw Failure for what
// the user should read, and return the exit status otherwise. Every wait is bounded: up
// gives up after kUpTimeout, down escalates to SIGKILL after kStopTimeout, helper commands
// are killed after kCommandTimeout (cluster_processes.h).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tools/cluster.h"
#include "tools/cluster_layout.h"

namespace CLI {
class Option;
}

namespace dipc::tools::cluster {

// Short on purpose: failure tests wait for peer_timeout_ms to see a node declared dead.
constexpr int kDefaultHeartbeatMs = 200;
constexpr int kDefaultPeerTimeoutMs = 2000;
constexpr auto kUpTimeout = std::chrono::seconds(15);
// With a node under qemu-user (--arch), which starts several times slower.
constexpr auto kUpTimeoutEmulated = std::chrono::seconds(45);
constexpr auto kStopTimeout = std::chrono::seconds(5);
constexpr auto kKillTimeout = std::chrono::seconds(2);

struct UpOptions {
  int nodes = 0;
  std::string dir;
  bool netns = false;
  int heartbeat_ms = kDefaultHeartbeatMs;
  int peer_timeout_ms = kDefaultPeerTimeoutMs;
  std::string allow;
  CLI::Option* allow_option = nullptr;  // given on the command line when its count() > 0
  std::vector<std::string> settings;    // --set SECTION.KEY=VALUE, in order (cluster_config.h)
  bool fix_perms = false;               // --fix-perms: add o+x where DIR's path lacks it
  bool no_secret = false;               // --no-secret: no DIR/cluster.secret, links in clear
  std::vector<std::string> arch;        // --arch NODE=ARCH, in order (cluster_arch.h)
};

struct ExecOptions {
  std::string node;
  std::string dir;
  std::vector<std::string> command;
};

struct DownOptions {
  std::string dir;
};

int CmdUp(const ToolPaths& paths, const UpOptions& o);
int CmdExec(const ToolPaths& paths, const ExecOptions& o);
int CmdDown(const DownOptions& o);

// Stops every dipcd of the cluster in dir and removes the namespaces. children are
// daemons this process started and has not reaped (a failed up): they are stopped even if
// they have not reached exec yet, when their command line does not show the config file.
// Returns the problems it could not fix (empty when all is clean).
std::vector<std::string> Teardown(const std::string& dir, const std::optional<Layout>& l,
                                  int* stopped,
                                  const std::vector<std::pair<int, pid_t>>& children = {});

// "\n  PROBLEM" for each, to append to a message.
std::string JoinProblems(const std::vector<std::string>& problems);

}  // namespace dipc::tools::cluster
