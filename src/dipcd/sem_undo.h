// SemUndo: SEM_UNDO on behalf of processes of other nodes.
//
// The kernel keeps undo lists per process, and at the owner the process making the call
// would be dipcd itself. So for a remote caller dipcd removes SEM_UNDO from the operations,
// keeps the adjustments here per (node, pid), and applies them when that process exits (its
// node says so) or its node is declared dead. Like the kernel, SETVAL and SETALL clear the
// adjustments of the semaphores they set, and an adjustment outside -32768..32767 is ERANGE.
// Like the kernel too, a process has an undo list for a set from its first SEM_UNDO call on
// it, whatever that call's outcome, and its exit then sets the set's sem_otime.
// Thread safety: io thread only (the free functions: any thread, as root).
#pragma once

#include <sys/sem.h>

#include <cstdint>
#include <map>
#include <set>
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

  // The index of the first operation whose adjustment would leave the range, or -1.
  int first_out_of_range(const Proc& p, int semid, const std::vector<sembuf>& sops) const;
  bool in_range(const Proc& p, int semid, const std::vector<sembuf>& sops) const {
    return first_out_of_range(p, semid, sops) < 0;
  }
  // True when the kernel refuses the call before it looks at any value or adjustment: the
  // set is gone (EINVAL, EIDRM), a semaphore number is past the set (EFBIG), or who may not
  // make the call (EACCES). The call then goes to the kernel as it is, for its errno.
  static bool refused_first(int semid, const std::vector<sembuf>& sops, const Identity& who);
  // When operation k is the first out of range: what the owner's kernel waits with, so that
  // it waits as Linux would and then says ERANGE without changing anything. Operations 0..k
  // without SEM_UNDO, followed by one or two of +32767 on operation k's semaphore, which
  // overflow once 0..k can proceed: the kernel blocks exactly while Linux's evaluation of the
  // call would block before its range check (IPC_NOWAIT operations give EAGAIN), and then
  // answers ERANGE with no value, sempid or sem_otime changed.
  static std::vector<sembuf> range_wait(const std::vector<sembuf>& sops, size_t k);
  // A SEM_UNDO call of p reached the set: p has an undo list for it from now on.
  void open_list(const Proc& p, int semid);
  // Records the adjustments of sops (those with SEM_UNDO) after they were applied.
  void record(const Proc& p, int semid, const std::vector<sembuf>& sops);
  // SETVAL (semnum >= 0) or SETALL (semnum < 0): forget adjustments of those semaphores.
  void clear(int semid, int semnum);
  void drop_set(int semid);
  // What p's exit applies (apply_exit): its adjustments, and {semid, -1, 0} for each set it
  // has a list for without any.
  std::vector<Adjust> take(const Proc& p);
  std::vector<Adjust> take_node(const std::string& node);
  size_t size() const { return adj_.size(); }
  size_t lists() const { return lists_.size(); }

 private:
  // (node, pid, semid, semnum) -> adjustment
  std::map<std::tuple<std::string, int32_t, int, int>, int> adj_;
  // (node, pid, semid): the undo lists, with or without adjustments.
  std::set<std::tuple<std::string, int32_t, int>> lists_;
  template <typename Match>
  std::vector<Adjust> take_if(Match match);
};

// Applies a process's undo lists as the kernel's exit does: each adjustment is added with the
// value clamped to 0..32767 rather than blocking (the semaphore's sempid becomes dipcd's even
// when the value stays), and every set the process had a list for gets its sem_otime set.
// Runs as root, never blocks.
void apply_exit(const std::vector<SemUndo::Adjust>& adj);

}  // namespace dipc::daemon
