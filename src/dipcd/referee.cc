#include "dipcd/referee.h"

#include <errno.h>
#include <sys/ipc.h>

namespace dipc::daemon {

using proto::Kind;
using proto::RegRecord;
using proto::RegStatus;

void Referee::node_joined(const std::string& name, const std::string& address, uint16_t port) {
  nodes_[name] = NodeInfo{address, port};
}

void Referee::answer(Entry* e, Kind kind, int32_t key, const std::string& from, uint64_t reqid,
                     int32_t flags) {
  RegRecord r;
  r.kind = kind;
  r.key = key;
  if (e == nullptr) {
    if (!(flags & IPC_CREAT)) {
      r.status = RegStatus::kError;
      r.err = ENOENT;
      out_.reg_reply(from, reqid, r);
      return;
    }
    Entry& n = entries_[{uint8_t(kind), key}];
    n.kind = kind;
    n.key = key;
    n.locked = true;
    n.owner = from;
    r.status = RegStatus::kCreate;
    out_.reg_reply(from, reqid, r);
    return;
  }
  if ((flags & IPC_CREAT) && (flags & IPC_EXCL)) {
    r.status = RegStatus::kError;
    r.err = EEXIST;
    out_.reg_reply(from, reqid, r);
    return;
  }
  if (from != e->owner) e->holders.insert(from);
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

void Referee::lookup(const std::string& from, uint64_t reqid, Kind kind, int32_t key,
                     int32_t flags) {
  auto it = entries_.find({uint8_t(kind), key});
  if (it != entries_.end() && it->second.locked) {
    it->second.waiting.push_back({from, reqid, flags});
    return;
  }
  answer(it == entries_.end() ? nullptr : &it->second, kind, key, from, reqid, flags);
}

// Answers the lookups that waited for a lock, in arrival order; one of them may take a new
// lock, and the rest then wait for that one.
void Referee::drain(const EntryKey& k) {
  std::deque<Entry::Waiting> waiting;
  auto it = entries_.find(k);
  if (it != entries_.end()) waiting.swap(it->second.waiting);
  while (!waiting.empty()) {
    auto w = waiting.front();
    waiting.pop_front();
    it = entries_.find(k);
    if (it != entries_.end() && it->second.locked) {
      it->second.waiting.push_back(w);
      continue;
    }
    answer(it == entries_.end() ? nullptr : &it->second, Kind(k.first), k.second, w.node, w.reqid,
           w.flags);
  }
}

void Referee::commit(const std::string& from, const RegRecord& r) {
  EntryKey k{uint8_t(r.kind), r.key};
  auto it = entries_.find(k);
  if (it != entries_.end() && it->second.owner != from) return;  // someone else's key
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
  drain(k);
}

void Referee::abort(const std::string& from, Kind kind, int32_t key) {
  EntryKey k{uint8_t(kind), key};
  auto it = entries_.find(k);
  if (it == entries_.end() || !it->second.locked || it->second.owner != from) return;
  auto waiting = std::move(it->second.waiting);
  entries_.erase(it);
  for (auto& w : waiting) lookup(w.node, w.reqid, kind, key, w.flags);
}

void Referee::erase_and_notify(const EntryKey& k) {
  auto it = entries_.find(k);
  if (it == entries_.end()) return;
  Entry e = std::move(it->second);
  entries_.erase(it);
  RegRecord r;
  r.kind = e.kind;
  r.key = e.key;
  r.owner = e.owner;
  r.id = e.id;
  for (const auto& h : e.holders) out_.reg_removed(h, r);
  for (auto& w : e.waiting) lookup(w.node, w.reqid, e.kind, e.key, w.flags);
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
  for (auto& k : locked) abort(name, Kind(k.first), k.second);
  for (auto& k : owned) erase_and_notify(k);
}

}  // namespace dipc::daemon
