// `dipc cluster up` (cluster_commands.h): makes the namespaces, writes each node's
// configuration and allow file, starts node1 (the referee) and then the others pointed at
// it, and waits until every node has joined. Whatever stops it (a failure, a signal, the
// kUpTimeout deadline) tears down everything it made before it returns.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

#include "tools/cluster_arch.h"
#include "tools/cluster_commands.h"
#include "tools/cluster_config.h"
#include "tools/cluster_files.h"
#include "tools/cluster_namespaces.h"
#include "tools/cluster_processes.h"

namespace dipc::tools::cluster {
namespace {

constexpr int kLogTailLines = 20;

std::chrono::seconds UpTimeout(const Layout& l) {
  for (int k = 1; k <= l.nodes; ++k)
    if (!l.arch_of(k).empty()) return kUpTimeoutEmulated;
  return kUpTimeout;
}

std::string AllowText(const Layout& l, const UpOptions& o) {
  if (o.allow_option != nullptr && o.allow_option->count() > 0) {
    return o.allow.empty() || o.allow.back() == '\n' ? o.allow : o.allow + "\n";
  }
  return "# Written by `dipc cluster up`: the cluster's own addresses.\n" +
         (l.netns ? Subnet(l.id) + ".0/24\n" : std::string("127.0.0.0/8\n"));
}

struct NodeRun {
  pid_t pid = 0;
  off_t log_offset = 0;
  int port = 0;
  std::string port_text;  // the port file's content at the last look, for a time-out report
  bool joined = false;
  bool reaped = false;  // waited for: the pid may belong to someone else now
};

// Starts node k's dipcd detached (own session, stdin from /dev/null, output appended to
// its log) inside the node's namespaces, and records its pid.
void StartDaemon(const Layout& l, int k, const ToolPaths& paths, NodeRun& run) {
  std::time_t now = std::time(nullptr);
  char stamp[64];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::string log = LogPath(l.dir, k);
  run.log_offset = AppendFile(log, std::string("==== dipc cluster up: starting ") + NodeName(k) +
                                       " at " + stamp + " ====\n");

  std::vector<std::string> args = {paths.dipcd, "--config", ConfigPath(l.dir, k)};
  if (const Arch* a = FindArch(l.arch_of(k))) {
    // A node of another architecture: its own dipcd, under qemu-user (cluster_arch.h).
    args = QemuPrefix(FindQemu(*a), *a);
    args.insert(args.end(), {CrossDipcd(paths, *a), "--config", ConfigPath(l.dir, k)});
  }
  std::vector<char*> argv = ArgvOf(args);
  std::vector<std::string> env_strings = DaemonEnvironment(paths.shim);
  std::vector<char*> envp = ArgvOf(env_strings);
  std::string ipcns = IpcnsPath(l.dir, k);
  std::string netns = l.netns ? NetnsPath(NetnsName(l.id, k)) : "";

  pid_t pid = fork();
  if (pid < 0) throw Failure("fork: " + ErrnoText(errno));
  if (pid == 0) {
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0) dup2(in, 0);
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (int err = EnterNamespace(ipcns.c_str(), CLONE_NEWIPC)) {
      dprintf(2, "dipc: cannot enter IPC namespace %s: %s\n", ipcns.c_str(), strerror(err));
      _exit(126);
    }
    if (!netns.empty()) {
      if (int err = EnterNamespace(netns.c_str(), CLONE_NEWNET)) {
        dprintf(2, "dipc: cannot enter network namespace %s: %s\n", netns.c_str(), strerror(err));
        _exit(126);
      }
    }
    close_range(3, ~0U, 0);
    execve(argv[0], argv.data(), envp.data());
    dprintf(2, "dipc: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  run.pid = pid;
  WriteFileAtomic(PidPath(l.dir, k), std::to_string(pid) + "\n");
}

Failure NodeFailure(const Layout& l, int k, const NodeRun& run, const std::string& reason) {
  return Failure(NodeName(k) + " " + reason + "\nlast lines of " + LogPath(l.dir, k) + ":\n" +
                 LogTail(LogPath(l.dir, k), run.log_offset, kLogTailLines));
}

// The port in run.port_text (the port file as just read), or 0 while it is incomplete.
// Only a whole line counts: a daemon that writes the file in place can be caught half
// way ("412" of "41235\n"), one that writes a temporary file and renames it never is,
// and neither ever leaves a whole line that is not a port number.
int PortOf(const Layout& l, int k, const NodeRun& run) {
  const std::string& text = run.port_text;
  if (text.empty() || text.back() != '\n') return 0;
  auto port = ParseNumber(text.substr(0, text.size() - 1), 1, 65535);
  if (!port || text.find('\n') != text.size() - 1) {
    throw NodeFailure(l, k, run,
                      "wrote a port file that is not a port number: run/dipcd.port holds \"" +
                          OneLine(text) + "\"");
  }
  return static_cast<int>(*port);
}

// Polls the nodes in [first, last] until each has written its port file and, with
// needs_join, says joined in its state file. Throws on a dead daemon (also one that was
// ready and died while others were not yet), a refusal, an interrupt or the deadline.
void WaitForNodes(const Layout& l, std::vector<NodeRun>& runs, int first, int last, bool needs_join,
                  Clock::time_point deadline) {
  for (;;) {
    InterruptGuard::Check();
    bool all = true;
    for (int k = first; k <= last; ++k) {
      NodeRun& run = runs[k];
      int status = 0;
      if (waitpid(run.pid, &status, WNOHANG) == run.pid) {
        run.reaped = true;
        throw NodeFailure(l, k, run, "failed: its dipcd " + DescribeStatus(status));
      }
      if (run.port != 0 && (run.joined || !needs_join)) continue;
      std::string text;
      std::string state = ReadFile(RunDir(l.dir, k) + "/state", &text) ? Trim(text) : "";
      if (state.rfind("refused", 0) == 0) {
        std::string reason = Trim(state.substr(7));
        if (!reason.empty() && reason[0] == ':') reason = Trim(reason.substr(1));
        throw NodeFailure(
            l, k, run,
            "was refused by the cluster: " + (reason.empty() ? "no reason given" : reason));
      }
      if (run.port == 0 && ReadFile(RunDir(l.dir, k) + "/dipcd.port", &run.port_text)) {
        run.port = PortOf(l, k, run);
      }
      run.joined = state == "joined";
      if (run.port == 0 || (needs_join && !run.joined)) all = false;
    }
    if (all) return;
    if (Clock::now() >= deadline) {
      for (int k = first; k <= last; ++k) {
        const NodeRun& run = runs[k];
        if (run.port != 0 && (run.joined || !needs_join)) continue;
        std::string text;
        std::string state = ReadFile(RunDir(l.dir, k) + "/state", &text) ? Trim(text) : "";
        std::string what;
        if (run.port != 0) {
          what = "did not join (state: " + (state.empty() ? std::string("none yet") : state) + ")";
        } else if (run.port_text.empty()) {
          what = "did not write its port file (run/dipcd.port)";
        } else {
          what = "did not finish its port file (run/dipcd.port holds \"" + OneLine(run.port_text) +
                 "\", no whole line)";
        }
        throw NodeFailure(l, k, run,
                          what + " within " + std::to_string(UpTimeout(l).count()) + " s of `up`");
      }
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Prepares the node's directory: stale run files would make a dead daemon look ready.
void PrepareNode(const Layout& l, int k, const UpOptions& o) {
  MakeDir(NodeDir(l.dir, k));
  MakeDir(RunDir(l.dir, k));
  for (const char* f : {"state", "dipcd.port", "dipcd.sock"}) {
    RemoveIfExists(RunDir(l.dir, k) + "/" + f);
  }
  RemoveIfExists(PidPath(l.dir, k));
  WriteFileAtomic(AllowPath(l.dir, k), AllowText(l, o));
  MakeIpcNamespace(IpcnsPath(l.dir, k));
}

// A fresh cluster secret: 32 random bytes as 64 hex digits, readable by root only (dipcd
// refuses a secret file that others can read).
void MakeSecret(const std::string& path) {
  unsigned char raw[32];
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, raw, sizeof raw) != ssize_t(sizeof raw)) {
    if (fd >= 0) close(fd);
    throw Failure("cannot read /dev/urandom for the cluster secret: " + std::string(strerror(errno)));
  }
  close(fd);
  std::string hex;
  static const char kDigits[] = "0123456789abcdef";
  for (unsigned char b : raw) {
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  std::string tmp = path + ".tmp";
  fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Failure("cannot write " + tmp + ": " + strerror(errno));
  hex += "\n";
  bool ok = write(fd, hex.data(), hex.size()) == ssize_t(hex.size());
  fchmod(fd, 0600);
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0)
    throw Failure("cannot write " + path + ": " + strerror(errno));
}

// Fills runs (index = node number) as daemons start, so a failure can stop them.
void BuildCluster(const Layout& l, const UpOptions& o, const std::vector<Setting>& settings,
                  const ToolPaths& paths, const std::string& ip_binary, Clock::time_point deadline,
                  std::vector<NodeRun>& runs) {
  // Making namespaces is quick, but the whole of up is bounded, so check as it goes.
  auto check = [&] {
    InterruptGuard::Check();
    if (Clock::now() >= deadline) {
      throw Failure("setting up the nodes took more than " + std::to_string(UpTimeout(l).count()) +
                    " s");
    }
  };
  if (!o.no_secret) MakeSecret(SecretPath(l.dir));
  for (int k = 1; k <= l.nodes; ++k) {
    check();
    PrepareNode(l, k, o);
  }
  if (l.netns) MakeNetwork(l, Ip(ip_binary), check);
  check();

  // node1 first: every other node's config names the referee's actual port.
  runs.assign(l.nodes + 1, NodeRun{});
  WriteFileAtomic(ConfigPath(l.dir, 1), NodeConfigText(l, 1, o, settings, "", 0));
  StartDaemon(l, 1, paths, runs[1]);
  WaitForNodes(l, runs, 1, 1, false, deadline);
  auto referee_port = static_cast<uint16_t>(runs[1].port);
  for (int k = 2; k <= l.nodes; ++k) {
    WriteFileAtomic(ConfigPath(l.dir, k),
                    NodeConfigText(l, k, o, settings, NodeAddress(l, 1), referee_port));
    StartDaemon(l, k, paths, runs[k]);
  }
  WaitForNodes(l, runs, 1, l.nodes, true, deadline);
  for (int k = 1; k <= l.nodes; ++k) {
    std::printf("%s %s:%d pid %d\n", NodeName(k).c_str(), NodeAddress(l, k).c_str(), runs[k].port,
                static_cast<int>(runs[k].pid));
  }
  std::fflush(stdout);
}

}  // namespace

int CmdUp(const ToolPaths& paths, const UpOptions& o) {
  std::vector<Setting> settings = ParseSettings(o.settings);
  // A --set of a time-out wins over the options; then the parser judges the result.
  bool timeouts_set = std::any_of(settings.begin(), settings.end(),
                                  [](const Setting& s) { return s.section == "timeouts"; });
  if (!timeouts_set && o.peer_timeout_ms <= o.heartbeat_ms) {
    throw Failure("--peer-timeout-ms (" + std::to_string(o.peer_timeout_ms) +
                  ") must be greater than --heartbeat-ms (" + std::to_string(o.heartbeat_ms) + ")");
  }
  if (paths.dipcd.empty() || access(paths.dipcd.c_str(), X_OK) != 0) {
    throw Failure(
        "dipcd not found at " + (paths.dipcd.empty() ? std::string("(no path)") : paths.dipcd) +
        "\n  build it (cmake --build build) or install DIPC; dipc looks for it in ../sbin "
        "next to its own bin directory");
  }
  std::string ip_binary;
  if (o.netns) {
    ip_binary = FindIp();
    if (ip_binary.empty()) {
      throw Failure("--netns needs the `ip` command: apt-get install iproute2");
    }
  }

  Layout l;
  l.nodes = o.nodes;
  l.netns = o.netns;
  l.arch = ParseArchOptions(o.arch, o.nodes);
  for (int k = 1; k <= l.nodes; ++k) {
    const Arch* a = FindArch(l.arch_of(k));
    if (a == nullptr) continue;
    if (FindQemu(*a).empty()) {
      throw Failure("--arch " + NodeName(k) + "=" + a->name + " needs qemu-user (qemu-" +
                    a->qemu + "-static): apt-get install qemu-user-static, or run scripts/cross.sh");
    }
    for (const std::string& need : {CrossDipcd(paths, *a), CrossShim(paths, *a)}) {
      if (!IsElfFor(need, *a)) {
        throw Failure("--arch " + NodeName(k) + "=" + a->name + ": no " + a->name + " build at " +
                      need + "\n  build one with scripts/cross.sh " + a->name +
                      " (or point $DIPC_CROSS_DIR at a directory holding " + a->name + "/)");
      }
    }
  }
  // Refusals come before anything is made: the settings, then the directory's modes.
  l.dir = ResolveDir(o.dir, false);
  CheckSettings(l, o, settings);
  EnsureSearchable(l.dir, o.fix_perms);
  l.dir = ResolveDir(o.dir, true);
  DirLock lock(l.dir);
  // The clock starts once the directory is ours: waiting for another command's lock is
  // bounded separately.
  auto deadline = Clock::now() + UpTimeout(l);
  std::optional<Layout> old = LoadLayout(l.dir);
  for (int k : KnownNodes(l.dir, old)) {
    if (pid_t pid = RunningPid(l.dir, k)) {
      throw Failure("a cluster is already running in " + l.dir + " (" + NodeName(k) + ", pid " +
                    std::to_string(pid) + ")\n  stop it with `dipc cluster down --dir " + l.dir +
                    "`, or use another --dir");
    }
  }
  // Leftovers of a cluster that died without `down` (mounts, namespaces) go first.
  std::vector<std::string> problems = Teardown(l.dir, old, nullptr);
  if (!problems.empty()) {
    throw Failure("cannot clean up what an earlier cluster left in " + l.dir + ":" +
                  JoinProblems(problems));
  }
  for (int k = 1; k <= l.nodes; ++k) EnsureSearchable(RunDir(l.dir, k), o.fix_perms);
  l.id = ChooseId(l.dir, l.netns);
  SaveLayout(l);

  InterruptGuard guard;
  std::vector<NodeRun> runs;
  try {
    BuildCluster(l, o, settings, paths, ip_binary, deadline, runs);
  } catch (const std::exception& e) {
    // Anything that stops the build, expected or not, must not leave namespaces behind.
    const auto* failure = dynamic_cast<const Failure*>(&e);
    std::string message = e.what();
    if (message.empty() || message.back() != '\n') message += '\n';
    std::fprintf(stderr, "dipc cluster up: %s", message.c_str());
    std::vector<std::pair<int, pid_t>> children;
    for (int k = 1; k < static_cast<int>(runs.size()); ++k) {
      if (runs[k].pid > 0 && !runs[k].reaped) children.emplace_back(k, runs[k].pid);
    }
    problems = Teardown(l.dir, l, nullptr, children);
    if (!problems.empty()) {
      std::fprintf(
          stderr,
          "dipc cluster up: tearing down failed too:%s\n  see `dipc cluster down --dir %s`\n",
          JoinProblems(problems).c_str(), l.dir.c_str());
    } else {
      std::fprintf(stderr,
                   "dipc cluster up: tore the cluster down; the logs are in %s/node*/dipcd.log\n",
                   l.dir.c_str());
    }
    return failure != nullptr ? failure->code() : 1;
  }
  return 0;
}

}  // namespace dipc::tools::cluster
