// `dipc cluster up|exec|down`: a cluster of dipcd nodes on one machine.
//
// Each command is a separate process, so all state lives in the cluster directory (DIR):
//
//   DIR/cluster          the layout: nodes=N, netns=0|1, id=ID (written before anything is
//                        made, so `down` can undo a half-made cluster)
//   DIR/.lock            flock'ed by up and down so two of them never interleave
//   DIR/nodeK/dipc.conf  node K's configuration (TOML), DIR/nodeK/dipc.allow its allow file
//   DIR/nodeK/ipcns      an empty file with node K's IPC namespace bind-mounted on it
//   DIR/nodeK/dipcd.pid  the pid of node K's dipcd, DIR/nodeK/dipcd.log its output
//   DIR/nodeK/run/       dipcd's run dir: dipcd.sock, dipcd.port, state
//
// An IPC namespace lives as long as something references it; the bind mount is that
// reference, so the namespace survives its creator and later invocations enter it with
// setns(2). With --netns the network namespaces are made the way `ip netns add` makes
// them (bind mounts under /run/netns), joined by veth pairs to a bridge in a separate hub
// namespace so that nothing in the host's own network namespace changes.
//
// Every wait is bounded: up gives up after kUpTimeout, down escalates to SIGKILL after
// kStopTimeout, helper commands are killed after kCommandTimeout.

#include "tools/cluster.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace dipc::tools {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kMaxNodes = 16;
constexpr const char* kDefaultDir = "/tmp/dipc-cluster";
constexpr const char* kDirEnv = "DIPC_CLUSTER_DIR";
// Short on purpose: failure tests wait for peer_timeout_ms to see a node declared dead.
constexpr int kDefaultHeartbeatMs = 200;
constexpr int kDefaultPeerTimeoutMs = 2000;
constexpr auto kUpTimeout = std::chrono::seconds(15);
constexpr auto kStopTimeout = std::chrono::seconds(5);
constexpr auto kKillTimeout = std::chrono::seconds(2);
constexpr auto kCommandTimeout = std::chrono::seconds(5);
// A concurrent up may hold the lock for kUpTimeout plus its own teardown.
constexpr auto kLockTimeout = std::chrono::seconds(25);
constexpr auto kPollInterval = milliseconds(20);
constexpr auto kPortSettle = milliseconds(500);
constexpr int kLogTailLines = 20;
// Cluster ids name the network namespaces and pick the /24 inside 10.213.0.0/16.
constexpr int kIdCount = 250;
constexpr const char* kNetnsDir = "/run/netns";

// A reason to stop, already phrased for the user; code is the exit status.
class Failure : public std::runtime_error {
 public:
  explicit Failure(const std::string& message, int code = 1)
      : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

std::string ErrnoText(int err) { return std::strerror(err); }

// ---------------------------------------------------------------------------------------
// Small file helpers. They report errno text because "Permission denied" or "Read-only
// file system" is usually the whole answer to what went wrong.

bool ReadFile(const std::string& path, std::string* out, off_t offset = 0) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  if (offset > 0 && lseek(fd, offset, SEEK_SET) < 0) {
    close(fd);
    return false;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

void WriteAll(int fd, const std::string& content, const std::string& path) {
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      throw Failure("cannot write " + path + ": " + ErrnoText(err));
    }
    done += static_cast<size_t>(n);
  }
}

// Writes through a temporary file and a rename, so a reader (dipcd reading its config, a
// concurrent exec reading DIR/cluster) never sees half a file.
void WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Failure("cannot write " + tmp + ": " + ErrnoText(errno));
  WriteAll(fd, content, tmp);
  if (close(fd) != 0) throw Failure("cannot write " + tmp + ": " + ErrnoText(errno));
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    throw Failure("cannot rename " + tmp + " to " + path + ": " + ErrnoText(errno));
  }
}

