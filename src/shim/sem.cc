// Interposed semaphore calls. As for queues: local and owner-local sets go straight to the
// kernel; calls on sets owned elsewhere, and IPC_RMID on any distributed set, go through
// dipcd. semctl's fourth argument is the variadic union semun, read only for the commands
// that take one, exactly as glibc does.
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/sem.h>

#include <cstring>

#include "shim/common.h"

using dipc::proto::IpcStat;
using dipc::proto::Kind;
using dipc::proto::Op;
using namespace dipc::shim;

namespace {

union SemArg {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
  struct seminfo* info;
};

bool takes_arg(int cmd) {
  switch (cmd) {
    case SETVAL:
    case GETALL:
    case SETALL:
    case IPC_STAT:
    case IPC_SET:
    case IPC_INFO:
    case SEM_INFO:
    case SEM_STAT:
    case SEM_STAT_ANY:
      return true;
  }
  return false;
}

bool answered_by_owner(int cmd) {
  switch (cmd) {
    case GETVAL:
    case SETVAL:
    case GETPID:
    case GETNCNT:
    case GETZCNT:
    case GETALL:
    case SETALL:
    case IPC_STAT:
    case IPC_SET:
    case IPC_RMID:
      return true;
  }
  return false;
}

constexpr size_t kSopWire = 6;  // u16 sem_num, i16 sem_op, i16 sem_flg

int remote_semop(int semid, struct sembuf* sops, size_t nsops, const struct timespec* timeout) {
  if (nsops > dipc::proto::kMaxSops) {
    errno = E2BIG;
    return -1;
  }
  if (nsops > 0 && sops == nullptr) {
    errno = EFAULT;
    return -1;
  }
  uint8_t buf[dipc::proto::kMaxSops * kSopWire];
  dipc::proto::Writer w(buf, nsops * kSopWire);
  bool may_block = false;
  for (size_t i = 0; i < nsops; ++i) {
    w.u16(sops[i].sem_num);
    w.i16(sops[i].sem_op);
    w.i16(sops[i].sem_flg);
    if (!(sops[i].sem_flg & IPC_NOWAIT)) may_block = true;
  }
  dipc::proto::OpRequest req = make_request(Kind::kSem, Op::kSemOp, semid);
  req.arg1 = int64_t(nsops);
  if (timeout) {
    req.flags = 1;
    req.arg2 = timeout->tv_sec;
    req.arg3 = timeout->tv_nsec;
  }
  req.data = std::string_view(reinterpret_cast<char*>(buf), w.size());
  Reply rep;
  int rc = call(req, &rep, nullptr, 0, may_block ? CallMode::kInterruptible : CallMode::kPlain);
  return int(finish(rc, rep));
}

// Number of semaphores in a set, read from the local placeholder (it has the same nsems).
// SEM_STAT_ANY reads it without the caller needing read permission on the placeholder,
// whose owner and mode may lag behind the real object's; it takes the id's index and
// returns the id found there, which must be ours.
int local_nsems(int semid) {
  struct semid_ds ds;
  int r = real().semctl(semid % 32768, 0, SEM_STAT_ANY, &ds);
  if (r != semid) {
    errno = EINVAL;
    return -1;
  }
  return int(ds.sem_nsems);
}

// A scratch buffer for semctl's arrays: on the stack when small, mapped when large, so a
// thread with a small stack can still handle a set of SEMMSL semaphores.
class Scratch {
 public:
  explicit Scratch(size_t n) : size_(n) {
    if (n > sizeof small_) {
      void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      big_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
    }
  }
  ~Scratch() {
    if (big_) munmap(big_, size_);
  }
  uint8_t* data() { return size_ > sizeof small_ ? big_ : small_; }
  size_t size() const { return size_; }

