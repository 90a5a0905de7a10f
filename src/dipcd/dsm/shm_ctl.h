// shmctl on a distributed segment at its owner: IPC_RMID, IPC_STAT, IPC_SET, SHM_LOCK and
// SHM_UNLOCK, run as the caller (an executor worker has taken the caller's identity).
// IPC_STAT's shm_nattch counts
// the attachments of every node (docs/errors.md), as the fault server knows them.
// Thread safety: any thread (it reads the fault server's counters under their lock).
#pragma once

#include "dipcd/ipc_ops.h"

namespace dipc::daemon::dsm {

OpResult run_shmctl(const OwnedOp& op);

}  // namespace dipc::daemon::dsm
