// IdentityCache: who a caller is, as uid, gid and groups, for the executor.
//
// A local caller is known by the kernel (SO_PEERCRED uid/gid); a remote caller by login
// name, which must name a local account (remote root acts as nobody unless remote_root).
// Looking an account up reads /etc/passwd and /etc/group or asks NSS (which may be LDAP and
// take seconds), so it never runs on the io thread: a miss is looked up on the background
// worker and its answer posted back; look-ups of one key in flight at once share one
// answer. Answers are kept for a short time (ttl) and all forgotten on SIGHUP: a changed
// account takes effect within ttl. At most kMaxEntries of each kind are kept.
// Thread safety: io thread only (look-ups run on the background worker).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dipcd/executor.h"
#include "dipcd/thread_check.h"

namespace dipc::daemon {

class BackgroundWorker;

// The look-ups themselves (blocking: background worker only).
Identity look_up_uid(uid_t uid, gid_t gid);
std::optional<Identity> look_up_name(const std::string& name, bool remote_root);

class IdentityCache {
 public:
  using UidDone = std::function<void(const Identity&)>;
  using NameDone = std::function<void(const std::optional<Identity>&)>;
  static constexpr size_t kMaxEntries = 4096;

  IdentityCache(BackgroundWorker& bg, std::chrono::seconds ttl, bool remote_root)
      : bg_(bg), ttl_(ttl), remote_root_(remote_root) {}
  // A local caller; the name is empty for a uid without an account. done may run now.
  void for_uid(uid_t uid, gid_t gid, UidDone done);
  // A remote caller by login name; nullopt when there is no such account here (or the
  // background queue is full). done may run now.
  void for_name(const std::string& name, NameDone done);
  void clear();

 private:
  using Clock = std::chrono::steady_clock;
  template <typename V, typename D>
  struct Entry {
    V value{};
    Clock::time_point at{};
    std::vector<D> waiting;  // while a look-up is in flight
  };
  BackgroundWorker& bg_;
  ThreadCheck thread_;
  std::chrono::seconds ttl_;
  bool remote_root_;
  uint64_t generation_ = 0;  // bumped by clear(): answers of older look-ups are not kept
  std::map<std::pair<uid_t, gid_t>, Entry<Identity, UidDone>> by_uid_;
  std::map<std::string, Entry<std::optional<Identity>, NameDone>> by_name_;
};

}  // namespace dipc::daemon