// Appends and returns the file's size afterwards.
off_t AppendFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw Failure("cannot write " + path + ": " + ErrnoText(errno));
  WriteAll(fd, content, path);
  off_t size = lseek(fd, 0, SEEK_END);
  close(fd);
  return size < 0 ? 0 : size;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

void RemoveIfExists(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw Failure("cannot remove " + path + ": " + ErrnoText(errno));
  }
}

void MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
    throw Failure("cannot create directory " + path + ": " + ErrnoText(ENOTDIR));
  }
  throw Failure("cannot create directory " + path + ": " + ErrnoText(errno));
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// A whole-string decimal in [lo, hi], or nullopt.
std::optional<long> ParseNumber(const std::string& text, long lo, long hi) {
  std::string s = Trim(text);
  if (s.empty() || s.size() > 9) return std::nullopt;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

// TOML basic string: the cluster directory is the user's choice and may hold anything.
std::string TomlString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// The last `lines` lines of path from offset on, for failure reports.
std::string LogTail(const std::string& path, off_t offset, int lines) {
  std::string text;
  if (!ReadFile(path, &text, offset)) return "  (no log at " + path + ")\n";
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty()) return "  (the log is empty)\n";
  size_t pos = text.size();
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  std::string tail = (pos == std::string::npos || pos == 0) ? text : text.substr(pos + 1);
  std::string out;
  size_t start = 0;
  while (start <= tail.size()) {
    size_t end = tail.find('\n', start);
    if (end == std::string::npos) end = tail.size();
    out += "  | " + tail.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The cluster's layout and the names derived from it.

struct Layout {
  std::string dir;  // absolute
  int nodes = 0;
  bool netns = false;
  int id = 0;
};

std::string NodeName(int k) { return "node" + std::to_string(k); }
std::string NodeDir(const std::string& dir, int k) { return dir + "/" + NodeName(k); }
std::string ConfigPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/dipc.conf"; }
std::string AllowPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/dipc.allow"; }
std::string LogPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/dipcd.log"; }
std::string PidPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/dipcd.pid"; }
std::string IpcnsPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/ipcns"; }
std::string RunDir(const std::string& dir, int k) { return NodeDir(dir, k) + "/run"; }
std::string LayoutPath(const std::string& dir) { return dir + "/cluster"; }

// Short enough for /run/netns and for `ip`'s output: "dipc249-node16".
std::string NetnsName(int id, int k) { return "dipc" + std::to_string(id) + "-" + NodeName(k); }
std::string HubName(int id) { return "dipc" + std::to_string(id) + "-hub"; }
std::string NetnsPath(const std::string& name) { return std::string(kNetnsDir) + "/" + name; }

std::string Subnet(int id) { return "10.213." + std::to_string(id % kIdCount); }
std::string NodeAddress(const Layout& l, int k) {
  return l.netns ? Subnet(l.id) + "." + std::to_string(k) : "127.0.0.1";
}

// DIR as given, else $DIPC_CLUSTER_DIR, else the default; made absolute and, when it
// exists, canonical, so that every invocation derives the same paths (the config path is
// how a dipcd is recognised as ours).
std::string ResolveDir(const std::string& given, bool create) {
  std::string dir = given;
  if (dir.empty()) {
    const char* env = std::getenv(kDirEnv);
    dir = (env != nullptr && *env != '\0') ? env : kDefaultDir;
  }
  if (dir[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == nullptr) {
      throw Failure("cannot resolve " + dir + ": " + ErrnoText(errno) + "; give an absolute --dir");
    }
    dir = std::string(cwd) + "/" + dir;
  }
  if (create) {
    try {
      for (size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos == dir.size() || dir[pos] == '/') {
          std::string prefix = dir.substr(0, pos);
          if (!prefix.empty() && prefix.back() != '/') MakeDir(prefix);
        }
      }
    } catch (const Failure& f) {
      throw Failure(std::string(f.what()) +
                    "\n  choose another cluster directory with --dir DIR or $" + kDirEnv);
    }
    if (access(dir.c_str(), W_OK) != 0) {
      throw Failure("cluster directory " + dir + " is not writable: " + ErrnoText(errno) +
                    "\n  choose another with --dir DIR or $" + kDirEnv);
    }
  }
  char real[PATH_MAX];
  if (realpath(dir.c_str(), real) != nullptr) return real;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// nullopt when DIR/cluster does not exist; a Failure when it exists but is unreadable.
std::optional<Layout> LoadLayout(const std::string& dir) {
  std::string text;
  if (!ReadFile(LayoutPath(dir), &text)) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw Failure("cannot read " + LayoutPath(dir) + ": " + ErrnoText(errno));
  }
  Layout l;
  l.dir = dir;
  bool have_nodes = false;
  bool have_id = false;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = Trim(text.substr(start, end - start));
    start = end + 1;
    size_t eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    std::string key = Trim(line.substr(0, eq));
    std::string value = line.substr(eq + 1);
    if (key == "nodes") {
      auto v = ParseNumber(value, 1, kMaxNodes);
      if (v) l.nodes = static_cast<int>(*v);
      have_nodes = v.has_value();
    } else if (key == "netns") {
      l.netns = ParseNumber(value, 1, 1).has_value();
    } else if (key == "id") {
      auto v = ParseNumber(value, 0, kIdCount - 1);
      if (v) l.id = static_cast<int>(*v);
      have_id = v.has_value();
    }
  }
  if (!have_nodes || !have_id) {
    throw Failure(LayoutPath(dir) +
                  " is damaged (needs nodes= and id=)\n  clean up with `dipc cluster down --dir " +
                  dir + "`, then start again with `dipc cluster up`");
  }
  return l;
}

