// IdentityCache: who a caller is, as uid, gid and groups, for the executor.
//
// A local caller is known by the kernel (SO_PEERCRED uid/gid); a remote caller by login
// name, which must name a local account (remote root acts as nobody unless remote_root).
// Looking an account up reads /etc/passwd and /etc/group (or NSS), which costs more than
// the rest of a remote call together, so answers are kept for a short time (ttl) and all
// forgotten on SIGHUP: a changed account takes effect within ttl.
// Thread safety: io thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "dipcd/executor.h"

namespace dipc::daemon {

class IdentityCache {
 public:
  IdentityCache(std::chrono::seconds ttl, bool remote_root) : ttl_(ttl), remote_root_(remote_root) {}
  // A local caller; name is empty for a uid without an account.
  const Identity& for_uid(uid_t uid, gid_t gid);
  // A remote caller by login name; nullopt when there is no such account here.
  const std::optional<Identity>& for_name(const std::string& name);
  void clear();

 private:
  using Clock = std::chrono::steady_clock;
  template <typename V>
  struct Entry {
    V value;
    Clock::time_point at;
  };
  std::chrono::seconds ttl_;
  bool remote_root_;
  std::map<std::pair<uid_t, gid_t>, Entry<Identity>> by_uid_;
  std::map<std::string, Entry<std::optional<Identity>>> by_name_;
};

}  // namespace dipc::daemon
