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
// Thread safety: any thread (no state).
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

}  // namespace dipc::daemon