void SaveLayout(const Layout& l) {
  std::string text = "# Written by `dipc cluster up`; read by `dipc cluster exec` and `down`.\n";
  text += "nodes=" + std::to_string(l.nodes) + "\n";
  text += std::string("netns=") + (l.netns ? "1" : "0") + "\n";
  text += "id=" + std::to_string(l.id) + "\n";
  WriteFileAtomic(LayoutPath(l.dir), text);
}

// Node numbers that may own something in dir: those of the layout, plus any nodeK
// directory left by an earlier, larger cluster or a damaged layout file.
std::vector<int> KnownNodes(const std::string& dir, const std::optional<Layout>& l) {
  std::vector<bool> seen(kMaxNodes + 1, false);
  if (l) {
    for (int k = 1; k <= l->nodes; ++k) seen[k] = true;
  }
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("node", 0) != 0) continue;
      if (auto k = ParseNumber(name.substr(4), 1, kMaxNodes)) {
        if (name == NodeName(static_cast<int>(*k))) seen[*k] = true;
      }
    }
    closedir(d);
  }
  std::vector<int> out;
  for (int k = 1; k <= kMaxNodes; ++k) {
    if (seen[k]) out.push_back(k);
  }
  return out;
}

// Accepts "node2" and, as a shorthand, "2".
std::optional<int> ParseNodeName(const std::string& name, int nodes) {
  std::string digits = name.rfind("node", 0) == 0 ? name.substr(4) : name;
  auto k = ParseNumber(digits, 1, nodes);
  if (!k || digits.size() != std::to_string(*k).size()) return std::nullopt;
  return static_cast<int>(*k);
}

