#include "dipcd/sem_undo.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "dipcd/ipc_ops.h"

namespace dipc::daemon {

bool SemUndo::in_range(const Proc& p, int semid, const std::vector<sembuf>& sops) const {
  std::map<int, int> next;
  for (auto& s : sops) {
    if (!(s.sem_flg & SEM_UNDO)) continue;
    auto it = next.find(s.sem_num);
    if (it == next.end()) {
      auto cur = adj_.find({p.first, p.second, semid, s.sem_num});
      it = next.emplace(s.sem_num, cur == adj_.end() ? 0 : cur->second).first;
    }
    it->second -= s.sem_op;
    if (it->second < kMinAdj || it->second > kMaxAdj) return false;
  }
  return true;
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

int SemUndo::range_error(const Proc& p, int semid, const std::vector<sembuf>& sops,
                         const Identity& who) const {
  semid_ds ds{};
  if (sysv::semctl(semid, 0, IPC_STAT, &ds) < 0) return 0;
  std::vector<unsigned short> vals(ds.sem_nsems);
  if (sysv::semctl(semid, 0, GETALL, vals.data()) < 0) return 0;
  bool alter = false;
  for (auto& s : sops) {
    if (s.sem_num >= vals.size()) return 0;  // EFBIG
    alter |= s.sem_op != 0;
  }
  if (!permitted(who, ds.sem_perm, alter)) return 0;  // EACCES
  std::map<int, int> adj;
  for (auto& s : sops) {
    int val = vals[s.sem_num];
    bool blocks = s.sem_op == 0 ? val != 0 : val + s.sem_op < 0;
    if (blocks) return (s.sem_flg & IPC_NOWAIT) ? EAGAIN : ERANGE;
    int result = val + s.sem_op;
    if (result > kMaxAdj) return ERANGE;  // SEMVMX, the same number
    if (s.sem_flg & SEM_UNDO) {
      auto it = adj.find(s.sem_num);
      if (it == adj.end()) {
        auto cur = adj_.find({p.first, p.second, semid, s.sem_num});
        it = adj.emplace(s.sem_num, cur == adj_.end() ? 0 : cur->second).first;
      }
      it->second -= s.sem_op;
      if (it->second < kMinAdj || it->second > kMaxAdj) return ERANGE;
    }
    vals[s.sem_num] = static_cast<unsigned short>(result);
  }
  return ERANGE;
}

void SemUndo::record(const Proc& p, int semid, const std::vector<sembuf>& sops) {
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

void SemUndo::drop_set(int semid) { clear(semid, -1); }

std::vector<SemUndo::Adjust> SemUndo::take(const Proc& p) {
  std::vector<Adjust> out;
  for (auto it = adj_.begin(); it != adj_.end();) {
    if (std::get<0>(it->first) == p.first && std::get<1>(it->first) == p.second) {
      out.push_back({std::get<2>(it->first), std::get<3>(it->first), it->second});
      it = adj_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<SemUndo::Adjust> SemUndo::take_node(const std::string& node) {
  std::vector<Adjust> out;
  for (auto it = adj_.begin(); it != adj_.end();) {
    if (std::get<0>(it->first) == node) {
      out.push_back({std::get<2>(it->first), std::get<3>(it->first), it->second});
      it = adj_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void apply_adjustment(const SemUndo::Adjust& a) {
  // Read, clamp, apply with IPC_NOWAIT; a concurrent change makes the semop fail with
  // EAGAIN (or overshoot ERANGE), and we read again. Bounded: values only move so often.
  for (int attempt = 0; attempt < 100; ++attempt) {
    int val = sysv::semctl(a.semid, a.semnum, GETVAL, nullptr);
    if (val < 0) return;  // the set is gone
    int target = std::clamp(val + a.adj, 0, SemUndo::kMaxAdj);  // SEMVMX
    if (target == val) return;
    sembuf op{static_cast<unsigned short>(a.semnum), static_cast<short>(target - val), IPC_NOWAIT};
    if (syscall(SYS_semtimedop, a.semid, &op, 1, nullptr) == 0) return;
    if (errno != EAGAIN && errno != ERANGE) return;
  }
}

}  // namespace dipc::daemon
