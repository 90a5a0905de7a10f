// The layout of a local cluster (see cluster_layout.h).
#include "tools/cluster_layout.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "tools/cluster_files.h"

namespace dipc::tools::cluster {
namespace {

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string NodeName(int k) { return "node" + std::to_string(k); }
std::string NodeDir(const std::string& dir, int k) { return dir + "/" + NodeName(k); }
std::string ConfigPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/dipc.conf"; }
std::string AllowPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/dipc.allow"; }
std::string SecretPath(const std::string& dir) { return dir + "/cluster.secret"; }
std::string LogPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/dipcd.log"; }
std::string PidPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/dipcd.pid"; }
std::string IpcnsPath(const std::string& dir, int k) { return NodeDir(dir, k) + "/ipcns"; }
std::string RunDir(const std::string& dir, int k) { return NodeDir(dir, k) + "/run"; }
std::string LayoutPath(const std::string& dir) { return dir + "/cluster"; }

std::string NetnsName(int id, int k) { return "dipc" + std::to_string(id) + "-" + NodeName(k); }
std::string HubName(int id) { return "dipc" + std::to_string(id) + "-hub"; }
std::string NetnsPath(const std::string& name) { return std::string(kNetnsDir) + "/" + name; }

std::string Subnet(int id) { return "10.213." + std::to_string(id % kIdCount); }
std::string NodeAddress(const Layout& l, int k) {
  return l.netns ? Subnet(l.id) + "." + std::to_string(k) : "127.0.0.1";
}

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

void EnsureSearchable(const std::string& path, bool fix) {
  std::vector<std::pair<std::string, mode_t>> closed;
  for (size_t pos = 0; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = pos == 0 ? "/" : path.substr(0, pos);
    if (pos > 0 && path[pos - 1] == '/') continue;  // "a//b", or a final '/'
    struct stat st;
    if (stat(prefix.c_str(), &st) != 0) break;  // made later, with mode 0755
    if (S_ISDIR(st.st_mode) && (st.st_mode & S_IXOTH) == 0) {
      closed.emplace_back(prefix, st.st_mode & 07777);
    }
  }
  if (closed.empty()) return;
  std::string names;
  std::string modes;
  for (const auto& [dir, mode] : closed) {
    char octal[16];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    names += " " + dir;
    modes += "\n    " + dir + " (mode " + octal + ")";
  }
  if (!fix) {
    throw Failure(
        "other users cannot reach the nodes' sockets under " + path +
        ": these directories do not let them through (no search permission, o+x):" + modes +
        "\n  a program run there as another user would silently use plain local "
        "objects instead of the cluster"
        "\n  fix it with `chmod o+x" +
        names + "`, or let up do that with --fix-perms, or choose another --dir");
  }
  for (const auto& [dir, mode] : closed) {
    if (chmod(dir.c_str(), mode | S_IXOTH) != 0) {
      throw Failure("--fix-perms: cannot chmod o+x " + dir + ": " + ErrnoText(errno));
    }
    std::fprintf(stderr, "dipc cluster up: added o+x to %s so that other users reach the nodes\n",
                 dir.c_str());
  }
}

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
    } else if (key.rfind("arch.", 0) == 0) {
      auto k = ParseNumber(key.substr(5), 1, kMaxNodes);
      if (k) {
        if (l.arch.size() <= size_t(*k)) l.arch.resize(*k + 1);
        l.arch[*k] = Trim(value);
      }
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
  for (size_t k = 1; k < l.arch.size(); ++k) {
    if (!l.arch[k].empty()) text += "arch." + std::to_string(k) + "=" + l.arch[k] + "\n";
  }
  WriteFileAtomic(LayoutPath(l.dir), text);
}

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

std::optional<int> ParseNodeName(const std::string& name, int nodes) {
  std::string digits = name.rfind("node", 0) == 0 ? name.substr(4) : name;
  auto k = ParseNumber(digits, 1, nodes);
  if (!k || digits.size() != std::to_string(*k).size()) return std::nullopt;
  return static_cast<int>(*k);
}

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

DirLock::DirLock(const std::string& dir) {
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
      std::fprintf(stderr, "dipc: waiting for another `dipc cluster` command on %s\n", dir.c_str());
      told = true;
    }
    std::this_thread::sleep_for(kPollInterval * 5);
  }
}

DirLock::~DirLock() { close(fd_); }

}  // namespace dipc::tools::cluster
