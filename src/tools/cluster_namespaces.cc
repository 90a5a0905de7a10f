// Namespaces of a local cluster (see cluster_namespaces.h).
#include "tools/cluster_namespaces.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "tools/cluster_files.h"
#include "tools/cluster_processes.h"

namespace dipc::tools::cluster {

bool IsNamespaceFile(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

int EnterNamespace(const char* path, int nstype) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int rc = setns(fd, nstype);
  int err = errno;
  close(fd);
  return rc == 0 ? 0 : err;
}

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
void Ip::operator()(std::vector<std::string> args) const {
  args.insert(args.begin(), binary_);
  std::string output;
  int code = RunCommand(args, &output);
  if (code != 0) {
    throw Failure("`" + JoinArgs(args) + "` failed (status " + std::to_string(code) +
                  "): " + Trim(output));
  }
}

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

}  // namespace dipc::tools::cluster
