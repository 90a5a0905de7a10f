// Caller credentials at the time of a call: the effective uid, gid and supplementary groups
// a local process (one of its threads) has now, read from procfs.
//
// SO_PEERCRED says who connected; a process may change its effective ids or its groups
// afterwards (setgroups alone included), and Linux checks each System V call with the ids
// the caller has at that call. So dipcd reads /proc/PID/task/TID/status for each call
// (TID: the thread the shim says made it, when it is a thread of PID; else /proc/PID/status)
// and then checks the pidfd it holds for the process: if the process has not exited, PID
// was not reused and what was read is the caller's. A read of a live process's status is a
// procfs read with no disk behind it (about 10 µs, docs/security.md), so it is done on the
// io thread.
// A call that dipcd only forwards to another node needs the effective uid and gid alone (the
// owner acts as the account of that uid's login name, with the account's groups):
// read_caller_ids gets them through a pidfd of the calling thread (PIDFD_GET_INFO, Linux
// 6.13 and later), about 1 µs with no procfs path and no text; the pidfd is kept in a
// CallerThread per local client between calls of the same thread.
// Thread safety: read_caller_creds and parse_status_creds any thread (no state); a
// CallerThread belongs to its client's thread (the io thread).
#pragma once

#include <sys/types.h>

#include <string_view>

#include "dipcd/executor.h"

namespace dipc::daemon {

// Filled in: uid and gid (the effective ids) and groups; the name is left as it was.
// Parses the Uid:, Gid: and Groups: lines of a /proc/.../status text; false when one is
// missing or malformed, or there are more than kMaxGroups groups.
inline constexpr size_t kMaxGroups = 65536;  // NGROUPS_MAX
bool parse_status_creds(std::string_view status, Identity& out);

// Reads the credentials of thread tid of process pid now (tid <= 0 or not a thread of pid:
// the process's main thread); pidfd is the process's, checked after the read. False when
// the process is gone (or there is no pidfd) or procfs could not be read; out is then as
// it was.
bool read_caller_creds(pid_t pid, pid_t tid, int pidfd, Identity& out);

// A pidfd of one thread of a local client's process, kept between its calls (the shim
// makes a thread's calls on a connection of its own, so it is mostly one thread).
class CallerThread {
 public:
  CallerThread() = default;
  CallerThread(const CallerThread&) = delete;
  CallerThread& operator=(const CallerThread&) = delete;
  ~CallerThread() { reset(); }
  void reset();

 private:
  friend bool read_caller_ids(pid_t, pid_t, int, CallerThread&, Identity&);
  pid_t tid_ = 0;  // the thread id the calls named
  int fd_ = -1;    // a pidfd of that thread (or of the main thread, as read_caller_creds)
};

// The effective uid and gid (out.uid, out.gid; nothing else is touched) of thread tid of
// process pid now, the same thread read_caller_creds would read, through t's pidfd of it
// (opened when tid is new to t, and then checked against pidfd as read_caller_creds checks
// its read). False when this kernel has no PIDFD_GET_INFO, the thread is gone or it could
// not be opened: read_caller_creds then says what is true.
bool read_caller_ids(pid_t pid, pid_t tid, int pidfd, CallerThread& t, Identity& out);

}  // namespace dipc::daemon