// Serialises up and down on one directory.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    std::string path = dir + "/.lock";
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      int err = errno;
      throw Failure("cannot open " + path + ": " + ErrnoText(err) +
                    (err == EACCES || err == EPERM || err == EROFS
                         ? "\n  dipc cluster needs root and a writable cluster directory"
                         : ""));
    }
    auto deadline = Clock::now() + kLockTimeout;
    bool told = false;
    while (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        int err = errno;
        close(fd_);
        throw Failure("cannot lock " + path + ": " + ErrnoText(err));
      }
      if (Clock::now() >= deadline) {
        close(fd_);
        throw Failure("another `dipc cluster` command is still working on " + dir +
                      "; wait for it to finish, then try again");
      }
      if (!told) {
        std::fprintf(stderr, "dipc: waiting for another `dipc cluster` command on %s\n",
                     dir.c_str());
        told = true;
      }
      std::this_thread::sleep_for(kPollInterval * 5);
    }
  }
  ~DirLock() { close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------------------
// Processes.

// A zombie counts as dead: its namespaces are already released, and nothing may reap it
// if its parent (the `up` that started it) is gone and init does not.
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

// A pid file can outlive its process and the pid be reused, so a pid is only ours if the
// process was started with this node's config file.
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

// The pid of node k's running dipcd, or 0.
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

// Runs a helper (ip) with its output captured, killed after kCommandTimeout.
// Returns the exit code (128+signal when killed) and fills output.
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
  std::string dirs = path != nullptr ? path : "";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/ip";
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// ---------------------------------------------------------------------------------------
// Namespaces.

bool IsNamespaceFile(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

// Returns 0 or an errno. Used in forked children, so it only makes system calls.
int EnterNamespace(const char* path, int nstype) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int rc = setns(fd, nstype);
  int err = errno;
  close(fd);
  return rc == 0 ? 0 : err;
}

// Makes a new IPC namespace that outlives every process: a child unshares into it and
// bind-mounts its /proc/self/ns/ipc on file. The child stays in our mount namespace, so
// the mount is visible to later `dipc` invocations.
void MakeIpcNamespace(const std::string& file) {
  int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Failure("cannot create " + file + ": " + ErrnoText(errno));
  close(fd);
  pid_t pid = fork();
  if (pid < 0) throw Failure("fork: " + ErrnoText(errno));
  if (pid == 0) {
    // The exit status says which step failed: errno, or 128 + errno for the mount.
    if (unshare(CLONE_NEWIPC) != 0) _exit(errno & 127);
    if (mount("/proc/self/ns/ipc", file.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      _exit(128 + (errno & 127));
    }
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (!WIFEXITED(status)) {
    throw Failure("making an IPC namespace for " + file + ": helper " + DescribeStatus(status));
  }
  int code = WEXITSTATUS(status);
  std::string step = code >= 128 ? "bind-mounting it on " + file : "unshare(CLONE_NEWIPC)";
  int err = code & 127;
  std::string hint = (err == EPERM || err == EACCES)
                         ? "\n  dipc cluster needs root (CAP_SYS_ADMIN); run it with sudo"
                         : "";
  throw Failure("cannot make an IPC namespace: " + step + ": " + ErrnoText(err) + hint);
}

// Undoes MakeIpcNamespace (possibly stacked by an interrupted earlier run). Returns "" or
// a problem.
std::string UnmountNamespaceFile(const std::string& file) {
  for (int i = 0; i < 8 && IsNamespaceFile(file); ++i) {
    if (umount2(file.c_str(), MNT_DETACH) != 0) {
      return "cannot unmount " + file + ": " + ErrnoText(errno);
    }
  }
  if (IsNamespaceFile(file)) return "cannot unmount " + file + ": still mounted";
  if (unlink(file.c_str()) != 0 && errno != ENOENT) {
    return "cannot remove " + file + ": " + ErrnoText(errno);
  }
  return "";
}

// What `ip netns delete` does: the namespace goes once its last process has gone.
std::string DeleteNetns(const std::string& name) {
  std::string path = NetnsPath(name);
  if (!Exists(path)) return "";
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
    return "cannot unmount " + path + ": " + ErrnoText(errno);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return "cannot remove " + path + ": " + ErrnoText(errno);
  }
  return "";
}

// The hash of the directory picks the id, so clusters in different directories get
// different namespace names and subnets; a clash (another cluster, or leftovers of one
// that was never taken down) moves on to the next free id.
int ChooseId(const std::string& dir, bool netns) {
  int base = static_cast<int>(Fnv1a(dir) % kIdCount);
  if (!netns) return base;
  for (int i = 0; i < kIdCount; ++i) {
    int id = (base + i) % kIdCount;
    bool taken = Exists(NetnsPath(HubName(id)));
    for (int k = 1; k <= kMaxNodes && !taken; ++k) taken = Exists(NetnsPath(NetnsName(id, k)));
    if (!taken) return id;
  }
  throw Failure("every cluster id is in use in " + std::string(kNetnsDir) +
                "; take down clusters you no longer need (`dipc cluster down --dir DIR`)");
}

class Ip {
 public:
  explicit Ip(std::string binary) : binary_(std::move(binary)) {}
  void operator()(std::vector<std::string> args) const {
    args.insert(args.begin(), binary_);
    std::string output;
    int code = RunCommand(args, &output);
    if (code != 0) {
      throw Failure("`" + JoinArgs(args) + "` failed (status " + std::to_string(code) +
                    "): " + Trim(output));
    }
  }

 private:
  std::string binary_;
};

// Hub namespace with a bridge; per node a namespace, a veth pair (nK on the bridge, eth0
// in the node), the node's address, and loopback up.
void MakeNetwork(const Layout& l, const Ip& ip, const std::function<void()>& check) {
  std::string hub = HubName(l.id);
  ip({"netns", "add", hub});
  ip({"-n", hub, "link", "set", "lo", "up"});
  ip({"-n", hub, "link", "add", "br0", "type", "bridge"});
  ip({"-n", hub, "link", "set", "br0", "up"});
  for (int k = 1; k <= l.nodes; ++k) {
    check();
    std::string ns = NetnsName(l.id, k);
    std::string port = "n" + std::to_string(k);
    ip({"netns", "add", ns});
    ip({"-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns});
    ip({"-n", hub, "link", "set", port, "master", "br0"});
    ip({"-n", hub, "link", "set", port, "up"});
    ip({"-n", ns, "link", "set", "lo", "up"});
    ip({"-n", ns, "addr", "add", NodeAddress(l, k) + "/24", "dev", "eth0"});
    ip({"-n", ns, "link", "set", "eth0", "up"});
  }
}

// ---------------------------------------------------------------------------------------
// Teardown, shared by `down` and by a failed `up`.

// Stops every dipcd of the cluster in dir and removes the namespaces. children are
// daemons this process started and has not reaped (a failed up): they are stopped even if
// they have not reached exec yet, when their command line does not show the config file.
// Returns the problems it could not fix (empty when all is clean).
std::vector<std::string> Teardown(const std::string& dir, const std::optional<Layout>& l,
                                  int* stopped,
                                  const std::vector<std::pair<int, pid_t>>& children = {}) {
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

// ---------------------------------------------------------------------------------------
// up

struct UpOptions {
  int nodes = 0;
  std::string dir;
  bool netns = false;
  int heartbeat_ms = kDefaultHeartbeatMs;
  int peer_timeout_ms = kDefaultPeerTimeoutMs;
  std::string allow;
  CLI::Option* allow_option = nullptr;
};

volatile sig_atomic_t g_interrupted = 0;

void OnInterrupt(int sig) { g_interrupted = sig; }

// Turns SIGINT/SIGTERM/SIGHUP into a flag while up works, so that an interrupted up
// still tears down what it made instead of leaving namespaces and daemons behind.
class InterruptGuard {
 public:
  InterruptGuard() {
    struct sigaction sa {};
    sa.sa_handler = OnInterrupt;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~InterruptGuard() {
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  static void Check() {
    if (g_interrupted != 0) {
      throw Failure("interrupted by " + SignalName(g_interrupted), 128 + g_interrupted);
    }
  }

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3];
};

std::string ConfigText(const Layout& l, int k, const UpOptions& o, const std::string& referee) {
  std::string c = "# Written by `dipc cluster up` for " + NodeName(k) +
                  " of the local cluster in " + l.dir + ".\n";
  c += "[node]\n";
  c += "name = " + TomlString(NodeName(k)) + "\n";
  c += "listen_address = " + TomlString(NodeAddress(l, k)) + "\n";
  c += "listen_port = 0\n";
  c += "run_dir = " + TomlString(RunDir(l.dir, k)) + "\n";
  c += "\n[referee]\n";
  if (k == 1) {
    c += "enabled = true\n";
  } else {
    c += "enabled = false\n";
    c += "address = " + TomlString(referee) + "\n";
  }
  c += "\n[security]\n";
  c += "allow_file = " + TomlString(AllowPath(l.dir, k)) + "\n";
  c += "\n[timeouts]\n";
  c += "heartbeat_ms = " + std::to_string(o.heartbeat_ms) + "\n";
  c += "peer_timeout_ms = " + std::to_string(o.peer_timeout_ms) + "\n";
  c += "\n[log]\n";
  c += "level = \"info\"\n";
  return c;
}

std::string AllowText(const Layout& l, const UpOptions& o) {
  if (o.allow_option != nullptr && o.allow_option->count() > 0) {
    return o.allow.empty() || o.allow.back() == '\n' ? o.allow : o.allow + "\n";
  }
  return "# Written by `dipc cluster up`: the cluster's own addresses.\n" +
         (l.netns ? Subnet(l.id) + ".0/24\n" : std::string("127.0.0.0/8\n"));
}

// The environment for dipcd: ours, minus the shim (a daemon must not intercept its own
// System V calls) and minus DIPC_RUNDIR (its run dir comes from its config).
std::vector<std::string> DaemonEnvironment(const std::string& shim) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string var = *e;
    if (var.rfind("DIPC_RUNDIR=", 0) == 0) continue;
    if (var.rfind("LD_PRELOAD=", 0) == 0) {
      std::string kept;
      std::string list = var.substr(11);
      size_t start = 0;
      while (start <= list.size()) {
        size_t end = list.find_first_of(" :", start);
        if (end == std::string::npos) end = list.size();
        std::string item = list.substr(start, end - start);
        start = end + 1;
        bool is_shim =
            item == shim || (item.size() >= 10 && item.rfind("libdipc.so") == item.size() - 10);
        if (item.empty() || is_shim) continue;
        kept += (kept.empty() ? "" : " ") + item;
      }
      if (!kept.empty()) env.push_back("LD_PRELOAD=" + kept);
      continue;
    }
    env.push_back(var);
  }
  return env;
}

struct NodeRun {
  pid_t pid = 0;
  off_t log_offset = 0;
  int port = 0;
  std::string port_text;        // the port file's content at the previous poll
  Clock::time_point port_seen;  // when port_text was first read
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
      if (run.port == 0 && ReadFile(RunDir(l.dir, k) + "/dipcd.port", &text)) {
        // dipcd writes the file once, but a read can catch it half written: trust a
        // number that ends its line, or one that has not changed for kPortSettle.
        if (text != run.port_text) {
          run.port_text = text;
          run.port_seen = Clock::now();
        }
        bool complete = !text.empty() && text.back() == '\n';
        if (complete || Clock::now() - run.port_seen >= kPortSettle) {
          if (auto port = ParseNumber(text, 1, 65535)) run.port = static_cast<int>(*port);
        }
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
        std::string what =
            run.port == 0
                ? "did not write its port file (run/dipcd.port)"
                : "did not join (state: " + (state.empty() ? std::string("none yet") : state) + ")";
        throw NodeFailure(l, k, run,
                          what + " within " + std::to_string(kUpTimeout.count()) + " s of `up`");
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

// Fills runs (index = node number) as daemons start, so a failure can stop them.
void BuildCluster(const Layout& l, const UpOptions& o, const ToolPaths& paths,
                  const std::string& ip_binary, Clock::time_point deadline,
                  std::vector<NodeRun>& runs) {
  // Making namespaces is quick, but the whole of up is bounded, so check as it goes.
  auto check = [&] {
    InterruptGuard::Check();
    if (Clock::now() >= deadline) {
      throw Failure("setting up the nodes took more than " + std::to_string(kUpTimeout.count()) +
                    " s");
    }
  };
  for (int k = 1; k <= l.nodes; ++k) {
    check();
    PrepareNode(l, k, o);
  }
  if (l.netns) MakeNetwork(l, Ip(ip_binary), check);
  check();

  // node1 first: every other node's config names the referee's actual port.
  runs.assign(l.nodes + 1, NodeRun{});
  WriteFileAtomic(ConfigPath(l.dir, 1), ConfigText(l, 1, o, ""));
  StartDaemon(l, 1, paths, runs[1]);
  WaitForNodes(l, runs, 1, 1, false, deadline);
  std::string referee = NodeAddress(l, 1) + ":" + std::to_string(runs[1].port);
  for (int k = 2; k <= l.nodes; ++k) {
    WriteFileAtomic(ConfigPath(l.dir, k), ConfigText(l, k, o, referee));
    StartDaemon(l, k, paths, runs[k]);
  }
  WaitForNodes(l, runs, 1, l.nodes, true, deadline);
  for (int k = 1; k <= l.nodes; ++k) {
    std::printf("%s %s:%d pid %d\n", NodeName(k).c_str(), NodeAddress(l, k).c_str(), runs[k].port,
                static_cast<int>(runs[k].pid));
  }
  std::fflush(stdout);
}

int CmdUp(const ToolPaths& paths, const UpOptions& o) {
  if (o.peer_timeout_ms <= o.heartbeat_ms) {
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
  l.dir = ResolveDir(o.dir, true);
  l.nodes = o.nodes;
  l.netns = o.netns;
  DirLock lock(l.dir);
  // The clock starts once the directory is ours: waiting for another command's lock is
  // bounded separately.
  auto deadline = Clock::now() + kUpTimeout;
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
  l.id = ChooseId(l.dir, l.netns);
  SaveLayout(l);

  InterruptGuard guard;
  std::vector<NodeRun> runs;
  try {
    BuildCluster(l, o, paths, ip_binary, deadline, runs);
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

// ---------------------------------------------------------------------------------------
// exec

struct ExecOptions {
  std::string node;
  std::string dir;
  std::vector<std::string> command;
};

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
  std::string list = old != nullptr ? old : "";
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find_first_of(" :", start);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(start, end - start);
    start = end + 1;
    if (!item.empty() && item != shim) out += " " + item;
  }
  return out;
}

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

// ---------------------------------------------------------------------------------------
// down

struct DownOptions {
  std::string dir;
};

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

// ---------------------------------------------------------------------------------------
// Command line.

// Prints a failure the same way for every subcommand and turns the result into the
// CLI11 convention: return on success, CLI::RuntimeError(code) otherwise.
void Finish(const char* name, const std::function<int()>& body) {
  int code = 0;
  try {
    code = body();
  } catch (const Failure& f) {
    std::fflush(stdout);
    std::fprintf(stderr, "dipc cluster %s: %s\n", name, f.what());
    code = f.code();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "dipc cluster %s: unexpected error: %s\n", name, e.what());
    code = 1;
  }
  std::fflush(stdout);
  if (code != 0) throw CLI::RuntimeError(code);
}

constexpr const char* kDirHelp =
    "Cluster directory (default: $DIPC_CLUSTER_DIR, else /tmp/dipc-cluster)";

}  // namespace

void add_cluster_commands(CLI::App& app, const ToolPaths& paths) {
  CLI::App* cluster =
      app.add_subcommand("cluster", "Run a cluster of dipcd nodes on this machine: up, exec, down");
  cluster->require_subcommand(1);
  cluster->footer(
      "Each node is a dipcd in its own System V IPC namespace (and network namespace with\n"
      "--netns). Needs root. See dipc-cluster(1).");

  auto up = std::make_shared<UpOptions>();
  CLI::App* up_cmd = cluster->add_subcommand(
      "up", "Start N nodes (node1..nodeN; node1 runs the referee) and wait until all have joined");
  up_cmd->add_option("--nodes", up->nodes, "Number of nodes, 1..16")
      ->type_name("N")
      ->required()
      ->check(CLI::Range(1, kMaxNodes).description(""));
  up_cmd->add_option("--dir", up->dir, kDirHelp)->type_name("DIR");
  up_cmd->add_flag("--netns", up->netns,
                   "Give each node its own network namespace and address 10.213.ID.K/24 on a "
                   "private bridge (ID comes from DIR)");
  up_cmd
      ->add_option("--heartbeat-ms", up->heartbeat_ms,
                   "Heartbeat interval written to every node's config")
      ->type_name("MS")
      ->check(CLI::Range(1, 3600000).description(""))
      ->capture_default_str();
  up_cmd
      ->add_option("--peer-timeout-ms", up->peer_timeout_ms,
                   "Silence after which a peer is declared dead, written to every node's config")
      ->type_name("MS")
      ->check(CLI::Range(1, 3600000).description(""))
      ->capture_default_str();
  up->allow_option = up_cmd->add_option(
      "--allow", up->allow,
      "Content of every node's allow file, replacing the default (the cluster's own "
      "addresses: 127.0.0.0/8, or 10.213.ID.0/24 with --netns)");
  up_cmd->footer(
      "Prints one line per node, \"NAME ADDRESS:PORT pid PID\", once every node has joined;\n"
      "exits 0 then. On failure (or after 15 s) prints the failing node's log, tears the\n"
      "cluster down and exits 1. Refuses a DIR that already holds a running cluster.");
  up_cmd->callback([paths, up] { Finish("up", [&] { return CmdUp(paths, *up); }); });

  auto exec = std::make_shared<ExecOptions>();
  CLI::App* exec_cmd = cluster->add_subcommand(
      "exec", "Run CMD inside a node: its IPC namespace (and network namespace), with the shim");
  exec_cmd->add_option("NODE", exec->node, "Node name: node1..nodeN (or just its number)")
      ->type_name("")
      ->required();
  exec_cmd->add_option("--dir", exec->dir, kDirHelp)->type_name("DIR");
  exec_cmd->add_option("CMD", exec->command, "Command and its arguments; put -- before it")
      ->type_name("")
      ->required();
  exec_cmd->footer(
      "Example: dipc cluster exec node2 -- ipcs -q\n"
      "CMD gets DIPC_RUNDIR=DIR/NODE/run and LD_PRELOAD=libdipc.so (before any existing\n"
      "LD_PRELOAD). Its exit status becomes dipc's (128+N if killed by signal N).");
  exec_cmd->callback([paths, exec] { Finish("exec", [&] { return CmdExec(paths, *exec); }); });

  auto down = std::make_shared<DownOptions>();
  CLI::App* down_cmd =
      cluster->add_subcommand("down", "Stop every node, remove the namespaces, keep the logs");
  down_cmd->add_option("--dir", down->dir, kDirHelp)->type_name("DIR");
  down_cmd->footer(
      "SIGTERM to every dipcd, SIGKILL after 5 s; unmounts the IPC namespaces and deletes the\n"
      "network namespaces. Safe to run on a half-made or already stopped cluster.");
  down_cmd->callback([down] { Finish("down", [&] { return CmdDown(*down); }); });
}

}  // namespace dipc::tools
