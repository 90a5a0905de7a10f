// `dipc cluster down`, and the teardown it shares with a failed `up` (cluster_commands.h).
//
// Teardown stops the daemons first (SIGTERM, SIGKILL after kStopTimeout), then removes
// what holds the namespaces, then DIR/cluster last, so that a teardown that stops halfway
// can always be run again.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <thread>

#include "tools/cluster_commands.h"
#include "tools/cluster_files.h"
#include "tools/cluster_namespaces.h"
#include "tools/cluster_processes.h"

namespace dipc::tools::cluster {

std::vector<std::string> Teardown(const std::string& dir, const std::optional<Layout>& l,
                                  int* stopped,
                                  const std::vector<std::pair<int, pid_t>>& children) {
  std::vector<std::string> problems;
  std::vector<int> nodes = KnownNodes(dir, l);
  std::vector<std::pair<int, pid_t>> running = children;
  for (int k : nodes) {
    bool known = false;
    for (const auto& child : children) known = known || child.first == k;
    if (pid_t pid = known ? 0 : RunningPid(dir, k)) running.emplace_back(k, pid);
  }
  for (const auto& [k, pid] : running) kill(pid, SIGTERM);
  if (stopped != nullptr) *stopped = static_cast<int>(running.size());

  auto reap_and_count = [&running] {
    int alive = 0;
    for (auto& [k, pid] : running) {
      // Reaps the daemons this process started itself (a failed up); ECHILD otherwise.
      waitpid(pid, nullptr, WNOHANG);
      if (ProcessAlive(pid)) ++alive;
    }
    return alive;
  };
  auto wait_until = [&](Clock::time_point deadline) {
    while (reap_and_count() > 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(kPollInterval);
    }
  };
  wait_until(Clock::now() + kStopTimeout);
  for (auto& [k, pid] : running) {
    if (ProcessAlive(pid)) kill(pid, SIGKILL);
  }
  wait_until(Clock::now() + kKillTimeout);
  for (auto& [k, pid] : running) {
    if (ProcessAlive(pid)) {
      problems.push_back(NodeName(k) + "'s dipcd (pid " + std::to_string(pid) +
                         ") survived SIGKILL");
    }
  }

  for (int k : nodes) {
    if (RunningPid(dir, k) == 0) {
      if (unlink(PidPath(dir, k).c_str()) != 0 && errno != ENOENT) {
        problems.push_back("cannot remove " + PidPath(dir, k) + ": " + ErrnoText(errno));
      }
    }
    std::string p = UnmountNamespaceFile(IpcnsPath(dir, k));
    if (!p.empty()) problems.push_back(p);
  }
  if (l && l->netns) {
    for (int k = 1; k <= kMaxNodes; ++k) {
      std::string p = DeleteNetns(NetnsName(l->id, k));
      if (!p.empty()) problems.push_back(p);
    }
    std::string p = DeleteNetns(HubName(l->id));
    if (!p.empty()) problems.push_back(p);
  }
  if (problems.empty() && unlink(LayoutPath(dir).c_str()) != 0 && errno != ENOENT) {
    problems.push_back("cannot remove " + LayoutPath(dir) + ": " + ErrnoText(errno));
  }
  return problems;
}

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) out += "\n  " + p;
  return out;
}

int CmdDown(const DownOptions& o) {
  std::string dir = ResolveDir(o.dir, false);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::printf("no cluster in %s\n", dir.c_str());
    return 0;
  }
  DirLock lock(dir);
  std::optional<Layout> l;
  try {
    l = LoadLayout(dir);
  } catch (const Failure& f) {
    // A damaged layout still leaves the node directories to clean.
    std::fprintf(stderr, "dipc cluster down: %s\n", f.what());
  }
  int stopped = 0;
  std::vector<std::string> problems = Teardown(dir, l, &stopped);
  if (!problems.empty()) {
    throw Failure("could not take everything down:" + JoinProblems(problems) +
                  "\n  fix that (are you root?) and run `dipc cluster down` again");
  }
  if (!l && stopped == 0) {
    std::printf("no cluster in %s\n", dir.c_str());
  } else {
    std::printf("cluster in %s is down (%d dipcd stopped); logs are in %s/node*/dipcd.log\n",
                dir.c_str(), stopped, dir.c_str());
  }
  return 0;
}

}  // namespace dipc::tools::cluster
