#include "dipcd/identity.h"

#include <grp.h>
#include <pwd.h>

#include <vector>

#include "proto/wire.h"

namespace dipc::daemon {
namespace {

constexpr uid_t kNobody = 65534;
constexpr size_t kMaxEntries = 4096;

Identity look_up_uid(uid_t uid, gid_t gid) {
  Identity who;
  who.uid = uid;
  who.gid = gid;
  passwd pw{}, *res = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || res == nullptr) return who;
  who.name = pw.pw_name;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  if (getgrouplist(pw.pw_name, gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n));
    getgrouplist(pw.pw_name, gid, groups.data(), &n);
  }
  groups.resize(static_cast<size_t>(n));
  who.groups = std::move(groups);
  return who;
}

}  // namespace

const Identity& IdentityCache::for_uid(uid_t uid, gid_t gid) {
  auto now = Clock::now();
  if (by_uid_.size() >= kMaxEntries && !by_uid_.count({uid, gid})) by_uid_.clear();
  auto& e = by_uid_[{uid, gid}];
  if (e.at == Clock::time_point{} || now - e.at > ttl_) e = {look_up_uid(uid, gid), now};
  return e.value;
}

const std::optional<Identity>& IdentityCache::for_name(const std::string& name) {
  // The decoder has checked it already; a name that is no login name never reaches NSS
  // (a NUL inside one would end the C string early: "root\0x" would be looked up as root).
  static const std::optional<Identity> kNone;
  if (!proto::is_valid_login_name(name)) return kNone;
  auto now = Clock::now();
  // Names come from peers: a bound on how many are remembered.
  if (by_name_.size() >= kMaxEntries && !by_name_.count(name)) by_name_.clear();
  auto& e = by_name_[name];
  if (e.at != Clock::time_point{} && now - e.at <= ttl_) return e.value;
  std::string as = name == "root" && !remote_root_ ? "nobody" : name;
  std::optional<Identity> who;
  passwd pw{}, *res = nullptr;
  char buf[4096];
  if (!as.empty() && getpwnam_r(as.c_str(), &pw, buf, sizeof buf, &res) == 0 && res != nullptr) {
    who = look_up_uid(pw.pw_uid, pw.pw_gid);
    who->name = as;
  } else if (as == "nobody") {
    who = Identity{kNobody, kNobody, {}, "nobody"};
  }
  e = {std::move(who), now};
  return e.value;
}

void IdentityCache::clear() {
  by_uid_.clear();
  by_name_.clear();
}

}  // namespace dipc::daemon
