// Interposed message-queue calls. A queue that is not distributed, or whose owner is this
// node, goes straight to the kernel; only calls on queues owned elsewhere (and IPC_RMID on
// any distributed queue, so that the cluster learns of it) travel through dipcd.
#include <sys/msg.h>

#include <cstring>

#include "shim/common.h"

using dipc::proto::IpcStat;
using dipc::proto::Kind;
using dipc::proto::Op;
using namespace dipc::shim;

namespace {

// glibc's struct msgbuf layout: a long then the text.
struct MsgHead {
  long mtype;
  char mtext[1];
};

}  // namespace

DIPC_EXPORT int msgget(key_t key, int msgflg) {
  if (wants_dipc(key, msgflg)) {
    int r = distributed_get(Kind::kMsg, key, msgflg, 0);
    if (r != -2) return r;
  }
  return real().msgget(key, msgflg & ~IPC_DIPC);
}

DIPC_EXPORT int msgsnd(int msqid, const void* msgp, size_t msgsz, int msgflg) {
  if (__builtin_expect(!is_remote(Kind::kMsg, msqid), 1))
    return real().msgsnd(msqid, msgp, msgsz, msgflg);
  if (ssize_t(msgsz) < 0 || msgsz > dipc::proto::kMaxData) {
    errno = EINVAL;
    return -1;
  }
  if (msgp == nullptr) {
    errno = EFAULT;
    return -1;
  }
  auto* m = static_cast<const MsgHead*>(msgp);
  dipc::proto::OpRequest req = make_request(Kind::kMsg, Op::kMsgSnd, msqid);
  req.flags = msgflg;
  req.arg1 = m->mtype;
  req.data = std::string_view(m->mtext, msgsz);
  Reply rep;
  int rc = call(req, &rep, nullptr, 0,
                (msgflg & IPC_NOWAIT) ? CallMode::kPlain : CallMode::kInterruptible);
  return int(finish(rc, rep));
}

DIPC_EXPORT ssize_t msgrcv(int msqid, void* msgp, size_t msgsz, long msgtyp, int msgflg) {
  if (__builtin_expect(!is_remote(Kind::kMsg, msqid), 1))
    return real().msgrcv(msqid, msgp, msgsz, msgtyp, msgflg);
  if (msgp == nullptr && ssize_t(msgsz) >= 0) {
    errno = EFAULT;
    return -1;
  }
  dipc::proto::OpRequest req = make_request(Kind::kMsg, Op::kMsgRcv, msqid);
  req.flags = msgflg;
  req.arg1 = msgtyp;
  req.arg2 = int64_t(ssize_t(msgsz));
  Reply rep;
  auto* m = static_cast<MsgHead*>(msgp);
  size_t cap = ssize_t(msgsz) < 0 ? 0 : msgsz;
  int rc = call(req, &rep, cap ? m->mtext : nullptr, cap,
                (msgflg & IPC_NOWAIT) ? CallMode::kPlain : CallMode::kInterruptible);
  long r = finish(rc, rep);
  if (r >= 0) m->mtype = long(rep.aux);
  return r;
}

DIPC_EXPORT int msgctl(int msqid, int cmd, struct msqid_ds* buf) {
  uint32_t f = id_flags(Kind::kMsg, msqid);
  int base = cmd;  // with IPC_64 (0x100) the kernel says EINVAL on x86_64: left to it
  bool remote = (f & dipc::idtable::kFlagDistributed) && !(f & dipc::idtable::kFlagOwnedHere);
  // IPC_RMID of any distributed queue goes through dipcd so the cluster hears of it;
  // IPC_STAT/IPC_SET of a remote queue are answered by its owner. Everything else
  // (the index-based MSG_STAT, MSG_INFO, IPC_INFO, and any call on a local queue) is local.
  bool via_dipcd = (f != 0 && base == IPC_RMID) || (remote && (base == IPC_STAT || base == IPC_SET));
  if (__builtin_expect(!via_dipcd, 1)) return real().msgctl(msqid, cmd, buf);
  if (base != IPC_RMID && buf == nullptr) {
    errno = EFAULT;
    return -1;
  }
  IpcStat set, s;
  if (base == IPC_SET) {
    perm_to_stat(buf->msg_perm, set);
    set.qbytes = buf->msg_qbytes;
  }
  long r = ctl_call(Kind::kMsg, Op::kMsgCtl, msqid, base, base == IPC_SET ? &set : nullptr, &s, f);
  if (r == -2) return real().msgctl(msqid, cmd, buf);
  if (r >= 0 && base == IPC_STAT) {
    memset(buf, 0, sizeof *buf);
    stat_to_perm(s, buf->msg_perm);
    buf->msg_stime = s.otime;
    buf->msg_rtime = s.rtime;
    buf->msg_ctime = s.ctime;
    buf->__msg_cbytes = s.cbytes;
    buf->msg_qnum = s.qnum;
    buf->msg_qbytes = s.qbytes;
    buf->msg_lspid = s.lspid;
    buf->msg_lrpid = s.lrpid;
  }
  return int(r);
}
