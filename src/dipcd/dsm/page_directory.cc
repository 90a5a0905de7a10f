#include "dipcd/dsm/page_directory.h"

namespace dipc::daemon::dsm {

namespace {
constexpr uint64_t bit(NodeId n) { return uint64_t(1) << n; }
}  // namespace

PageDirectory::Unit& PageDirectory::unit_state(uint64_t u) { return units_map_[u]; }

PageDirectory::UnitView PageDirectory::view(uint64_t unit) const {
  UnitView v;
  auto it = units_map_.find(unit);
  if (it == units_map_.end()) return v;
  const Unit& s = it->second;
  v.writer = s.writer;
  v.has_writer = s.has_writer;
  v.readers = s.readers;
  v.lost = s.lost;
  v.busy = s.txn != nullptr;
  return v;
}

bool PageDirectory::request(NodeId node, uint64_t unit, Access want, uint64_t reqid, Time now,
                            std::vector<Action>& out) {
  if (unit >= units_ || node >= kMaxNodes || want == Access::kNone) return false;
  if (dead_ & bit(node)) return true;  // a late frame from a node declared dead
  Unit& s = unit_state(unit);
  Request r{node, want, reqid};
  if (s.txn) {
    for (Request& q : s.queue)
      if (q.node == node && q.want == want) {
        q.reqid = reqid;  // asked again: one answer, to the latest request
        return true;
      }
    s.queue.push_back(r);
    return true;
  }
  start(unit, s, r, now, out);
  next_in_queue(unit, s, now, out);
  return true;
}

void PageDirectory::start(uint64_t u, Unit& s, const Request& r, Time now,
                          std::vector<Action>& out) {
  const uint64_t me = bit(r.node);
  auto grant = [&](Access a, bool data) {
    out.push_back({Action::Type::kGrant, r.node, u, a, {}, data, r.reqid});
  };
  if (s.lost) {
    out.push_back({Action::Type::kFail, r.node, u, Access::kNone, {}, false, r.reqid});
    return;
  }
  // Already held: answer with what it holds; the holder's copy is valid.
  if (s.has_writer && s.writer == r.node) return grant(Access::kWrite, false);
  if (r.want == Access::kRead && (s.readers & me)) return grant(Access::kRead, false);
  if (r.want == Access::kRead && !s.has_writer) {
    // Readers only: the owner is one of them, its copy is served.
    s.readers |= me;
    s.granted = now;
    return grant(Access::kRead, r.node != kOwner);
  }
  auto t = std::make_unique<Txn>();
  t->req = r;
  if (r.want == Access::kRead) {
    t->mode = RecallMode::kDowngrade;
    t->scheduled = bit(s.writer);
    t->need_data = true;
    t->data_from = s.writer == kOwner ? 0 : bit(s.writer);
  } else {
    t->mode = RecallMode::kInvalidate;
    t->scheduled = (s.has_writer ? bit(s.writer) : s.readers) & ~me;
    t->need_data = !(s.readers & me);
    t->data_from = (t->need_data && s.has_writer && s.writer != kOwner) ? bit(s.writer) : 0;
  }
  s.txn = std::move(t);
  if (s.txn->scheduled == 0) return finish(u, s, now, out);
  send_recalls(u, s, now, out);
}

void PageDirectory::send_recalls(uint64_t u, Unit& s, Time now, std::vector<Action>& out) {
  Txn& t = *s.txn;
  Time due = s.granted + quantum_;
  if (now < due) {
    if (t.due != due) {
      timers_.erase({t.due, u});
      t.due = due;
      timers_.insert({due, u});
    }
    return;
  }
  timers_.erase({t.due, u});
  for (NodeId n = 0; n < kMaxNodes; ++n) {
    if (!(t.scheduled & bit(n))) continue;
    out.push_back({Action::Type::kRecall, n, u, Access::kNone, t.mode, (t.data_from & bit(n)) != 0,
                   0});
  }
  t.waiting |= t.scheduled;
  t.scheduled = 0;
}

bool PageDirectory::expects_data(NodeId node, uint64_t unit) const {
  if (node >= kMaxNodes) return false;
  auto it = units_map_.find(unit);
  if (it == units_map_.end() || !it->second.txn) return false;
  const Txn& t = *it->second.txn;
  return (t.data_from & bit(node)) && (t.waiting & bit(node));
}

bool PageDirectory::recall_done(NodeId node, uint64_t unit, Time now, std::vector<Action>& out) {
  if (node >= kMaxNodes) return false;
  auto it = units_map_.find(unit);
  if (it == units_map_.end() || !it->second.txn || !(it->second.txn->waiting & bit(node)))
    return false;
  Unit& s = it->second;
  s.txn->waiting &= ~bit(node);
  if (s.txn->waiting == 0 && s.txn->scheduled == 0) {
    finish(unit, s, now, out);
    next_in_queue(unit, s, now, out);
  }
  return true;
}

void PageDirectory::finish(uint64_t u, Unit& s, Time now, std::vector<Action>& out) {
  std::unique_ptr<Txn> t = std::move(s.txn);
  timers_.erase({t->due, u});
  const Request& r = t->req;
  const bool alive = !(dead_ & bit(r.node));
  if (t->mode == RecallMode::kDowngrade) {
    NodeId w = s.writer;
    s.has_writer = false;
    s.readers = bit(w) | bit(kOwner);
    if (w != kOwner) out.push_back({Action::Type::kFill, kOwner, u, Access::kRead, {}, false, 0});
    if (!alive) return;
    s.readers |= bit(r.node);
    s.granted = now;
    out.push_back({Action::Type::kGrant, r.node, u, Access::kRead, {}, r.node != kOwner, r.reqid});
    return;
  }
  if (!alive) {
    // Everyone else was invalidated for a node that died meanwhile: the owner's copy (which
    // the recalls filled, or which it never dropped) is the one left.
    s.has_writer = false;
    s.readers = bit(kOwner);
    out.push_back({Action::Type::kFill, kOwner, u, Access::kRead, {}, false, 0});
    return;
  }
  s.readers = 0;
  s.has_writer = true;
  s.writer = r.node;
  s.granted = now;
  out.push_back({Action::Type::kGrant, r.node, u, Access::kWrite, {}, t->need_data && r.node != kOwner,
                 r.reqid});
}

void PageDirectory::fail_txn(uint64_t u, Unit& s, std::vector<Action>& out) {
  std::unique_ptr<Txn> t = std::move(s.txn);
  timers_.erase({t->due, u});
  if (!(dead_ & bit(t->req.node)))
    out.push_back({Action::Type::kFail, t->req.node, u, Access::kNone, {}, false, t->req.reqid});
}

void PageDirectory::next_in_queue(uint64_t u, Unit& s, Time now, std::vector<Action>& out) {
  while (!s.txn && !s.queue.empty()) {
    Request r = s.queue.front();
    s.queue.erase(s.queue.begin());
    if (dead_ & bit(r.node)) continue;
    start(u, s, r, now, out);
  }
  maybe_forget(u);
}

void PageDirectory::maybe_forget(uint64_t u) {
  auto it = units_map_.find(u);
  if (it == units_map_.end()) return;
  const Unit& s = it->second;
  if (!s.txn && s.queue.empty() && !s.lost && s.has_writer && s.writer == kOwner && s.readers == 0)
    units_map_.erase(it);
}

void PageDirectory::node_dead(NodeId node, Time now, std::vector<Action>& out) {
  if (node >= kMaxNodes || node == kOwner) return;
  const uint64_t b = bit(node);
  dead_ |= b;
  std::vector<uint64_t> touched;
  for (auto& [u, s] : units_map_) {
    std::erase_if(s.queue, [&](const Request& r) { return r.node == node; });
    if (s.txn) {
      Txn& t = *s.txn;
      if (t.data_from & b) {
        // The only current copy was there.
        s.lost = true;
        s.has_writer = false;
        s.readers = 0;
        fail_txn(u, s, out);
      } else {
        t.waiting &= ~b;
        t.scheduled &= ~b;
        // It was the writer being invalidated for a requester that holds a valid copy.
        if (s.has_writer && s.writer == node) {
          s.has_writer = false;
          s.readers = 0;
        }
        s.readers &= ~b;
        if (t.waiting == 0 && t.scheduled == 0) {
          if (t.mode == RecallMode::kDowngrade) {
            // Downgrading a writer other than the dead one cannot be pending here.
            fail_txn(u, s, out);
          } else {
            finish(u, s, now, out);
          }
        }
      }
    } else {
      if (s.has_writer && s.writer == node) {
        s.lost = true;
        s.has_writer = false;
      }
      s.readers &= ~b;
    }
    touched.push_back(u);
  }
  for (uint64_t u : touched) {
    auto it = units_map_.find(u);
    if (it != units_map_.end()) next_in_queue(u, it->second, now, out);
  }
}

void PageDirectory::tick(Time now, std::vector<Action>& out) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    uint64_t u = timers_.begin()->second;
    timers_.erase(timers_.begin());
    auto it = units_map_.find(u);
    if (it == units_map_.end() || !it->second.txn) continue;
    it->second.txn->due = Time{};
    send_recalls(u, it->second, now, out);
  }
}

Time PageDirectory::next_deadline() const {
  return timers_.empty() ? Time::max() : timers_.begin()->first;
}

}  // namespace dipc::daemon::dsm
