#include "dipcd/sem_undo.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "dipcd/ipc_ops.h"

namespace dipc::daemon {

int SemUndo::first_out_of_range(const Proc& p, int semid, const std::vector<sembuf>& sops) const {
  std::map<int, int> next;
  for (size_t i = 0; i < sops.size(); ++i) {
    const sembuf& s = sops[i];
    if (!(s.sem_flg & SEM_UNDO)) continue;
    auto it = next.find(s.sem_num);
    if (it == next.end()) {
      auto cur = adj_.find({p.first, p.second, semid, s.sem_num});
      it = next.emplace(s.sem_num, cur == adj_.end() ? 0 : cur->second).first;
    }
    it->second -= s.sem_op;
    if (it->second < kMinAdj || it->second > kMaxAdj) return int(i);
  }
  return -1;
}

namespace {

// The kernel's ipcperms(): may who make a call that alters (or only reads) the set?
bool permitted(const Identity& who, const ipc_perm& perm, bool alter) {
  if (who.uid == 0) return true;  // CAP_IPC_OWNER
  unsigned granted = perm.mode;
  auto in_group = [&who](gid_t g) {
    return who.gid == g || std::find(who.groups.begin(), who.groups.end(), g) != who.groups.end();
  };
  if (who.uid == perm.cuid || who.uid == perm.uid)
    granted >>= 6;
  else if (in_group(perm.cgid) || in_group(perm.gid))
    granted >>= 3;
  unsigned requested = alter ? 2 : 4;
  return (requested & ~granted & 7) == 0;
}

}  // namespace

bool SemUndo::refused_first(int semid, const std::vector<sembuf>& sops, const Identity& who) {
  semid_ds ds{};
  if (sysv::semctl(semid, 0, IPC_STAT, &ds) < 0) return true;
  bool alter = false;
  for (auto& s : sops) {
    if (s.sem_num >= ds.sem_nsems) return true;  // EFBIG
    alter |= s.sem_op != 0;
  }
  return !permitted(who, ds.sem_perm, alter);  // EACCES
}

std::vector<sembuf> SemUndo::range_wait(const std::vector<sembuf>& sops, size_t k) {
  std::vector<sembuf> w(sops.begin(), sops.begin() + long(k) + 1);
  for (auto& s : w) s.sem_flg &= short(~SEM_UNDO);
  unsigned short num = sops[k].sem_num;
  // After a positive operation k its semaphore is at least 1, and one +32767 overflows;
  // after a negative one it may be 0, and the second does.
  w.push_back(sembuf{num, short(kMaxAdj), 0});
  if (sops[k].sem_op < 0) w.push_back(sembuf{num, short(kMaxAdj), 0});
  return w;
}

void SemUndo::open_list(const Proc& p, int semid) { lists_.emplace(p.first, p.second, semid); }

void SemUndo::record(const Proc& p, int semid, const std::vector<sembuf>& sops) {
  open_list(p, semid);
  for (auto& s : sops) {
    if (!(s.sem_flg & SEM_UNDO) || s.sem_op == 0) continue;
    auto k = std::make_tuple(p.first, p.second, semid, int(s.sem_num));
    int v = (adj_[k] -= s.sem_op);
    if (v == 0) adj_.erase(k);
  }
}

void SemUndo::clear(int semid, int semnum) {
  std::erase_if(adj_, [&](const auto& e) {
    return std::get<2>(e.first) == semid && (semnum < 0 || std::get<3>(e.first) == semnum);
  });
}

void SemUndo::drop_set(int semid) {
  clear(semid, -1);
  std::erase_if(lists_, [&](const auto& l) { return std::get<2>(l) == semid; });
}

template <typename Match>
std::vector<SemUndo::Adjust> SemUndo::take_if(Match match) {
  std::vector<Adjust> out;
  std::set<std::tuple<std::string, int32_t, int>> with_adjustments;
  for (auto it = adj_.begin(); it != adj_.end();) {
    auto& [node, pid, semid, semnum] = it->first;
    if (match(node, pid)) {
      out.push_back({semid, semnum, it->second});
      with_adjustments.emplace(node, pid, semid);
      it = adj_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = lists_.begin(); it != lists_.end();) {
    auto& [node, pid, semid] = *it;
    if (match(node, pid)) {
      if (!with_adjustments.count(*it)) out.push_back({semid, -1, 0});
      it = lists_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<SemUndo::Adjust> SemUndo::take(const Proc& p) {
  return take_if([&p](const std::string& node, int32_t pid) { return node == p.first && pid == p.second; });
}

std::vector<SemUndo::Adjust> SemUndo::take_node(const std::string& node) {
  return take_if([&node](const std::string& n, int32_t) { return n == node; });
}

namespace {

// Runs ops as one semop with IPC_NOWAIT, reading the values again when a concurrent change
// made them fail (EAGAIN, or an overshoot's ERANGE). Bounded: values only move so often.
// make(val) gives the operations for the semaphore's current value, or nothing to do.
template <typename Make>
bool semop_at_value(int semid, int semnum, Make make) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    int val = sysv::semctl(semid, semnum, GETVAL, nullptr);
    if (val < 0) return false;  // the set is gone
    std::vector<sembuf> ops = make(val);
    if (ops.empty()) return false;
    if (syscall(SYS_semtimedop, semid, ops.data(), ops.size(), nullptr) == 0) return true;
    if (errno != EAGAIN && errno != ERANGE) return false;
  }
  return false;
}

// A semop that leaves the value as it is (+1 then -1, or -1 then +1 at the maximum): it sets
// the semaphore's sempid and the set's sem_otime, as the kernel's exit does.
bool net_zero(int semid, int semnum) {
  auto num = static_cast<unsigned short>(semnum);
  return semop_at_value(semid, semnum, [num](int val) {
    short first = val < SemUndo::kMaxAdj ? 1 : -1;
    return std::vector<sembuf>{{num, first, IPC_NOWAIT}, {num, short(-first), IPC_NOWAIT}};
  });
}

// Adds a.adj with the value clamped to 0..32767 (SEMVMX).
bool add_clamped(const SemUndo::Adjust& a) {
  bool done = false;
  bool ok = semop_at_value(a.semid, a.semnum, [&a, &done](int val) {
    int target = std::clamp(val + a.adj, 0, SemUndo::kMaxAdj);
    if (target == val) {
      done = true;  // the value stays: only sempid and sem_otime move, below
      return std::vector<sembuf>{};
    }
    return std::vector<sembuf>{
        {static_cast<unsigned short>(a.semnum), static_cast<short>(target - val), IPC_NOWAIT}};
  });
  return ok || (done && net_zero(a.semid, a.semnum));
}

// sem_otime of a set whose list had no adjustment, with a net-zero semop on a semaphore that
// already has a sempid (the first 256 are looked at), so that no sempid goes from 0 to set;
// when none has one, semaphore 0 gets dipcd's (where the kernel's exit leaves it 0).
void touch_otime(int semid) {
  semid_ds ds{};
  if (sysv::semctl(semid, 0, IPC_STAT, &ds) < 0) return;
  int num = 0;
  for (int i = 0; i < int(std::min<unsigned long>(ds.sem_nsems, 256)); ++i) {
    if (sysv::semctl(semid, i, GETPID, nullptr) > 0) {
      num = i;
      break;
    }
  }
  net_zero(semid, num);
}

}  // namespace

void apply_exit(const std::vector<SemUndo::Adjust>& adj) {
  std::map<int, bool> otime_set;  // semid -> a semop on it succeeded (it set sem_otime)
  for (auto& a : adj) {
    bool& set = otime_set[a.semid];
    if (a.semnum >= 0 && a.adj != 0 && add_clamped(a)) set = true;
  }
  for (auto& [semid, set] : otime_set)
    if (!set) touch_otime(semid);
}

}  // namespace dipc::daemon
