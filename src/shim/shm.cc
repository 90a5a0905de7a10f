// Interposed shared-memory calls. A segment made with IPC_DIPC is distributed: shmget asks
// dipcd (like msgget), and shmat/shmdt of a distributed id map dipcd's memfd for it, kept
// coherent across the cluster by dipcd's fault server (shim/dsm.h). Everything else is the
// kernel's.
#include <sys/shm.h>

#include "shim/common.h"
#include "shim/dsm.h"

using dipc::proto::Kind;
using namespace dipc::shim;

DIPC_EXPORT int shmget(key_t key, size_t size, int shmflg) {
  if ((shmflg & IPC_DIPC) && key != IPC_PRIVATE) {
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
  }
  return real().shmat(shmid, shmaddr, shmflg);
}

DIPC_EXPORT int shmdt(const void* shmaddr) {
  if (dsm_detach(shmaddr)) return 0;
  return real().shmdt(shmaddr);
}

DIPC_EXPORT int shmctl(int shmid, int cmd, struct shmid_ds* buf) {
  return real().shmctl(shmid, cmd, buf);
}
