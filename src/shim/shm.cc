// Interposed shared-memory calls. A segment made with IPC_DIPC is distributed: shmget asks
// dipcd (like msgget), and shmat/shmdt of a distributed id map dipcd's memfd for it, kept
// coherent across the cluster by dipcd's fault server (shim/dsm.h). Everything else is the
// kernel's.
#include <sys/shm.h>

#include <cstring>

#include "shim/common.h"
#include "shim/dsm.h"
#include "shim/keys.h"

using dipc::proto::IpcStat;
using dipc::proto::Kind;
using dipc::proto::Op;
using namespace dipc::shim;

DIPC_EXPORT int shmget(key_t key, size_t size, int shmflg) {
  if (wants_dipc(key, shmflg)) {
    int r = distributed_get(Kind::kShm, key, shmflg, int64_t(size));
    if (r != -2) return r;
  }
  // IPC_DIPC has the value of SHM_NORESERVE: it must never reach the kernel.
  return real().shmget(key, size, shmflg & ~IPC_DIPC);
}

DIPC_EXPORT void* shmat(int shmid, const void* shmaddr, int shmflg) {
  if (__builtin_expect(id_flags(Kind::kShm, shmid) != 0, 0)) {
    bool fallback = false;
    void* p = dsm_attach(shmid, shmaddr, shmflg, &fallback);
    if (!fallback) return p;
    if (strict_mode()) {  // a distributed segment, and no dipcd to attach it through
      errno = ENOLINK;
      return reinterpret_cast<void*>(-1);
    }
  }
  if (__builtin_expect((shmflg & SHM_REMAP) && shmaddr, 0))
    return dsm_plain_remap(shmid, shmaddr, shmflg, real().shmat);
  return real().shmat(shmid, shmaddr, shmflg);
}

DIPC_EXPORT int shmdt(const void* shmaddr) {
  if (dsm_detach(shmaddr)) return 0;
  return real().shmdt(shmaddr);
}

DIPC_EXPORT int shmctl(int shmid, int cmd, struct shmid_ds* buf) {
  uint32_t f = id_flags(Kind::kShm, shmid);
  // IPC_RMID goes through dipcd so the cluster hears of it (the segment then lives on
  // until the last detach on every node); IPC_STAT is answered by the owner, whose counts
  // cover every node; IPC_SET, SHM_LOCK and SHM_UNLOCK of a remote segment are made at its
  // owner, as the caller (so that IPC_STAT shows SHM_LOCKED). The index-based SHM_STAT,
  // SHM_INFO, IPC_INFO stay local.
  bool remote = (f & dipc::idtable::kFlagDistributed) && !(f & dipc::idtable::kFlagOwnedHere);
  bool via_dipcd = f != 0 && (cmd == IPC_RMID || cmd == IPC_STAT ||
                              (remote && (cmd == IPC_SET || cmd == SHM_LOCK || cmd == SHM_UNLOCK)));
  if (__builtin_expect(!via_dipcd, 1)) return real().shmctl(shmid, cmd, buf);
  IpcStat set, s;
  if (cmd == IPC_SET) {
    // As the kernel: IPC_SET reads its buffer before anything else.
    shmid_ds in;
    if (!user_read(&in, buf, sizeof in)) {
      errno = EFAULT;
      return -1;
    }
    perm_to_stat(in.shm_perm, set);
  }
  long r = ctl_call(Kind::kShm, Op::kShmCtl, shmid, cmd, cmd == IPC_SET ? &set : nullptr, &s, f);
  if (r == -2) return real().shmctl(shmid, cmd, buf);  // our own segment, no dipcd to tell
  if (r >= 0 && cmd == IPC_STAT) {
    shmid_ds ds;
    memset(&ds, 0, sizeof ds);
    stat_to_perm(s, ds.shm_perm);
    ds.shm_segsz = s.qbytes;
    ds.shm_atime = s.otime;
    ds.shm_dtime = s.rtime;
    ds.shm_ctime = s.ctime;
    ds.shm_cpid = s.lspid;
    ds.shm_lpid = s.lrpid;
    ds.shm_nattch = s.qnum;
    // Written after the owner answered, as the kernel copies out last (EACCES comes first).
    if (!user_write(buf, &ds, sizeof ds)) {
      errno = EFAULT;
      return -1;
    }
  }
  return int(r);
}
