// Processes of the `dipc cluster` commands (see cluster_processes.h).
#include "tools/cluster_processes.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tools/cluster_files.h"
#include "tools/cluster_layout.h"

extern char** environ;

namespace dipc::tools::cluster {
namespace {

using std::chrono::milliseconds;

bool RunsConfig(pid_t pid, const std::string& config) {
  std::string cmdline;
  if (!ReadFile("/proc/" + std::to_string(pid) + "/cmdline", &cmdline)) return false;
  size_t start = 0;
  while (start < cmdline.size()) {
    size_t end = cmdline.find('\0', start);
    if (end == std::string::npos) end = cmdline.size();
    if (cmdline.compare(start, end - start, config) == 0) return true;
    start = end + 1;
  }
  return false;
}

volatile sig_atomic_t g_interrupted = 0;

void OnInterrupt(int sig) { g_interrupted = sig; }

}  // namespace

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  std::string stat;
  if (!ReadFile("/proc/" + std::to_string(pid) + "/stat", &stat)) return false;
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return true;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

pid_t RunningPid(const std::string& dir, int k) {
  std::string text;
  if (!ReadFile(PidPath(dir, k), &text)) return 0;
  auto pid = ParseNumber(text, 1, INT_MAX);
  if (!pid) return 0;
  pid_t p = static_cast<pid_t>(*pid);
  return ProcessAlive(p) && RunsConfig(p, ConfigPath(dir, k)) ? p : 0;
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "was killed by " + SignalName(WTERMSIG(status));
  }
  return "stopped";
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string JoinArgs(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

std::vector<char*> ArgvOf(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (auto& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

int RunCommand(std::vector<std::string> args, std::string* output) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) throw Failure("pipe: " + ErrnoText(errno));
  std::vector<char*> argv = ArgvOf(args);
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    throw Failure("fork: " + ErrnoText(err));
  }
  if (pid == 0) {
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    execv(argv[0], argv.data());
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(pipefd[1]);
  output->clear();
  auto deadline = Clock::now() + kCommandTimeout;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buf[1024];
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output->append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    *output += "(killed after " + std::to_string(kCommandTimeout.count()) + " s)";
    return 128 + SIGKILL;
  }
  return ExitCodeOf(status);
}

std::string FindIp() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(p, X_OK) == 0) return p;
  }
  const char* path = std::getenv("PATH");
  for (const std::string& dir : SplitList(path != nullptr ? path : "", ":")) {
    std::string candidate = dir + "/ip";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::vector<std::string> DaemonEnvironment(const std::string& shim) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string var = *e;
    if (var.rfind("DIPC_RUNDIR=", 0) == 0) continue;
    if (var.rfind("LD_PRELOAD=", 0) == 0) {
      std::string kept;
      for (const std::string& item : SplitList(var.substr(11), " :")) {
        bool is_shim =
            item == shim || (item.size() >= 10 && item.rfind("libdipc.so") == item.size() - 10);
        if (!is_shim) kept += (kept.empty() ? "" : " ") + item;
      }
      if (!kept.empty()) env.push_back("LD_PRELOAD=" + kept);
      continue;
    }
    env.push_back(var);
  }
  return env;
}

InterruptGuard::InterruptGuard() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &old_[i]);
}

InterruptGuard::~InterruptGuard() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &old_[i], nullptr);
}

void InterruptGuard::Check() {
  if (g_interrupted != 0) {
    throw Failure("interrupted by " + SignalName(g_interrupted), 128 + g_interrupted);
  }
}

}  // namespace dipc::tools::cluster
