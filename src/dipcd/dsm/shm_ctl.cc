#include "dipcd/dsm/shm_ctl.h"

#include <errno.h>
#include <unistd.h>

#include "dipcd/dsm/fault_server.h"

namespace dipc::daemon::dsm {

using proto::IpcStat;

OpResult run_shmctl(const OwnedOp& op) {
  int cmd = int(op.arg1);
  shmid_ds ds{};
  switch (cmd) {
    case IPC_RMID: return OpResult::sys(sysv::shmctl(op.id, IPC_RMID, nullptr));
    case SHM_LOCK:
    case SHM_UNLOCK: return OpResult::sys(sysv::shmctl(op.id, cmd, nullptr));
    case IPC_STAT: {
      if (sysv::shmctl(op.id, IPC_STAT, &ds) < 0) return OpResult::error(errno);
      IpcStat s;
      s.key = ds.shm_perm.__key;
      s.uid = ds.shm_perm.uid;
      s.gid = ds.shm_perm.gid;
      s.cuid = ds.shm_perm.cuid;
      s.cgid = ds.shm_perm.cgid;
      s.mode = ds.shm_perm.mode;
      s.otime = ds.shm_atime;
      s.rtime = ds.shm_dtime;
      s.lspid = ds.shm_cpid;
      s.lrpid = ds.shm_lpid;
      s.ctime = ds.shm_ctime;
      s.qbytes = ds.shm_segsz;
      // The kernel counts dipcd's own attachment (and programs that attached without the
      // shim); the fault server counts the shim's attachments on every node. Their times
      // (and shm_lpid, dipcd's pid once any came) are those attaches' and detaches', not
      // dipcd's own attach when the segment became known.
      uint64_t n = ds.shm_nattch;
      FaultServer::Attached a;
      if (FaultServer::attached(op.id, a)) {
        n = (n > 0 ? n - 1 : 0) + uint64_t(a.nattch);
        s.otime = a.atime;
        s.rtime = a.dtime;
        s.lrpid = (a.atime || a.dtime) ? getpid() : 0;
      }
      s.qnum = n;
      uint8_t buf[IpcStat::kSize];
      proto::Writer w(buf, sizeof buf);
      s.encode(w);
      return OpResult{0, 0, 0, std::string(reinterpret_cast<char*>(buf), w.size())};
    }
    case IPC_SET: {
      IpcStat s;
      proto::Reader r(reinterpret_cast<const uint8_t*>(op.data.data()), op.data.size());
      if (!s.decode(r) || !r.at_end()) return OpResult::error(EINVAL);
      ds.shm_perm.uid = s.uid;
      ds.shm_perm.gid = s.gid;
      ds.shm_perm.mode = (unsigned short)s.mode;
      return OpResult::sys(sysv::shmctl(op.id, IPC_SET, &ds));
    }
  }
  return OpResult::error(EINVAL);
}

}  // namespace dipc::daemon::dsm
