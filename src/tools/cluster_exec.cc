// `dipc cluster exec NODE -- CMD...` (cluster_commands.h): runs CMD in a node's
// namespaces with the shim preloaded, forwards signals sent to dipc, and exits with CMD's
// status. The child enters the namespaces between fork and exec. On a node of another
// architecture (cluster_arch.h), a program built for it runs under qemu-user with that
// architecture's shim; anything else (a script, a program of this machine) runs natively.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tools/cluster_arch.h"
#include "tools/cluster_commands.h"
#include "tools/cluster_files.h"
#include "tools/cluster_namespaces.h"
#include "tools/cluster_processes.h"

namespace dipc::tools::cluster {
namespace {

volatile sig_atomic_t g_child = 0;

// Passes signals sent to dipc on to the command. Signals from the terminal (SI_KERNEL)
// already reached the command, which is in the same process group, so they are not sent
// twice.
void ForwardSignal(int sig, siginfo_t* info, void*) {
  if (info != nullptr && info->si_code == SI_KERNEL) return;
  if (g_child > 0) kill(g_child, sig);
}

// LD_PRELOAD with the shim first, then whatever was there (without a second copy of the
// shim, which nested `exec`s would otherwise add).
std::string PreloadWithShim(const std::string& shim) {
  std::string out = shim;
  const char* old = std::getenv("LD_PRELOAD");
  for (const std::string& item : SplitList(old != nullptr ? old : "", " :")) {
    if (item != shim) out += " " + item;
  }
  return out;
}

}  // namespace

int CmdExec(const ToolPaths& paths, const ExecOptions& o) {
  std::string dir = ResolveDir(o.dir, false);
  std::optional<Layout> l = LoadLayout(dir);
  if (!l) {
    throw Failure("no cluster in " + dir + "\n  start one with `dipc cluster up --nodes N --dir " +
                  dir + "`");
  }
  std::optional<int> k = ParseNodeName(o.node, l->nodes);
  if (!k) {
    throw Failure("unknown node '" + o.node + "': the cluster in " + dir + " has " +
                  (l->nodes == 1 ? std::string("only node1") : "node1.." + NodeName(l->nodes)));
  }
  std::string again = "\n  take it down with `dipc cluster down --dir " + dir +
                      "` and start it again with `dipc cluster up`";
  std::string ipcns = IpcnsPath(dir, *k);
  if (!IsNamespaceFile(ipcns)) {
    throw Failure(NodeName(*k) + "'s IPC namespace (" + ipcns +
                  ") is gone: the cluster is down or half made" + again);
  }
  std::string netns = l->netns ? NetnsPath(NetnsName(l->id, *k)) : "";
  if (!netns.empty() && !Exists(netns)) {
    throw Failure(NodeName(*k) + "'s network namespace (" + netns + ") is gone" + again);
  }
  if (paths.shim.empty() || access(paths.shim.c_str(), R_OK) != 0) {
    throw Failure(
        "the shim libdipc.so is not at " +
        (paths.shim.empty() ? std::string("(no path)") : paths.shim) +
        "\n  build it (cmake --build build) or install DIPC; dipc looks for it in ../lib next "
        "to its own bin directory");
  }
  std::string rundir = RunDir(dir, *k);
  std::string preload = PreloadWithShim(paths.shim);
  std::vector<std::string> args = o.command;
  if (const Arch* a = FindArch(l->arch_of(*k))) {
    std::string program = args.empty() ? "" : ProgramPath(args[0]);
    if (!program.empty() && IsElfFor(program, *a)) {
      std::string qemu = FindQemu(*a);
      if (qemu.empty()) {
        throw Failure(NodeName(*k) + " is " + a->name + ": running " + program +
                      " needs qemu-user (apt-get install qemu-user-static)");
      }
      std::string shim = CrossShim(paths, *a);
      if (!IsElfFor(shim, *a)) {
        throw Failure(NodeName(*k) + " is " + a->name + ": no " + a->name + " shim at " + shim +
                      "\n  build it with scripts/cross.sh " + a->name);
      }
      // The guest's loader can load only the guest's libraries: its shim alone.
      preload = shim;
      std::vector<std::string> emulated = QemuPrefix(qemu, *a);
      emulated.push_back(program);
      emulated.insert(emulated.end(), args.begin() + 1, args.end());
      args = emulated;
    }
  }
  std::vector<char*> argv = ArgvOf(args);

  // Blocked across fork so a signal cannot reach the handler before g_child is set, nor
  // the child before it has reset its dispositions.
  constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  sigset_t block, saved;
  sigemptyset(&block);
  for (int sig : kForwarded) sigaddset(&block, sig);
  sigprocmask(SIG_BLOCK, &block, &saved);

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    sigprocmask(SIG_SETMASK, &saved, nullptr);
    throw Failure("fork: " + ErrnoText(err));
  }
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &saved, nullptr);
    if (int err = EnterNamespace(ipcns.c_str(), CLONE_NEWIPC)) {
      std::fprintf(stderr, "dipc cluster exec: cannot enter %s's IPC namespace: %s%s\n",
                   NodeName(*k).c_str(), strerror(err),
                   err == EPERM ? " (needs root; run it with sudo)" : "");
      _exit(126);
    }
    if (!netns.empty()) {
      if (int err = EnterNamespace(netns.c_str(), CLONE_NEWNET)) {
        std::fprintf(stderr, "dipc cluster exec: cannot enter %s's network namespace: %s\n",
                     NodeName(*k).c_str(), strerror(err));
        _exit(126);
      }
    }
    setenv("DIPC_RUNDIR", rundir.c_str(), 1);
    setenv("LD_PRELOAD", preload.c_str(), 1);
    execvp(argv[0], argv.data());
    int err = errno;
    std::fprintf(stderr, "dipc cluster exec: cannot run %s: %s\n", argv[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
  }

  g_child = pid;
  struct sigaction sa {};
  sa.sa_sigaction = ForwardSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : kForwarded) sigaction(sig, &sa, nullptr);
  sigprocmask(SIG_SETMASK, &saved, nullptr);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Failure("waitpid: " + ErrnoText(errno));
  }
  return ExitCodeOf(status);
}

}  // namespace dipc::tools::cluster
