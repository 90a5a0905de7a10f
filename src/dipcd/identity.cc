#include "dipcd/identity.h"

#include <grp.h>
#include <pwd.h>

#include <vector>

#include "dipcd/background.h"
#include "proto/wire.h"

namespace dipc::daemon {
namespace {

constexpr uid_t kNobody = 65534;

}  // namespace

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

std::optional<Identity> look_up_name(const std::string& name, bool remote_root) {
  // The decoder has checked it already; a name that is no login name never reaches NSS
  // (a NUL inside one would end the C string early: "root\0x" would be looked up as root).
  if (!proto::is_valid_login_name(name)) return std::nullopt;
  std::string as = name == "root" && !remote_root ? "nobody" : name;
  passwd pw{}, *res = nullptr;
  char buf[4096];
  if (getpwnam_r(as.c_str(), &pw, buf, sizeof buf, &res) == 0 && res != nullptr) {
    Identity who = look_up_uid(pw.pw_uid, pw.pw_gid);
    who.name = as;
    return who;
  }
  if (as == "nobody") return Identity{kNobody, kNobody, {}, "nobody"};
  return std::nullopt;
}

void IdentityCache::for_uid(uid_t uid, gid_t gid, UidDone done) {
  DIPC_ON_THREAD(thread_);
  auto now = Clock::now();
  auto k = std::make_pair(uid, gid);
  if (by_uid_.size() >= kMaxEntries && !by_uid_.count(k))
    std::erase_if(by_uid_, [](const auto& kv) { return kv.second.waiting.empty(); });
  auto& e = by_uid_[k];
  if (e.at != Clock::time_point{} && now - e.at <= ttl_) return done(e.value);
  e.waiting.push_back(std::move(done));
  if (e.waiting.size() > 1) return;  // a look-up is on its way
  uint64_t gen = generation_;
  bool queued = bg_.run<Identity>([uid, gid] { return look_up_uid(uid, gid); },
                                  [this, k, gen](Identity who) {
                                    auto it = by_uid_.find(k);
                                    if (it == by_uid_.end()) return;
                                    auto waiting = std::move(it->second.waiting);
                                    if (gen == generation_)
                                      it->second.value = who, it->second.at = Clock::now();
                                    for (auto& w : waiting) w(who);
                                  });
  if (!queued) {
    auto waiting = std::move(e.waiting);
    Identity who{uid, gid, {}, ""};
    for (auto& w : waiting) w(who);
  }
}

void IdentityCache::for_name(const std::string& name, NameDone done) {
  DIPC_ON_THREAD(thread_);
  if (!proto::is_valid_login_name(name)) return done(std::nullopt);
  auto now = Clock::now();
  // Names come from peers: a bound on how many are remembered.
  if (by_name_.size() >= kMaxEntries && !by_name_.count(name))
    std::erase_if(by_name_, [](const auto& kv) { return kv.second.waiting.empty(); });
  auto& e = by_name_[name];
  if (e.at != Clock::time_point{} && now - e.at <= ttl_) return done(e.value);
  e.waiting.push_back(std::move(done));
  if (e.waiting.size() > 1) return;
  uint64_t gen = generation_;
  bool rr = remote_root_;
  bool queued = bg_.run<std::optional<Identity>>(
      [name, rr] { return look_up_name(name, rr); },
      [this, name, gen](std::optional<Identity> who) {
        auto it = by_name_.find(name);
        if (it == by_name_.end()) return;
        auto waiting = std::move(it->second.waiting);
        if (gen == generation_) it->second.value = who, it->second.at = Clock::now();
        for (auto& w : waiting) w(who);
      });
  if (!queued) {
    auto waiting = std::move(e.waiting);
    for (auto& w : waiting) w(std::nullopt);
  }
}

void IdentityCache::clear() {
  // Look-ups in flight keep their waiters; only finished answers are forgotten.
  ++generation_;
  for (auto it = by_uid_.begin(); it != by_uid_.end();)
    it = it->second.waiting.empty() ? by_uid_.erase(it) : std::next(it);
  for (auto it = by_name_.begin(); it != by_name_.end();)
    it = it->second.waiting.empty() ? by_name_.erase(it) : std::next(it);
}

}  // namespace dipc::daemon
