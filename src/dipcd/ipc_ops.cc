#include "dipcd/ipc_ops.h"

#include "dipcd/dsm/shm_ctl.h"

#include <errno.h>
#include <sys/mman.h>

#include <cstring>
#include <vector>

namespace dipc::daemon {

using proto::IpcStat;
using proto::Kind;
using proto::Op;

std::vector<sembuf> decode_sops(std::string_view data) {
  std::vector<sembuf> sops(data.size() / 6);
  proto::Reader r(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  for (auto& s : sops) {
    s.sem_num = r.u16();
    s.sem_op = r.i16();
    s.sem_flg = r.i16();
  }
  return sops;
}

std::string encode_sops(const std::vector<sembuf>& sops) {
  std::string out(sops.size() * 6, '\0');
  proto::Writer w(reinterpret_cast<uint8_t*>(out.data()), out.size());
  for (auto& s : sops) {
    w.u16(s.sem_num);
    w.i16(s.sem_op);
    w.i16(s.sem_flg);
  }
  return out;
}

bool has_undo(const std::vector<sembuf>& sops) {
  for (auto& s : sops)
    if (s.sem_flg & SEM_UNDO) return true;
  return false;
}

OwnedOp OwnedOp::from(const proto::OpRequest& r, std::vector<uint8_t>&& payload) {
  OwnedOp o;
  o.kind = r.kind;
  o.op = r.op;
  o.id = r.id;
  o.key = r.key;
  o.flags = r.flags;
  o.arg1 = r.arg1;
  o.arg2 = r.arg2;
  o.arg3 = r.arg3;
  o.user = std::string(r.user);
  o.pid = r.pid;
  auto at = reinterpret_cast<const uint8_t*>(r.data.data());
  if (!r.data.empty() && at >= payload.data() && at + r.data.size() == payload.data() + payload.size())
    o.data = Bytes::tail_of(std::move(payload), size_t(at - payload.data()));
  else
    o.data = Bytes(r.data);  // not the payload's tail (never so on the wire): a copy
  // nsops comes from the wire: bounded before it sizes anything.
  if (o.op == proto::Op::kSemOp && o.arg1 >= 0 && o.arg1 <= int64_t(proto::kMaxSops) &&
      o.data.size() == uint64_t(o.arg1) * 6)
    o.sops = decode_sops(o.data);
  return o;
}

proto::OpRequest OwnedOp::view() const {
  proto::OpRequest r;
  r.kind = kind;
  r.op = op;
  r.id = id;
  r.key = key;
  r.flags = flags;
  r.arg1 = arg1;
  r.arg2 = arg2;
  r.arg3 = arg3;
  r.user = user;
  r.pid = pid;
  r.data = data;
  return r;
}

namespace {

std::string encode_stat(const IpcStat& s) {
  uint8_t buf[IpcStat::kSize];
  proto::Writer w(buf, sizeof buf);
  s.encode(w);
  return std::string(reinterpret_cast<char*>(buf), w.size());
}

IpcStat perm_stat(const ipc_perm& p) {
  IpcStat s;
  s.key = p.__key;
  s.uid = p.uid;
  s.gid = p.gid;
  s.cuid = p.cuid;
  s.cgid = p.cgid;
  s.mode = p.mode;
  return s;
}

bool decode_stat(std::string_view data, IpcStat& s) {
  proto::Reader r(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  return s.decode(r) && r.at_end();
}

// Memory whose last `n` readable bytes are followed by an inaccessible page: for an array
// the kernel must not read past (SETALL reads as many values as the set has).
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t n) {
    size_t page = size_t(sysconf(_SC_PAGESIZE));
    size_ = (n + page - 1) / page * page + page;
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = static_cast<char*>(p);
    if (mprotect(base_ + size_ - page, page, PROT_NONE) != 0) {
      munmap(base_, size_);
      base_ = nullptr;
      return;
    }
    tail_ = base_ + size_ - page - n;
  }
  ~GuardedBuffer() {
    if (base_) munmap(base_, size_);
  }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  // The n bytes asked for, right before the guard page; nullptr if no memory could be had.
  char* tail() const { return tail_; }

 private:
  char* base_ = nullptr;
  char* tail_ = nullptr;
  size_t size_ = 0;
};

OpResult do_get(const OwnedOp& op) {
  int r = -1;
  switch (op.kind) {
    case Kind::kMsg: r = sysv::msgget(op.key, op.flags); break;
    case Kind::kSem: r = sysv::semget(op.key, int(op.arg1), op.flags); break;
    case Kind::kShm: r = sysv::shmget(op.key, size_t(op.arg1), op.flags); break;
  }
  return OpResult::sys(r);
}

OpResult do_msgsnd(const OwnedOp& op, int flags) {
  // The kernel wants `long mtype` right before the text: written in the data's headroom
  // (the request's fixed fields) when there is one, so the text is not copied.
  long mtype = long(op.arg1);
  const char* msg = op.data.with_prefix(&mtype, sizeof mtype);
  std::vector<char> buf;
  if (!msg) {
    buf.resize(sizeof(long) + op.data.size());
    std::memcpy(buf.data(), &mtype, sizeof mtype);
    if (!op.data.empty()) std::memcpy(buf.data() + sizeof(long), op.data.data(), op.data.size());
    msg = buf.data();
  }
  if (OwnerExecutor::cancelled()) return OpResult::error(EINTR);
  long r = syscall(SYS_msgsnd, op.id, msg, op.data.size(), flags);
  return OpResult::sys(r);
}

// msgrcv with a buffer sized to what arrives, not to msgsz: a blocked receive of 1 MiB
// holds kFirstReceive bytes while it waits. The first call takes the message if it fits
// (without MSG_NOERROR, so that a longer one stays on the queue with E2BIG); a longer one
// is then taken with a buffer of msgsz and IPC_NOWAIT. If another receiver took it in
// between (ENOMSG), this waits again, as if it had not been woken. The answer is Linux's:
// the message whole, E2BIG for one longer than msgsz, or truncated with MSG_NOERROR.
OpResult do_msgrcv(const OwnedOp& op, int flags) {
  int64_t want = op.arg2;
  long type = long(op.arg1);
  // A negative size goes to the kernel as it is, which rejects it as it would locally.
  if (want < 0) {
    long mtype;
    long r = syscall(SYS_msgrcv, op.id, &mtype, size_t(want), type, flags);
    return r < 0 ? OpResult::error(errno) : OpResult::sys(r);
  }
  size_t cap = size_t(std::min<int64_t>(want, proto::kMaxData));
  std::vector<char> buf(sizeof(long) + std::min(cap, kFirstReceive));
  auto answer = [&buf](long r) {
    OpResult res{r, 0, 0, {}};
    long mtype;
    std::memcpy(&mtype, buf.data(), sizeof mtype);
    res.aux = mtype;
    res.data.assign(buf.data() + sizeof(long), size_t(r));
    return res;
  };
  for (int tries = 0;; ++tries) {
    if (OwnerExecutor::cancelled()) return OpResult::error(EINTR);
    size_t first = buf.size() - sizeof(long);
    if (first == cap || tries == 100) {
      // msgsz is small, or the long messages keep going to others: one plain call.
      buf.resize(sizeof(long) + cap);
      long r = syscall(SYS_msgrcv, op.id, buf.data(), cap, type, flags);
      return r < 0 ? OpResult::error(errno) : answer(r);
    }
    long r = syscall(SYS_msgrcv, op.id, buf.data(), first, type, flags & ~MSG_NOERROR);
    if (r >= 0) return answer(r);
    if (errno != E2BIG) return OpResult::error(errno);
    // Longer than the first buffer: take it with a buffer of msgsz, now, or wait again.
    std::vector<char> whole(sizeof(long) + cap);
    if (OwnerExecutor::cancelled()) return OpResult::error(EINTR);
    r = syscall(SYS_msgrcv, op.id, whole.data(), cap, type, flags | IPC_NOWAIT);
    if (r >= 0) {
      buf.swap(whole);
      return answer(r);
    }
    if (errno != ENOMSG || (flags & IPC_NOWAIT)) return OpResult::error(errno);
  }
}

OpResult do_msgctl(const OwnedOp& op) {
  int cmd = int(op.arg1);
  msqid_ds ds{};
  switch (cmd) {
    case IPC_RMID: return OpResult::sys(sysv::msgctl(op.id, IPC_RMID, nullptr));
    case IPC_STAT: {
      if (sysv::msgctl(op.id, IPC_STAT, &ds) < 0) return OpResult::error(errno);
      IpcStat s = perm_stat(ds.msg_perm);
      s.otime = ds.msg_stime;
      s.rtime = ds.msg_rtime;
      s.ctime = ds.msg_ctime;
      s.cbytes = ds.__msg_cbytes;
      s.qnum = ds.msg_qnum;
      s.qbytes = ds.msg_qbytes;
      s.lspid = ds.msg_lspid;
      s.lrpid = ds.msg_lrpid;
      OpResult res{0, 0, 0, encode_stat(s)};
      return res;
    }
    case IPC_SET: {
      IpcStat s;
      if (!decode_stat(op.data, s)) return OpResult::error(EINVAL);
      ds.msg_perm.uid = s.uid;
      ds.msg_perm.gid = s.gid;
      ds.msg_perm.mode = (unsigned short)s.mode;
      ds.msg_qbytes = s.qbytes;
      return OpResult::sys(sysv::msgctl(op.id, IPC_SET, &ds));
    }
  }
  return OpResult::error(EINVAL);
}

OpResult do_semop(const OwnedOp& op, bool nowait) {
  // op.sops are empty unless the sembufs came well formed (OwnedOp::from).
  if (op.arg1 <= 0 || op.sops.size() != uint64_t(op.arg1)) {
    if (op.arg1 == 0 && op.data.empty()) {
      // nsops 0: the kernel's own answer (EINVAL), as for the caller on one machine.
      return OpResult::sys(syscall(SYS_semtimedop, op.id, nullptr, 0, nullptr));
    }
    return OpResult::error(EINVAL);
  }
  std::vector<sembuf> tried;
  const sembuf* sops = op.sops.data();
  if (nowait) {
    tried = op.sops;
    for (auto& s : tried) s.sem_flg |= IPC_NOWAIT;
    sops = tried.data();
  }
  timespec ts{time_t(op.arg2), long(op.arg3)};
  if (OwnerExecutor::cancelled()) return OpResult::error(EINTR);
  long rc = syscall(SYS_semtimedop, op.id, sops, op.sops.size(), op.flags & 1 ? &ts : nullptr);
  return OpResult::sys(rc);
}

OpResult do_semctl(const OwnedOp& op) {
  int cmd = int(op.arg1);
  int num = int(op.arg2);
  switch (cmd) {
    case GETVAL:
    case GETPID:
    case GETNCNT:
    case GETZCNT:
      return OpResult::sys(sysv::semctl(op.id, num, cmd, nullptr));
    case SETVAL: {
      long v = long(int(op.arg3));  // union semun passed by value: the int in its low bits
      return OpResult::sys(syscall(SYS_semctl, op.id, num, SETVAL, v));
    }
    case IPC_RMID: return OpResult::sys(sysv::semctl(op.id, 0, IPC_RMID, nullptr));
    case IPC_STAT:
    case GETALL: {
      semid_ds ds{};
      if (sysv::semctl(op.id, 0, IPC_STAT, &ds) < 0) return OpResult::error(errno);
      if (cmd == GETALL) {
        std::vector<unsigned short> vals(ds.sem_nsems);
        if (sysv::semctl(op.id, 0, GETALL, vals.data()) < 0) return OpResult::error(errno);
        std::string out(vals.size() * 2, '\0');
        proto::Writer w(reinterpret_cast<uint8_t*>(out.data()), out.size());
        for (auto v : vals) w.u16(v);
        return OpResult{0, 0, 0, out};
      }
      IpcStat s = perm_stat(ds.sem_perm);
      s.otime = ds.sem_otime;
      s.ctime = ds.sem_ctime;
      s.qnum = ds.sem_nsems;
      return OpResult{0, 0, 0, encode_stat(s)};
    }
    case SETALL: {
      // The kernel reads as many values as the set has; the caller sent as many as its
      // placeholder has, which is the same number. They end at a guard page, so that a
      // shorter list faults instead of letting the kernel read past it. No IPC_STAT first:
      // SETALL needs write permission only.
      if (op.arg3 == proto::kSemArrayAbsent)
        return OpResult::sys(sysv::semctl(op.id, 0, SETALL, nullptr));
      size_t n = op.data.size() / 2;
      GuardedBuffer g(n * sizeof(unsigned short));
      if (g.tail() == nullptr) return OpResult::error(ENOMEM);
      proto::Reader r(reinterpret_cast<const uint8_t*>(op.data.data()), op.data.size());
      for (size_t i = 0; i < n; ++i) {
        unsigned short v = r.u16();
        std::memcpy(g.tail() + i * sizeof v, &v, sizeof v);
      }
      return OpResult::sys(sysv::semctl(op.id, 0, SETALL, g.tail()));
    }
    case IPC_SET: {
      IpcStat s;
      if (!decode_stat(op.data, s)) return OpResult::error(EINVAL);
      semid_ds ds{};
      ds.sem_perm.uid = s.uid;
      ds.sem_perm.gid = s.gid;
      ds.sem_perm.mode = (unsigned short)s.mode;
      return OpResult::sys(sysv::semctl(op.id, 0, IPC_SET, &ds));
    }
  }
  return OpResult::error(EINVAL);
}

}  // namespace

OpResult run_op(const OwnedOp& op, bool nowait) {
  switch (op.op) {
    case Op::kGet: return do_get(op);
    case Op::kMsgSnd: return do_msgsnd(op, op.flags | (nowait ? IPC_NOWAIT : 0));
    case Op::kMsgRcv:
      // MSG_COPY without IPC_NOWAIT is EINVAL, and with it cannot wait: left as it is.
      return do_msgrcv(op, op.flags | (nowait && !(op.flags & MSG_COPY) ? IPC_NOWAIT : 0));
    case Op::kMsgCtl: return do_msgctl(op);
    case Op::kSemOp: return do_semop(op, nowait);
    case Op::kSemCtl: return do_semctl(op);
    case Op::kShmCtl: return dsm::run_shmctl(op);  // DSM hook
  }
  return OpResult::error(EINVAL);
}

bool may_block(const OwnedOp& op) {
  return op.op == Op::kMsgSnd || op.op == Op::kMsgRcv || op.op == Op::kSemOp;
}

bool would_block(const OwnedOp& original, const OpResult& r) {
  if (r.ret >= 0) return false;
  switch (original.op) {
    case Op::kMsgSnd: return r.err == EAGAIN && !(original.flags & IPC_NOWAIT);
    case Op::kMsgRcv: return r.err == ENOMSG && !(original.flags & IPC_NOWAIT);
    case Op::kSemOp: return r.err == EAGAIN;  // some op may wait; the worker decides
    default: return false;
  }
}

bool stat_object(Kind kind, int id, ObjectInfo& out) {
  switch (kind) {
    case Kind::kMsg: {
      msqid_ds ds{};
      if (sysv::msgctl(id, IPC_STAT, &ds) < 0) return false;
      out = {ds.msg_perm.mode, ds.msg_perm.uid, ds.msg_perm.gid, ds.msg_qbytes, ds.msg_perm.__key};
      return true;
    }
    case Kind::kSem: {
      semid_ds ds{};
      if (sysv::semctl(id, 0, IPC_STAT, &ds) < 0) return false;
      out = {ds.sem_perm.mode, ds.sem_perm.uid, ds.sem_perm.gid, ds.sem_nsems, ds.sem_perm.__key};
      return true;
    }
    case Kind::kShm: {
      shmid_ds ds{};
      if (sysv::shmctl(id, IPC_STAT, &ds) < 0) return false;
      out = {ds.shm_perm.mode, ds.shm_perm.uid, ds.shm_perm.gid, ds.shm_segsz, ds.shm_perm.__key};
      return true;
    }
  }
  return false;
}

int remove_object(Kind kind, int id) {
  switch (kind) {
    case Kind::kMsg: return sysv::msgctl(id, IPC_RMID, nullptr);
    case Kind::kSem: return sysv::semctl(id, 0, IPC_RMID, nullptr);
    case Kind::kShm: return sysv::shmctl(id, IPC_RMID, nullptr);
  }
  return -1;
}

namespace {

ipc_perm& perm_of(msqid_ds& d) { return d.msg_perm; }
ipc_perm& perm_of(semid_ds& d) { return d.sem_perm; }
ipc_perm& perm_of(shmid_ds& d) { return d.shm_perm; }

// IPC_STAT, then IPC_SET with info's uid and gid, through ctl(id, cmd, ds*).
template <typename Ds, typename Ctl>
int set_owner(Ctl ctl, int id, const ObjectInfo& info) {
  Ds ds{};
  if (ctl(id, IPC_STAT, &ds) < 0) return -1;
  perm_of(ds).uid = info.uid;
  perm_of(ds).gid = info.gid;
  return ctl(id, IPC_SET, &ds);
}

}  // namespace

int create_placeholder(Kind kind, int32_t key, const ObjectInfo& info) {
  int flags = IPC_CREAT | IPC_EXCL | int(info.mode & 0777);
  int id = -1;
  switch (kind) {
    case Kind::kMsg: id = sysv::msgget(key, flags); break;
    case Kind::kSem: id = sysv::semget(key, int(info.size ? info.size : 1), flags); break;
    case Kind::kShm: id = sysv::shmget(key, size_t(info.size ? info.size : 1), flags); break;
  }
  if (id < 0) return -1;
  // Same owner as the real object, so ipcs shows it truthfully.
  int rc = 0;
  switch (kind) {
    case Kind::kMsg: rc = set_owner<msqid_ds>(sysv::msgctl, id, info); break;
    case Kind::kSem:
      rc = set_owner<semid_ds>([](int i, int c, semid_ds* d) { return sysv::semctl(i, 0, c, d); },
                               id, info);
      break;
    case Kind::kShm: rc = set_owner<shmid_ds>(sysv::shmctl, id, info); break;
  }
  if (rc < 0) {
    int e = errno;
    remove_object(kind, id);
    errno = e;
    return -1;
  }
  return id;
}

}  // namespace dipc::daemon