 private:
  size_t size_;
  uint8_t* big_ = nullptr;
  uint8_t small_[2048];
};

int remote_semctl(int semid, int semnum, int cmd, SemArg arg) {
  dipc::proto::OpRequest req = make_request(Kind::kSem, Op::kSemCtl, semid);
  req.arg1 = cmd;
  req.arg2 = semnum;
  size_t nsems = 0;
  if (cmd == SETVAL) req.arg3 = arg.val;
  if (cmd == GETALL || cmd == SETALL) {
    int n = local_nsems(semid);
    if (n < 0) return -1;
    nsems = size_t(n);
  }
  if ((cmd == GETALL || cmd == SETALL) && arg.array == nullptr) {
    errno = EFAULT;
    return -1;
  }
  if ((cmd == IPC_STAT || cmd == IPC_SET) && arg.buf == nullptr) {
    errno = EFAULT;
    return -1;
  }
  Scratch in(cmd == SETALL ? nsems * 2 : IpcStat::kSize);
  Scratch out(cmd == GETALL ? nsems * 2 : IpcStat::kSize);
  if (in.data() == nullptr || out.data() == nullptr) {
    errno = ENOMEM;
    return -1;
  }
  dipc::proto::Writer w(in.data(), in.size());
  if (cmd == SETALL) {
    for (size_t i = 0; i < nsems; ++i) w.u16(arg.array[i]);
  } else if (cmd == IPC_SET) {
    IpcStat s;
    perm_to_stat(arg.buf->sem_perm, s);
    s.encode(w);
  }
  req.data = std::string_view(reinterpret_cast<char*>(in.data()), w.size());
  Reply rep;
  int rc = call(req, &rep, out.data(), out.size(), CallMode::kPlain);
  long r = finish(rc, rep);
  if (r < 0) return -1;
  dipc::proto::Reader rd(out.data(), rep.data_len);
  if (cmd == GETALL) {
    for (size_t i = 0; i < nsems && i * 2 < rep.data_len; ++i) arg.array[i] = rd.u16();
  } else if (cmd == IPC_STAT) {
    IpcStat s;
    if (!s.decode(rd) || !rd.at_end()) {
      errno = ECOMM;
      return -1;
    }
    memset(arg.buf, 0, sizeof *arg.buf);
    stat_to_perm(s, arg.buf->sem_perm);
    arg.buf->sem_otime = s.otime;
    arg.buf->sem_ctime = s.ctime;
    arg.buf->sem_nsems = s.qnum;
  }
  return int(r);
}

}  // namespace

DIPC_EXPORT int semget(key_t key, int nsems, int semflg) {
  if (wants_dipc(key, semflg)) {
    int r = distributed_get(Kind::kSem, key, semflg, nsems);
    if (r != -2) return r;
  }
  return real().semget(key, nsems, semflg & ~IPC_DIPC);
}

DIPC_EXPORT int semop(int semid, struct sembuf* sops, size_t nsops) {
  if (__builtin_expect(!is_remote(Kind::kSem, semid), 1)) return real().semop(semid, sops, nsops);
  return remote_semop(semid, sops, nsops, nullptr);
}

DIPC_EXPORT int semtimedop(int semid, struct sembuf* sops, size_t nsops,
                           const struct timespec* timeout) {
  if (__builtin_expect(!is_remote(Kind::kSem, semid), 1))
    return real().semtimedop(semid, sops, nsops, timeout);
  return remote_semop(semid, sops, nsops, timeout);
}

DIPC_EXPORT int semctl(int semid, int semnum, int cmd, ...) {
  SemArg arg;
  arg.array = nullptr;
  int base = cmd;  // with IPC_64 (0x100) the kernel says EINVAL on x86_64: left to it
  if (takes_arg(base)) {
    va_list ap;
    va_start(ap, cmd);
    arg = va_arg(ap, SemArg);
    va_end(ap);
  }
  uint32_t f = id_flags(Kind::kSem, semid);
  bool remote = (f & dipc::idtable::kFlagDistributed) && !(f & dipc::idtable::kFlagOwnedHere);
  // IPC_RMID, SETVAL and SETALL on any distributed set go through dipcd: the cluster must
  // hear of a removal, and setting a value clears the SEM_UNDO adjustments dipcd keeps for
  // processes of other nodes, as the kernel does for local ones.
  bool via_dipcd = (f != 0 && (base == IPC_RMID || base == SETVAL || base == SETALL)) ||
                   (remote && answered_by_owner(base));
  if (__builtin_expect(!via_dipcd, 1)) return real().semctl(semid, semnum, cmd, arg);
  int r = remote_semctl(semid, semnum, base, arg);
  // Our own set with no dipcd to tell: the kernel object is all there is.
  if (r < 0 && errno == ENOLINK && (f & dipc::idtable::kFlagOwnedHere))
    return real().semctl(semid, semnum, cmd, arg);
  return r;
}
