// Processes of the `dipc cluster` commands: recognising a node's dipcd, exit statuses,
// running helper programs (ip) under a time bound, the daemons' environment, and turning
// SIGINT/SIGTERM/SIGHUP into a flag while `up` works.
//
// Single-threaded like the commands. InterruptGuard installs process-wide signal handlers
// for its lifetime; make at most one at a time.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace dipc::tools::cluster {

// A helper command (ip) is killed after this long.
constexpr auto kCommandTimeout = std::chrono::seconds(5);

// A zombie counts as dead: its namespaces are already released, and nothing may reap it
// if its parent (the `up` that started it) is gone and init does not.
bool ProcessAlive(pid_t pid);

// The pid of node k's running dipcd in dir, or 0. A pid file can outlive its process and
// the pid be reused, so a pid is only ours if the process runs with the node's config file.
pid_t RunningPid(const std::string& dir, int k);

std::string SignalName(int sig);         // "SIGTERM"
std::string DescribeStatus(int status);  // "exited with status 2", "was killed by SIGKILL"
int ExitCodeOf(int status);              // the status, or 128 + the signal

std::string JoinArgs(const std::vector<std::string>& argv);
// argv for exec: pointers into args (which must outlive the result), then nullptr.
std::vector<char*> ArgvOf(std::vector<std::string>& args);

// Runs a helper (args[0] an absolute path) with its output captured, killed after
// kCommandTimeout. Returns the exit code (128+signal when killed) and fills output.
int RunCommand(std::vector<std::string> args, std::string* output);

// The `ip` binary (iproute2), or "" when there is none.
std::string FindIp();

// The environment for dipcd: ours, minus the shim (a daemon must not intercept its own
// System V calls) and minus DIPC_RUNDIR (its run dir comes from its config).
std::vector<std::string> DaemonEnvironment(const std::string& shim);

// Turns SIGINT/SIGTERM/SIGHUP into a flag while up works, so that an interrupted up
// still tears down what it made instead of leaving namespaces and daemons behind.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // Throws a Failure (exit status 128 + the signal) once a signal has come.
  static void Check();

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3];
};

}  // namespace dipc::tools::cluster
