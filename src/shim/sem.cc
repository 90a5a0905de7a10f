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
constexpr size_t kStackSops = 64;

// The encoded sembufs: the caller's stack buffer, or an anonymous mapping for many.
struct SopBuffer {
  uint8_t* data = nullptr;
  size_t mapped = 0;
  SopBuffer(uint8_t* stack, size_t n) {
    if (stack != nullptr || n == 0) {
      data = stack;
      return;
    }
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      data = static_cast<uint8_t*>(p);
      mapped = n;
    }
  }
  ~SopBuffer() {
    if (mapped) munmap(data, mapped);
  }
  SopBuffer(const SopBuffer&) = delete;
  SopBuffer& operator=(const SopBuffer&) = delete;
};

int remote_semop(int semid, struct sembuf* sops, size_t nsops, const struct timespec* timeout) {
  // As the kernel: the timeout is read first, then nsops is bounded, then the sembufs read.
  timespec ts;
  if (timeout != nullptr && !user_read(&ts, timeout, sizeof ts)) {
    errno = EFAULT;
    return -1;
  }
  // SEMOPM (the third field of /proc/sys/kernel/sem): checked here, before the id, as the
  // kernel does, so that the answer does not depend on whether this node has heard yet of
  // a removal. nsops 0 is the owner's (EINVAL, as for a bad id).
  if (nsops > dipc::proto::kMaxSops ||
      (nsops > 1 && long(nsops) > kernel_limit("sem", 2, dipc::proto::kMaxSops))) {
    errno = E2BIG;
    return -1;
  }
  // A few sembufs are encoded on the stack; more (rare) in a mapping of their own, so that
  // a semop from a signal handler on a small alternate stack (16 KiB) has room: the whole
  // 4096-sembuf buffer on the stack (24 KiB) overflowed one. mmap is a plain system call,
  // no allocator lock.
  uint8_t small[kStackSops * kSopWire];
  SopBuffer sb(nsops <= kStackSops ? small : nullptr, nsops * kSopWire);
  if (sb.data == nullptr) {
    errno = ENOMEM;
    return -1;
  }
  uint8_t* buf = sb.data;
  dipc::proto::Writer w(buf, nsops * kSopWire);
  bool may_block = false, readable = true;  // read in chunks: no big copy on the stack
  sembuf chunk[64];
  for (size_t i = 0; i < nsops && readable; i += 64) {
    size_t k = nsops - i < 64 ? nsops - i : 64;
    readable = user_read(chunk, sops + i, k * sizeof(sembuf));
    for (size_t j = 0; readable && j < k; ++j) {
      w.u16(chunk[j].sem_num);
      w.i16(chunk[j].sem_op);
      w.i16(chunk[j].sem_flg);
      if (!(chunk[j].sem_flg & IPC_NOWAIT)) may_block = true;
    }
  }
  dipc::proto::OpRequest req = make_request(Kind::kSem, Op::kSemOp, semid);
  req.arg1 = int64_t(nsops);
  if (timeout) {
    req.flags = 1;
    req.arg2 = ts.tv_sec;
    req.arg3 = ts.tv_nsec;
  }
  if (!readable) {  // the kernel copies the sembufs before it looks at the id
    errno = EFAULT;
    return -1;
  }
  // Then it checks the timeout (before the owner's SEM_UNDO range check could answer).
  if (nsops > 0 && timeout && (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000L)) {
    errno = EINVAL;
    return -1;
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
  // qemu-user (a node of another architecture, docs/hetero.md) lacks SEM_STAT_ANY (EINVAL):
  // SEM_STAT is the same but for needing read permission.
  if (r < 0 && errno == EINVAL) r = real().semctl(semid % 32768, 0, SEM_STAT, &ds);
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
  // As the kernel, before it looks at the id: a value outside 0..SEMVMX is ERANGE.
  if (cmd == SETVAL && (arg.val < 0 || arg.val > 32767)) {
    errno = ERANGE;
    return -1;
  }
  if (cmd == SETVAL) req.arg3 = arg.val;
  if (cmd == GETALL || cmd == SETALL) {
    int n = local_nsems(semid);
    if (n < 0) return -1;
    nsems = size_t(n);
  }
  semid_ds set_in;
  // As the kernel: IPC_SET reads its buffer before anything else.
  if (cmd == IPC_SET && !user_read(&set_in, arg.buf, sizeof set_in)) {
    errno = EFAULT;
    return -1;
  }
  Scratch in(cmd == SETALL ? nsems * 2 : IpcStat::kSize);
  Scratch out(cmd == GETALL ? nsems * 2 : IpcStat::kSize);
  Scratch vals(cmd == SETALL || cmd == GETALL ? nsems * sizeof(unsigned short) : 0);
  if (in.data() == nullptr || out.data() == nullptr || vals.data() == nullptr) {
    errno = ENOMEM;
    return -1;
  }
  auto* v = reinterpret_cast<unsigned short*>(vals.data());
  dipc::proto::Writer w(in.data(), in.size());
  if (cmd == SETALL) {
    if (user_read(v, arg.array, nsems * sizeof *v)) {
      for (size_t i = 0; i < nsems; ++i) w.u16(v[i]);
    } else {
      // The owner's kernel checks permission first, then faults on the array.
      req.arg3 = dipc::proto::kSemArrayAbsent;
    }
  } else if (cmd == IPC_SET) {
    IpcStat s;
    perm_to_stat(set_in.sem_perm, s);
    s.encode(w);
  }
  req.data = std::string_view(reinterpret_cast<char*>(in.data()), w.size());
  Reply rep;
  int rc = call(req, &rep, out.data(), out.size(), CallMode::kPlain);
  long r = finish(rc, rep);
  if (r < 0) return -1;
  dipc::proto::Reader rd(out.data(), rep.data_len);
  // Results are copied out last, as the kernel does (an EACCES or EINVAL comes first).
  if (cmd == GETALL) {
    size_t n = 0;
    for (; n < nsems && n * 2 < rep.data_len; ++n) v[n] = rd.u16();
    if (!user_write(arg.array, v, n * sizeof *v)) {
      errno = EFAULT;
      return -1;
    }
  } else if (cmd == IPC_STAT) {
    IpcStat s;
    if (!decode_reply_stat(out.data(), rep.data_len, s)) return -1;
    semid_ds ds;
    memset(&ds, 0, sizeof ds);
    stat_to_perm(s, ds.sem_perm);
    ds.sem_otime = s.otime;
    ds.sem_ctime = s.ctime;
    ds.sem_nsems = s.qnum;
    if (!user_write(arg.buf, &ds, sizeof ds)) {
      errno = EFAULT;
      return -1;
    }
  }
  return int(r);
}

// semget's first check, before any look-up: nsems against 0..SEMMSL (this namespace's
// /proc/sys/kernel/sem, first field), as on one machine.
bool nsems_out_of_range(int nsems) {
  if (nsems < 0) return true;
  long semmsl = kernel_limit("sem", 0, 0);
  return semmsl > 0 && nsems > semmsl;
}

}  // namespace

DIPC_EXPORT int semget(key_t key, int nsems, int semflg) {
  bool dist = wants_dipc(key, semflg);
  if (dist && nsems_out_of_range(nsems)) {
    errno = EINVAL;
    return -1;
  }
  if (dist) {
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
  if (r < 0 && errno == ENOLINK && (f & dipc::idtable::kFlagOwnedHere) && !strict_mode())
    return real().semctl(semid, semnum, cmd, arg);
  return r;
}
