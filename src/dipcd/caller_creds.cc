#include "dipcd/caller_creds.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <string>

namespace dipc::daemon {
namespace {

// The value of "Name:\t..." up to the end of its line, or empty when there is no such line.
std::string_view field(std::string_view text, std::string_view name) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ':')
      return line.substr(name.size() + 1);
    at = end + 1;
  }
  return {};
}

// Whitespace-separated decimal numbers; false on anything else or more than max.
bool numbers(std::string_view s, std::vector<uint32_t>& out, size_t max) {
  out.clear();
  size_t i = 0;
  while (true) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i == s.size()) return true;
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v);
    if (ec != std::errc() || p == s.data() + i) return false;
    if (out.size() == max) return false;
    out.push_back(v);
    i = size_t(p - s.data());
  }
}

bool read_all(const char* path, std::string& out) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  char buf[4096];
  bool ok = true;
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
    if (out.size() > (1u << 20)) {  // 65536 groups take well under this
      ok = false;
      break;
    }
  }
  ::close(fd);
  return ok;
}

// The kernel's struct pidfd_info as first published (PIDFD_INFO_SIZE_VER0, 64 bytes);
// <linux/pidfd.h> of older distributions does not have it.
struct PidfdInfo {
  uint64_t mask, cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
};
static_assert(sizeof(PidfdInfo) == 64);
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);
constexpr uint64_t kInfoPid = 1, kInfoCreds = 2;
constexpr unsigned kPidfdThread = O_EXCL;  // PIDFD_THREAD (Linux 6.9)
std::atomic<bool> g_no_pidfd_info{false};   // this kernel said it has no PIDFD_GET_INFO

bool info_of(int fd, PidfdInfo& info) {
  info = PidfdInfo{};
  info.mask = kInfoCreds;
  if (::ioctl(fd, kPidfdGetInfo, &info) != 0) {
    if (errno == ENOTTY || errno == EINVAL) g_no_pidfd_info.store(true, std::memory_order_relaxed);
    return false;
  }
  return (info.mask & (kInfoPid | kInfoCreds)) == (kInfoPid | kInfoCreds);
}

// A pidfd of thread tid when it is a thread of process pid now, else -1.
int thread_pidfd(pid_t pid, pid_t tid) {
  int fd = int(::syscall(SYS_pidfd_open, tid, kPidfdThread));
  if (fd < 0) {
    // Before Linux 6.9 there is no PIDFD_THREAD (and so no PIDFD_GET_INFO either).
    if (errno == EINVAL && tid == pid) g_no_pidfd_info.store(true, std::memory_order_relaxed);
    return -1;
  }
  PidfdInfo info;
  if (!info_of(fd, info) || pid_t(info.tgid) != pid) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

void CallerThread::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  tid_ = 0;
}

bool read_caller_ids(pid_t pid, pid_t tid, int pidfd, CallerThread& t, Identity& out) {
  if (pid <= 0 || pidfd < 0 || g_no_pidfd_info.load(std::memory_order_relaxed)) return false;
  if (t.fd_ < 0 || t.tid_ != tid) {
    t.reset();
    int fd = tid > 0 && tid != pid ? thread_pidfd(pid, tid) : -1;
    if (fd < 0) fd = thread_pidfd(pid, pid);  // as read_caller_creds: the main thread
    if (fd < 0) return false;
    // The thread was one of process pid's when it was opened; pid is still that process
    // (its pidfd says it has not exited), so the thread is the caller's. A pidfd names one
    // thread for good: later reads through it are never another's.
    pollfd p{pidfd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 0) {
      ::close(fd);
      return false;
    }
    t.fd_ = fd;
    t.tid_ = tid;
  }
  PidfdInfo info;
  if (!info_of(t.fd_, info)) {  // the thread is gone (ESRCH)
    t.reset();
    return false;
  }
  out.uid = info.euid;
  out.gid = info.egid;
  return true;
}

bool parse_status_creds(std::string_view status, Identity& out) {
  std::vector<uint32_t> uid, gid, groups;
  // Uid: and Gid: give real, effective, saved and filesystem ids; IPC checks use the
  // effective ones.
  if (!numbers(field(status, "Uid"), uid, 4) || uid.size() != 4) return false;
  if (!numbers(field(status, "Gid"), gid, 4) || gid.size() != 4) return false;
  std::string_view g = field(status, "Groups");
  if (g.data() == nullptr || !numbers(g, groups, kMaxGroups)) return false;
  out.uid = uid[1];
  out.gid = gid[1];
  out.groups.assign(groups.begin(), groups.end());
  return true;
}

bool read_caller_creds(pid_t pid, pid_t tid, int pidfd, Identity& out) {
  if (pid <= 0 || pidfd < 0) return false;  // without a pidfd, a reused pid cannot be told
  char path[64];
  std::string text;
  bool read = false;
  if (tid > 0 && tid != pid) {
    std::snprintf(path, sizeof path, "/proc/%d/task/%d/status", int(pid), int(tid));
    read = read_all(path, text);
  }
  if (!read) {
    std::snprintf(path, sizeof path, "/proc/%d/status", int(pid));
    if (!read_all(path, text)) return false;
  }
  Identity read_now;
  if (!parse_status_creds(text, read_now)) return false;
  // Still running after the read: the pid was not reused, the text is the caller's.
  pollfd p{pidfd, POLLIN, 0};
  if (::poll(&p, 1, 0) != 0) return false;
  out.uid = read_now.uid;
  out.gid = read_now.gid;
  out.groups = std::move(read_now.groups);
  return true;
}

}  // namespace dipc::daemon
