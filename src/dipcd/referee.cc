#include "dipcd/referee.h"

#include <errno.h>
#include <sys/ipc.h>

#include <iterator>

namespace dipc::daemon {

using proto::Kind;
using proto::RegRecord;
using proto::RegStatus;

Referee::Referee(Outbox& out) : Referee(out, Limits{}, Clock::now) {}

Referee::Referee(Outbox& out, Limits limits, Now now)
    : out_(out), limits_(limits), now_(std::move(now)) {}

void Referee::node_joined(const std::string& name, const std::string& address, uint16_t port) {
  nodes_[name] = NodeInfo{address, port};
}

Referee::Usage Referee::usage(const std::string& node) const {
  auto it = usage_.find(node);
  return it == usage_.end() ? Usage{} : it->second;
}

void Referee::reply_error(const std::string& to, uint64_t reqid, Kind kind, int32_t key, int err) {
  RegRecord r;
  r.kind = kind;
  r.key = key;
  r.status = RegStatus::kError;
  r.err = err;
  out_.reg_reply(to, reqid, r);
}

void Referee::answer(Entry* e, Kind kind, int32_t key, const std::string& from, uint64_t reqid,
                     int32_t flags) {
  if (e == nullptr) {
    if (!(flags & IPC_CREAT)) return reply_error(from, reqid, kind, key, ENOENT);
    Usage& u = usage_[from];
    // Like the kernel's MSGMNI/SEMMNI/SHMMNI: no more objects. Locks are transient: retry.
    if (u.entries >= limits_.entries_per_node) return reply_error(from, reqid, kind, key, ENOSPC);
    if (u.locks >= limits_.locks_per_node) return reply_error(from, reqid, kind, key, EAGAIN);
    Entry& n = entries_[{uint8_t(kind), key}];
    n.kind = kind;
    n.key = key;
    n.locked = true;
    n.lease_end = now_() + limits_.lock_lease;
    n.owner = from;
    ++u.entries;
    ++u.locks;
    RegRecord r;
    r.kind = kind;
    r.key = key;
    r.status = RegStatus::kCreate;
    out_.reg_reply(from, reqid, r);
    return;
  }
  if ((flags & IPC_CREAT) && (flags & IPC_EXCL)) return reply_error(from, reqid, kind, key, EEXIST);
  if (from != e->owner) e->holders.insert(from);
  RegRecord r;
  r.kind = kind;
  r.key = key;
  r.status = RegStatus::kExists;
  r.owner = e->owner;
  auto n = nodes_.find(e->owner);
  if (n != nodes_.end()) {
    r.owner_addr = n->second.address;
    r.owner_port = n->second.port;
  }
  r.id = e->id;
  r.mode = e->mode;
  r.uid = e->uid;
  r.gid = e->gid;
  r.size = e->size;
  out_.reg_reply(from, reqid, r);
}

void Referee::wait(Entry& e, const Entry::Waiting& w) {
  e.waiting.push_back(w);
  ++usage_[w.node].waiting;
}

std::deque<Referee::Entry::Waiting> Referee::take_waiting(Entry& e) {
  std::deque<Entry::Waiting> out;
  out.swap(e.waiting);
  for (auto& w : out) --usage_[w.node].waiting;
  return out;
}

void Referee::erase_entry(std::map<EntryKey, Entry>::iterator it) {
  Usage& u = usage_[it->second.owner];
  --u.entries;
  if (it->second.locked) --u.locks;
  for (auto& w : it->second.waiting) --usage_[w.node].waiting;
  entries_.erase(it);
}

void Referee::lookup(const std::string& from, uint64_t reqid, Kind kind, int32_t key,
                     int32_t flags) {
  auto it = entries_.find({uint8_t(kind), key});
  if (it != entries_.end() && it->second.locked) {
    if (usage_[from].waiting >= limits_.waiting_per_node)
      return reply_error(from, reqid, kind, key, EAGAIN);
    wait(it->second, {from, reqid, flags});
    return;
  }
  answer(it == entries_.end() ? nullptr : &it->second, kind, key, from, reqid, flags);
}

// Answers the lookups that waited for a lock, in arrival order; one of them may take a new
// lock, and the rest then wait for that one.
void Referee::drain(const EntryKey& k) {
  std::deque<Entry::Waiting> waiting;
  auto it = entries_.find(k);
  if (it != entries_.end()) waiting = take_waiting(it->second);
  while (!waiting.empty()) {
    auto w = waiting.front();
    waiting.pop_front();
    it = entries_.find(k);
    if (it != entries_.end() && it->second.locked) {
      wait(it->second, w);
      continue;
    }
    answer(it == entries_.end() ? nullptr : &it->second, Kind(k.first), k.second, w.node, w.reqid,
           w.flags);
  }
}

bool Referee::commit(const std::string& from, const RegRecord& r) {
  EntryKey k{uint8_t(r.kind), r.key};
  auto it = entries_.find(k);
  if (it != entries_.end() && it->second.owner != from) return false;  // someone else's key
  if (it == entries_.end()) {
    // A re-registration (the referee restarted, or the sender's lock expired before it
    // committed) of a key nobody holds.
    Usage& u = usage_[from];
    if (u.entries >= limits_.entries_per_node) return false;
    ++u.entries;
  } else if (it->second.locked) {
    --usage_[from].locks;
  }
  Entry& e = entries_[k];
  e.kind = r.kind;
  e.key = r.key;
  e.locked = false;
  e.owner = from;
  e.id = r.id;
  e.mode = r.mode;
  e.uid = r.uid;
  e.gid = r.gid;
  e.size = r.size;
  settle_holdings(k);
  drain(k);
  return true;
}

void Referee::tell_removed(const std::string& holder, Kind kind, int32_t key,
                           const std::string& owner, int32_t id) {
  RegRecord r;
  r.kind = kind;
  r.key = key;
  r.owner = owner;
  r.id = id;
  out_.reg_removed(holder, r);
}

// k was just registered: the holdings announced for it become holders, or are told that
// their placeholder is of another object.
void Referee::settle_holdings(const EntryKey& k) {
  auto h = holdings_.find(k);
  if (h == holdings_.end()) return;
  auto held = std::move(h->second);
  holdings_.erase(h);
  Entry& e = entries_.at(k);
  for (auto& [holder, what] : held) {
    --usage_[holder].holds;
    if (what.owner == e.owner && what.id == e.id && holder != e.owner)
      e.holders.insert(holder);
    else
      tell_removed(holder, e.kind, e.key, what.owner, what.id);
  }
}

void Referee::hold(const std::string& from, const RegRecord& r) {
  std::string owner(r.owner);
  if (owner.empty() || owner == from) return;
  EntryKey k{uint8_t(r.kind), r.key};
  auto it = entries_.find(k);
  if (it != entries_.end() && !it->second.locked) {
    if (it->second.owner == owner && it->second.id == r.id)
      it->second.holders.insert(from);
    else
      tell_removed(from, r.kind, r.key, owner, r.id);  // another object now
    return;
  }
  // The owner has not registered it (yet): wait for it, for a while.
  auto& held = holdings_[k];
  auto h = held.find(from);
  if (h == held.end()) {
    if (usage_[from].holds >= limits_.holds_per_node) {
      if (held.empty()) holdings_.erase(k);
      return;
    }
    ++usage_[from].holds;
  }
  held[from] = Holding{owner, r.id, now_() + limits_.hold_wait};
}

// The lock on k is gone (aborted, expired, its node dead): the waiters ask again.
void Referee::release_lock(const EntryKey& k) {
  auto it = entries_.find(k);
  if (it == entries_.end() || !it->second.locked) return;
  auto waiting = take_waiting(it->second);
  erase_entry(it);
  for (auto& w : waiting) lookup(w.node, w.reqid, Kind(k.first), k.second, w.flags);
}

void Referee::abort(const std::string& from, Kind kind, int32_t key) {
  EntryKey k{uint8_t(kind), key};
  auto it = entries_.find(k);
  if (it == entries_.end() || !it->second.locked || it->second.owner != from) return;
  release_lock(k);
}

size_t Referee::expire() {
  auto now = now_();
  std::vector<EntryKey> ended;
  for (auto& [k, e] : entries_)
    if (e.locked && e.lease_end <= now) ended.push_back(k);
  for (auto& k : ended) release_lock(k);
  for (auto h = holdings_.begin(); h != holdings_.end();) {
    for (auto w = h->second.begin(); w != h->second.end();) {
      if (w->second.until > now) {
        ++w;
        continue;
      }
      --usage_[w->first].holds;
      tell_removed(w->first, Kind(h->first.first), h->first.second, w->second.owner, w->second.id);
      w = h->second.erase(w);
    }
    h = h->second.empty() ? holdings_.erase(h) : std::next(h);
  }
  return ended.size();
}

void Referee::erase_and_notify(const EntryKey& k) {
  auto it = entries_.find(k);
  if (it == entries_.end()) return;
  Entry e = it->second;
  auto waiting = take_waiting(it->second);
  erase_entry(it);
  RegRecord r;
  r.kind = e.kind;
  r.key = e.key;
  r.owner = e.owner;
  r.id = e.id;
  for (const auto& h : e.holders) out_.reg_removed(h, r);
  for (auto& w : waiting) lookup(w.node, w.reqid, e.kind, e.key, w.flags);
}

void Referee::remove(const std::string& from, Kind kind, int32_t key) {
  EntryKey k{uint8_t(kind), key};
  auto it = entries_.find(k);
  if (it == entries_.end() || it->second.owner != from || it->second.locked) return;
  erase_and_notify(k);
}

std::vector<RegRecord> Referee::records(std::vector<std::string>& storage) const {
  storage.clear();
  storage.reserve(entries_.size());
  std::vector<RegRecord> out;
  for (auto& [k, e] : entries_) {
    std::string hs;
    for (auto& h : e.holders) hs += (hs.empty() ? "" : ",") + h;
    storage.push_back(std::move(hs));
    RegRecord r;
    r.kind = e.kind;
    r.key = e.key;
    r.owner = e.owner;
    if (auto n = nodes_.find(e.owner); n != nodes_.end()) {
      r.owner_addr = n->second.address;
      r.owner_port = n->second.port;
    }
    r.id = e.id;
    r.mode = e.mode;
    r.uid = e.uid;
    r.gid = e.gid;
    r.size = e.size;
    r.status = e.locked ? RegStatus::kCreate : RegStatus::kExists;
    r.holders = storage.back();
    out.push_back(r);
  }
  return out;
}

void Referee::node_dead(const std::string& name) {
  nodes_.erase(name);
  std::vector<EntryKey> owned, locked;
  for (auto& [k, e] : entries_) {
    e.holders.erase(name);
    std::erase_if(e.waiting, [&](const Entry::Waiting& w) { return w.node == name; });
    if (e.owner == name) (e.locked ? locked : owned).push_back(k);
  }
  usage_[name].waiting = 0;
  // Its own holdings go; holdings of its objects are of objects now gone.
  for (auto h = holdings_.begin(); h != holdings_.end();) {
    for (auto w = h->second.begin(); w != h->second.end();) {
      if (w->first == name) {
        w = h->second.erase(w);
      } else if (w->second.owner == name) {
        --usage_[w->first].holds;
        tell_removed(w->first, Kind(h->first.first), h->first.second, name, w->second.id);
        w = h->second.erase(w);
      } else {
        ++w;
      }
    }
    h = h->second.empty() ? holdings_.erase(h) : std::next(h);
  }
  for (auto& k : locked) release_lock(k);
  for (auto& k : owned) erase_and_notify(k);
  usage_.erase(name);
}

}  // namespace dipc::daemon
