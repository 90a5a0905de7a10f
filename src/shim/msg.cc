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

// A message buffer (glibc's struct msgbuf) is a long, the type, then the text. The shim
// never dereferences it: the caller's pointer may be anything.

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
  // As the kernel, before it looks at the id: the type is read (EFAULT), the size checked
  // against MSGMAX and the type against 1 (EINVAL), the text read (EFAULT). Decided here,
  // with this node's limits, so that the answer does not depend on whether this node has
  // heard yet of a removal.
  long mtype;
  if (!user_read(&mtype, msgp, sizeof mtype)) {
    errno = EFAULT;
    return -1;
  }
  const char* text = static_cast<const char*>(msgp) + sizeof(long);
  bool fits = ssize_t(msgsz) >= 0 && msgsz <= dipc::proto::kMaxData;
  if (!fits || !user_readable(text, msgsz)) {
    long msgmax = kernel_limit("msgmax", 0, 8192);
    // Over the protocol's 1 MiB a text cannot travel: EINVAL, as over MSGMAX.
    errno = !fits || ssize_t(msgsz) > msgmax || mtype < 1 ? EINVAL : EFAULT;
    return -1;
  }
  dipc::proto::OpRequest req = make_request(Kind::kMsg, Op::kMsgSnd, msqid);
  req.flags = msgflg;
  req.arg1 = mtype;
  req.data = std::string_view(text, msgsz);
  Reply rep;
  int rc = call(req, &rep, nullptr, 0,
                (msgflg & IPC_NOWAIT) ? CallMode::kPlain : CallMode::kInterruptible);
  return int(finish(rc, rep));
}

DIPC_EXPORT ssize_t msgrcv(int msqid, void* msgp, size_t msgsz, long msgtyp, int msgflg) {
  if (__builtin_expect(!is_remote(Kind::kMsg, msqid), 1))
    return real().msgrcv(msqid, msgp, msgsz, msgtyp, msgflg);
  // MSG_COPY: before it looks at the id, the kernel reads the buffer (as many bytes as it
  // could copy: at most MSGMAX) and faults if it cannot.
  if ((msgflg & MSG_COPY) && (msgflg & IPC_NOWAIT) && !(msgflg & MSG_EXCEPT) &&
      ssize_t(msgsz) >= 0) {
    size_t msgmax = size_t(kernel_limit("msgmax", 0, 8192));
    if (!user_readable(msgp, msgsz < msgmax ? msgsz : msgmax)) {
      errno = EFAULT;
      return -1;
    }
  }
  // Otherwise the buffer is not checked first: the kernel faults only when it has a
  // message to copy (an empty queue gives ENOMSG whatever the pointer). A message taken
  // for a buffer that cannot be written is gone and the call fails with EFAULT, as on one
  // machine.
  dipc::proto::OpRequest req = make_request(Kind::kMsg, Op::kMsgRcv, msqid);
  req.flags = msgflg;
  req.arg1 = msgtyp;
  req.arg2 = int64_t(ssize_t(msgsz));
  Reply rep;
  AuxOut mtype{true, static_cast<long*>(msgp)};
  auto* text = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(msgp) + sizeof(long));
  size_t cap = ssize_t(msgsz) < 0 ? 0 : msgsz;
  int rc = call(req, &rep, text, cap,
                (msgflg & IPC_NOWAIT) ? CallMode::kPlain : CallMode::kInterruptible, mtype);
  long r = finish(rc, rep);
  if (r >= 0 && rep.fault) {
    errno = EFAULT;
    return -1;
  }
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
  dipc::proto::OpRequest req = make_request(Kind::kMsg, Op::kMsgCtl, msqid);
  req.arg1 = base;
  uint8_t st[IpcStat::kSize];
  if (base == IPC_SET) {
    // As the kernel: IPC_SET reads its buffer before anything else.
    msqid_ds in;
    if (!user_read(&in, buf, sizeof in)) {
      errno = EFAULT;
      return -1;
    }
    IpcStat s;
    perm_to_stat(in.msg_perm, s);
    s.qbytes = in.msg_qbytes;
    dipc::proto::Writer w(st, sizeof st);
    s.encode(w);
    req.data = std::string_view(reinterpret_cast<char*>(st), w.size());
  }
  Reply rep;
  uint8_t out[IpcStat::kSize];
  int rc = call(req, &rep, out, sizeof out, CallMode::kPlain);
  // Our own queue with no dipcd to tell: the kernel object is all there is.
  if (rc < 0 && errno == ENOLINK && (f & dipc::idtable::kFlagOwnedHere) && !strict_mode())
    return real().msgctl(msqid, cmd, buf);
  long r = finish(rc, rep);
  if (r >= 0 && base == IPC_STAT) {
    IpcStat s;
    if (!decode_reply_stat(out, rep.data_len, s)) return -1;
    msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    stat_to_perm(s, ds.msg_perm);
    ds.msg_stime = s.otime;
    ds.msg_rtime = s.rtime;
    ds.msg_ctime = s.ctime;
    ds.__msg_cbytes = s.cbytes;
    ds.msg_qnum = s.qnum;
    ds.msg_qbytes = s.qbytes;
    ds.msg_lspid = s.lspid;
    ds.msg_lrpid = s.lrpid;
    // Written after the owner answered, as the kernel copies out last (EACCES comes first).
    if (!user_write(buf, &ds, sizeof ds)) {
      errno = EFAULT;
      return -1;
    }
  }
  return int(r);
}
