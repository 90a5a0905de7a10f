// SemUndo: SEM_UNDO on behalf of processes of other nodes.
//
// The kernel keeps undo lists per process, and at the owner the process making the call
// would be dipcd itself. So for a remote caller dipcd removes SEM_UNDO from the operations,
// keeps the adjustments here per (node, pid), and applies them when that process exits (its
// node says so) or its node is declared dead. Like the kernel, SETVAL and SETALL clear the
// adjustments of the semaphores they set, and an adjustment outside -32767..32767 is ERANGE.
// Thread safety: io thread only.
#pragma once

#include <sys/sem.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "dipcd/executor.h"

namespace dipc::daemon {

class SemUndo {
 public:
  using Proc = std::pair<std::string, int32_t>;  // (node, pid)
  struct Adjust {
    int semid;
    int semnum;
    int adj;
  };
  static constexpr int kMaxAdj = 32767;  // SEMAEM; the kernel allows -SEMAEM-1..SEMAEM
  static constexpr int kMinAdj = -32768;

  // False when applying sops would take an adjustment out of range.
  bool in_range(const Proc& p, int semid, const std::vector<sembuf>& sops) const;
  // When in_range() is false: the errno Linux gives first, found by going through the
  // operations in order against the set's current values as the kernel does. EAGAIN when an
  // IPC_NOWAIT operation would block before any range is exceeded, 0 when the kernel itself
  // will refuse the call (EFBIG), ERANGE otherwise; also when an operation without
  // IPC_NOWAIT would block first (Linux would wait; docs/errors.md). 0 too when who may not
  // make the call (the kernel says EACCES before it looks at any value).
  int range_error(const Proc& p, int semid, const std::vector<sembuf>& sops,
                  const Identity& who) const;
  // Records the adjustments of sops (those with SEM_UNDO) after they were applied.
  void record(const Proc& p, int semid, const std::vector<sembuf>& sops);
  // SETVAL (semnum >= 0) or SETALL (semnum < 0): forget adjustments of those semaphores.
  void clear(int semid, int semnum);
  void drop_set(int semid);
  std::vector<Adjust> take(const Proc& p);
  std::vector<Adjust> take_node(const std::string& node);
  size_t size() const { return adj_.size(); }

 private:
  // (node, pid, semid, semnum) -> adjustment
  std::map<std::tuple<std::string, int32_t, int, int>, int> adj_;
};

// Applies an adjustment to a semaphore as the kernel does at exit: the value is clamped to
// 0..32767 rather than blocking. Runs as root, never blocks.
void apply_adjustment(const SemUndo::Adjust& a);

}  // namespace dipc::daemon
