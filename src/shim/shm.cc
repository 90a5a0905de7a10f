// Interposed shared-memory calls. Distributed shared memory is not implemented yet:
// IPC_DIPC is removed and the segment is an ordinary local one (docs/limits.md).
#include <sys/shm.h>

#include "shim/common.h"

using namespace dipc::shim;

DIPC_EXPORT int shmget(key_t key, size_t size, int shmflg) {
  // IPC_DIPC has the value of SHM_NORESERVE: it must never reach the kernel.
  return real().shmget(key, size, shmflg & ~IPC_DIPC);
}

DIPC_EXPORT void* shmat(int shmid, const void* shmaddr, int shmflg) {
  return real().shmat(shmid, shmaddr, shmflg);
}

DIPC_EXPORT int shmdt(const void* shmaddr) { return real().shmdt(shmaddr); }

DIPC_EXPORT int shmctl(int shmid, int cmd, struct shmid_ds* buf) {
  return real().shmctl(shmid, cmd, buf);
}
