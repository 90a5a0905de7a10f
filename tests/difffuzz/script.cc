// Script generation and printing (see script.h). The value lists lean on the edges: every
// limit (0, 1, MSGMAX, MSGMNB, SEMVMX, SEMOPM, the protocol's 1 MiB), one past it,
// negative and huge numbers.
#include "script.h"

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>

#include <climits>
#include <cstdio>
#include <cstring>

namespace difffuzz {
namespace {

// SplitMix64: small, fast and the same everywhere.
class Rng {
 public:
  explicit Rng(uint64_t s) : s_(s) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int below(int n) { return int(next() % uint64_t(n)); }
  bool chance(int percent) { return below(100) < percent; }
  template <typename T, size_t N>
  T pick(const T (&v)[N]) {
    return v[below(int(N))];
  }

 private:
  uint64_t s_;
};

constexpr int64_t kMiB = 1 << 20;

int64_t msg_size(Rng& r) {
  if (r.chance(55)) {
    const int64_t small[] = {0, 1, 2, 7, 8, 16, 100, 1000, 4096};
    return r.pick(small);
  }
  const int64_t edge[] = {8191,    8192,        8193,          16383,         16384,
                          16385,   65536,       kMiB - 1,      kMiB,          kMiB + 1,
                          -1,      -2,          INT64_MAX / 2, int64_t(1) << 32, INT_MAX,
                          kMiB * 2};
  return r.pick(edge);
}

int64_t mtype(Rng& r) {
  const int64_t v[] = {1, 1, 2, 2, 3, 5, 100, 0, -1, LONG_MAX, LONG_MIN};
  return r.pick(v);
}

int64_t msgtyp(Rng& r) {
  const int64_t v[] = {0, 0, 1, 2, 3, 5, -1, -2, -3, -100, LONG_MAX, LONG_MIN};
  return r.pick(v);
}

Ptr ptr(Rng& r, bool readonly_ok) {
  int x = r.below(100);
  if (x < 82) return Ptr::kValid;
  if (x < 87) return Ptr::kNull;
  if (x < 91) return Ptr::kBad;
  if (x < 95 && readonly_ok) return Ptr::kReadOnly;
  return Ptr::kEdge;
}

IdRef idref(Rng& r) {
  int x = r.below(100);
  if (x < 88) return IdRef::kSlot;
  if (x < 94) return IdRef::kStale;
  if (x < 97) return IdRef::kNegative;
  return IdRef::kMax;
}

uint32_t mode(Rng& r) {
  const uint32_t v[] = {0600, 0666, 0644, 0660, 0622, 0400, 0200, 0, 0777, 07777};
  return r.pick(v);
}

uint32_t user(Rng& r) { return r.chance(70) ? 0 : 65534; }

int msg_slot(Rng& r) { return r.below(2); }
int sem_slot(Rng& r) { return 2 + r.below(2); }
int shm_slot(Rng& r) { return 4 + r.below(2); }

// Segment sizes: 0, 1 (SHMMIN), around pages, and past SHMMAX (ULONG_MAX - 2^24 by
// default) and SHMALL; the huge ones that would succeed are left out (the runner attaches
// what it gets).
int64_t shm_size(Rng& r) {
  const int64_t v[] = {0,    0,     1,     100,   4095,  4096,     4096,     4097,
                       8192, 10000, 65536, kMiB,  -1,    INT64_MAX, int64_t(1) << 46,
                       -int64_t(1) << 24};
  return r.pick(v);
}

Step shm_step(Rng& r) {
  Step s;
  s.slot = shm_slot(r);
  s.id = idref(r);
  int x = r.below(100);
  if (x < 16) {
    s.type = Type::kGet;
    s.id = IdRef::kSlot;
    s.a = r.chance(40) ? 0 : shm_size(r);
    const int f[] = {0, 0, 0, IPC_CREAT, IPC_CREAT | IPC_EXCL, IPC_EXCL};
    const int m[] = {0, 0, 0600, 0666, 0400, 0200, 0644};
    s.flags = r.pick(f) | r.pick(m);
  } else if (x < 40) {
    s.type = Type::kShmAt;
    int a = r.below(100);
    s.addr = a < 45   ? Addr::kNull
             : a < 58 ? Addr::kHint
             : a < 65 ? Addr::kHintMid
             : a < 77 ? Addr::kHintOdd
             : a < 85 ? Addr::kMapped
             : a < 92 ? Addr::kLow
                      : Addr::kTop;
    if (r.chance(30)) s.flags |= SHM_RDONLY;
    if (r.chance(25)) s.flags |= SHM_RND;
    // SHM_REMAP only where replacing a mapping harms nothing: the reserved region, or no
    // address at all (EINVAL).
    bool remap_ok = s.addr == Addr::kNull || s.addr == Addr::kHint || s.addr == Addr::kHintOdd ||
                    s.addr == Addr::kHintMid;
    if (remap_ok && r.chance(25)) s.flags |= SHM_REMAP;
    if (r.chance(5)) s.flags |= SHM_EXEC;
    if (r.chance(3)) s.flags |= 0100000;  // a bit shmat does not know
  } else if (x < 52) {
    s.type = Type::kShmDt;
    int d = r.below(100);
    s.dt = d < 60   ? DtAddr::kStart
           : d < 70 ? DtAddr::kPlusOne
           : d < 80 ? DtAddr::kInside
           : d < 90 ? DtAddr::kNotAttached
                    : DtAddr::kNull;
    s.semnum = r.below(4);
  } else if (x < 72) {
    s.type = Type::kShmCtl;
    int c = r.below(20);
    s.cmd = c < 9    ? IPC_STAT
            : c < 14 ? IPC_SET
            : c < 17 ? IPC_RMID
            : c < 18 ? 99
            : c < 19 ? SHM_LOCK
                     : SHM_UNLOCK;
    s.ptr = ptr(r, true);
    s.uid = user(r);
    s.gid = user(r);
    s.mode = mode(r);
  } else if (x < 93) {
    s.type = Type::kShmAccess;
    s.semnum = r.below(4);
    s.flags = r.chance(50) ? 1 : 0;
    const int64_t off[] = {0, 0, 1, 100, 4095, 4096, 8000, 8191, 9999, 65535};
    const int64_t len[] = {1, 8, 64, 64, 4096, 100000};
    s.a = r.pick(off);
    s.b = r.pick(len);
  } else {
    s.type = Type::kOwnerWrite;
    const int64_t off[] = {0, 100, 4096, 8000};
    const int64_t len[] = {1, 64, 4096};
    s.a = r.pick(off);
    s.b = r.pick(len);
  }
  return s;
}

sembuf one_sop(Rng& r) {
  const short ops[] = {-1, -1, 1, 1, 0, 2, -2, 3, 32767, -32767, -32768, 16384, 100};
  const unsigned short nums[] = {0, 0, 0, 1, 1, 2, 4, 250, 65535};
  const short flg[] = {IPC_NOWAIT, IPC_NOWAIT, 0, SEM_UNDO | IPC_NOWAIT, SEM_UNDO, 0};
  sembuf s{};
  s.sem_num = r.pick(nums);
  s.sem_op = r.pick(ops);
  s.sem_flg = r.pick(flg);
  return s;
}

Step step(Rng& r) {
  if (r.chance(25)) return shm_step(r);
  Step s;
  int x = r.below(100);
  if (x < 20) {
    s.type = Type::kMsgSnd;
    s.slot = msg_slot(r);
    s.id = idref(r);
    s.a = msg_size(r);
    s.b = mtype(r);
    s.flags = r.chance(75) ? IPC_NOWAIT : 0;
    if (r.chance(5)) s.flags |= MSG_NOERROR;  // meaningless for msgsnd: ignored
    s.ptr = ptr(r, true);
    if (!(s.flags & IPC_NOWAIT)) s.partner = r.chance(75) ? Partner::kUnblock : Partner::kSignal;
  } else if (x < 40) {
    s.type = Type::kMsgRcv;
    s.slot = msg_slot(r);
    s.id = idref(r);
    s.a = r.chance(40) ? 8192 : msg_size(r);
    s.b = msgtyp(r);
    s.flags = r.chance(75) ? IPC_NOWAIT : 0;
    if (r.chance(20)) s.flags |= MSG_NOERROR;
    if (r.chance(15)) s.flags |= MSG_EXCEPT;
    if (r.chance(4)) s.flags |= MSG_COPY;
    s.ptr = ptr(r, true);
    if (!(s.flags & IPC_NOWAIT)) {
      int p = r.below(10);
      s.partner = p < 7 ? Partner::kUnblock : p < 9 ? Partner::kSignal : Partner::kRemove;
      s.semnum = r.chance(80) ? 1 : 4000;  // the size of the message the partner sends
    }
  } else if (x < 50) {
    s.type = Type::kMsgCtl;
    s.slot = msg_slot(r);
    s.id = idref(r);
    int c = r.below(20);
    s.cmd = c < 9 ? IPC_STAT : c < 16 ? IPC_SET : c < 18 ? IPC_RMID : c < 19 ? 99 : IPC_STAT | 0x100;
    s.ptr = ptr(r, true);
    s.uid = user(r);
    s.gid = user(r);
    s.mode = mode(r);
    const uint64_t qb[] = {16384, 16384, 8192, 0, 1, 100, 16385, 65536, 1 << 20, ~0ull};
    s.qbytes = r.pick(qb);
  } else if (x < 68) {
    s.type = Type::kSemOp;
    s.slot = sem_slot(r);
    s.id = idref(r);
    int n = r.below(100);
    if (n < 90) {
      int k = 1 + r.below(n < 60 ? 1 : 3);
      for (int i = 0; i < k; ++i) s.sops.push_back(one_sop(r));
      s.nsops = k;
    } else {
      const int64_t big[] = {0, 500, 501, 4096, 4097, -1};
      s.nsops = r.pick(big);
    }
    s.ptr = ptr(r, false);
    int t = r.below(100);
    s.timeout = t < 62   ? Timeout::kNoTimeout
                : t < 67 ? Timeout::kNull
                : t < 80 ? Timeout::kZero
                : t < 91 ? Timeout::kShort
                : t < 95 ? Timeout::kBadNsec
                : t < 98 ? Timeout::kNegative
                         : Timeout::kBadPtr;
    bool waits = false;
    for (auto& o : s.sops) waits |= !(o.sem_flg & IPC_NOWAIT);
    if (waits && (s.timeout == Timeout::kNoTimeout || s.timeout == Timeout::kNull)) {
      int p = r.below(10);
      s.partner = p < 6 ? Partner::kUnblock : p < 8 ? Partner::kSignal : Partner::kRemove;
    }
  } else if (x < 86) {
    s.type = Type::kSemCtl;
    s.slot = sem_slot(r);
    s.id = idref(r);
    const int cmds[] = {GETVAL, GETVAL, SETVAL, SETVAL, SETVAL, GETPID, GETNCNT, GETZCNT,
                        GETALL, GETALL, SETALL, IPC_STAT, IPC_STAT, IPC_SET, IPC_RMID, 99};
    s.cmd = r.pick(cmds);
    const int nums[] = {0, 0, 0, 1, 1, 2, -1, 4, 250, 1 << 20};
    s.semnum = r.pick(nums);
    const int64_t vals[] = {0, 1, 2, 5, 100, 32767, 32767, 32768, -1, 65536};
    s.a = r.pick(vals);
    s.ptr = ptr(r, true);
    s.uid = user(r);
    s.gid = user(r);
    s.mode = mode(r);
    if (s.cmd == SETALL) {
      int k = r.below(6);
      for (int i = 0; i < k; ++i) {
        const uint16_t v[] = {0, 1, 2, 32767, 32768, 65535};
        s.vals.push_back(r.pick(v));
      }
    }
  } else if (x < 91) {
    s.type = Type::kGet;
    s.slot = r.below(4);
    const int f[] = {0, 0, 0, IPC_CREAT, IPC_CREAT | IPC_EXCL, IPC_EXCL};
    const int m[] = {0, 0, 0600, 0666, 0400, 0200, 0644};
    s.flags = r.pick(f) | r.pick(m);
    const int64_t nsems[] = {0, 0, 1, 2, 3, 250, 32000, 32001, -1};
    s.a = r.pick(nsems);
  } else if (x < 94) {
    s.type = r.chance(50) ? Type::kOwnerRemove : Type::kOwnerCreate;
    s.slot = r.below(kSlots);
    s.a = mode(r) & 0777;
    const int64_t nsems[] = {1, 2, 3, 250};
    const int64_t sizes[] = {1, 4096, 10000, 65536};
    s.b = is_shm_slot(s.slot) ? r.pick(sizes) : r.pick(nsems);
  } else if (x < 97) {
    s.type = Type::kSetUser;
    s.a = r.chance(50) ? 1 : 0;
  } else {
    s.type = Type::kUndoChild;
    s.slot = sem_slot(r);
    s.semnum = r.chance(80) ? 0 : 1;
    const short ops[] = {-1, 1, 2, 32767, -32767, 16384};
    s.b = r.pick(ops);
  }
  return s;
}

}  // namespace

Script generate(uint64_t seed, uint64_t n) {
  // Seed and number are mixed before they start a stream: with a plain sum, script n + 1
  // would be script n's stream shifted by one draw (SplitMix64 steps by the same constant).
  Rng mix(seed ^ 0xd1b54a32d192ed03ull);
  uint64_t s = mix.next();
  Rng mix2(s ^ (n * 0xff51afd7ed558ccdull));
  Rng r(mix2.next());
  Script sc;
  // Most objects exist at the start, created by the owner, and the caller has found them.
  for (int slot = 0; slot < kSlots; ++slot) {
    if (!r.chance(85)) continue;
    Step c;
    c.type = Type::kOwnerCreate;
    c.slot = slot;
    const uint32_t modes[] = {0666, 0666, 0600, 0644, 0660, 0622, 0400};
    c.a = r.pick(modes);
    const int64_t nsems[] = {1, 2, 2, 3, 5, 250};
    const int64_t sizes[] = {1, 4096, 4096, 8192, 10000, 65536};
    c.b = is_shm_slot(slot) ? r.pick(sizes) : r.pick(nsems);
    sc.push_back(c);
    Step g;
    g.type = Type::kGet;
    g.slot = slot;
    sc.push_back(g);
  }
  int steps = 4 + r.below(21);
  for (int i = 0; i < steps; ++i) sc.push_back(step(r));
  return sc;
}

namespace {

Step owner_create(int slot, uint32_t mode, int nsems = 2) {
  Step s;
  s.type = Type::kOwnerCreate;
  s.slot = slot;
  s.a = mode;
  s.b = nsems;
  return s;
}

Step get(int slot, int flags = 0, int64_t nsems = 0) {
  Step s;
  s.type = Type::kGet;
  s.slot = slot;
  s.flags = flags;
  s.a = nsems;
  return s;
}

Step become(bool nobody) {
  Step s;
  s.type = Type::kSetUser;
  s.a = nobody;
  return s;
}

Step msg_call(Type t, int slot, int64_t size, int64_t type, int flags, Ptr p) {
  Step s;
  s.type = t;
  s.slot = slot;
  s.a = size;
  s.b = type;
  s.flags = flags;
  s.ptr = p;
  return s;
}

Step ctl(Type t, int slot, int cmd, Ptr p, int semnum = 0) {
  Step s;
  s.type = t;
  s.slot = slot;
  s.cmd = cmd;
  s.ptr = p;
  s.semnum = semnum;
  return s;
}

Step semop_call(int slot, std::vector<sembuf> sops, Ptr p, Timeout t = Timeout::kNoTimeout,
                int64_t nsops = -2) {
  Step s;
  s.type = Type::kSemOp;
  s.slot = slot;
  s.nsops = nsops == -2 ? int64_t(sops.size()) : nsops;
  s.sops = std::move(sops);
  s.ptr = p;
  s.timeout = t;
  return s;
}

Step shmat_call(int slot, Addr a, int flags) {
  Step s;
  s.type = Type::kShmAt;
  s.slot = slot;
  s.addr = a;
  s.flags = flags;
  return s;
}

Step shmdt_call(int attachment) {
  Step s;
  s.type = Type::kShmDt;
  s.semnum = attachment;
  return s;
}

}  // namespace

std::vector<Regression> regressions() {
  const int q0 = 0, q1 = 1, s2 = 2, s3 = 3;
  const short undo = SEM_UNDO, nowait = IPC_NOWAIT;
  std::vector<Regression> r;
  r.push_back({"msgsnd of 1 MiB: EINVAL",
               {owner_create(q0, 0666), get(q0),
                msg_call(Type::kMsgSnd, q0, 1 << 20, 1, IPC_NOWAIT, Ptr::kValid)}});
  r.push_back({"msgrcv(NULL, 16, 0, IPC_NOWAIT) on an empty queue: ENOMSG",
               {owner_create(q0, 0666), get(q0),
                msg_call(Type::kMsgRcv, q0, 16, 0, IPC_NOWAIT, Ptr::kNull)}});
  r.push_back({"msgrcv of an empty message into NULL: EFAULT (the type is written)",
               {owner_create(q0, 0666), get(q0),
                msg_call(Type::kMsgSnd, q0, 0, 1, IPC_NOWAIT, Ptr::kValid),
                msg_call(Type::kMsgRcv, q0, 4096, -100, IPC_NOWAIT, Ptr::kNull)}});
  r.push_back({"msgsnd whose text runs onto an unmapped page: EFAULT",
               {owner_create(q0, 0666), get(q0),
                msg_call(Type::kMsgSnd, q0, 100, LONG_MAX, IPC_NOWAIT, Ptr::kEdge)}});
  r.push_back({"a message taken for a buffer that cannot be written is gone, with EFAULT",
               {owner_create(q0, 0666), get(q0),
                msg_call(Type::kMsgSnd, q0, 8, 1, IPC_NOWAIT, Ptr::kValid),
                msg_call(Type::kMsgRcv, q0, 16, 0, IPC_NOWAIT, Ptr::kBad),
                ctl(Type::kMsgCtl, q0, IPC_STAT, Ptr::kValid)}});
  r.push_back({"a call after the caller became nobody has nobody's permissions",
               {owner_create(s3, 0400), get(s3), become(true),
                ctl(Type::kSemCtl, s3, GETVAL, Ptr::kValid, -1)}});
  r.push_back({"semget(nsems=-1) of an unused key: EINVAL", {get(s2, 0644, -1)}});
  {
    Step op = semop_call(s2, {{1, -32768, short(nowait | undo)}, {0, -32768, undo}}, Ptr::kValid);
    op.partner = Partner::kUnblock;
    r.push_back({"semop with an out-of-range SEM_UNDO by a caller without permission: EACCES",
                 {owner_create(s2, 0644, 5), get(s2), become(true), op}});
  }
  r.push_back({"semtimedop with a bad timeout and an out-of-range SEM_UNDO: EINVAL",
               {owner_create(s3, 0622, 5), get(s3),
                semop_call(s3, {{0, -32768, short(nowait | undo)}}, Ptr::kValid,
                           Timeout::kNegative)}});
  r.push_back({"msgrcv(MSG_COPY) into a buffer that cannot be read: EFAULT",
               {owner_create(q0, 0622), get(q0),
                msg_call(Type::kMsgRcv, q0, 16384, 0, IPC_NOWAIT | MSG_COPY, Ptr::kEdge)}});
  {
    Step rcv = msg_call(Type::kMsgRcv, q1, 65536, -100, MSG_COPY, Ptr::kValid);
    rcv.partner = Partner::kUnblock;
    rcv.semnum = 1;
    r.push_back({"msgrcv(MSG_COPY) without IPC_NOWAIT: EINVAL",
                 {owner_create(q1, 0400), get(q1), become(true), rcv}});
  }
  {
    Step removed;
    removed.type = Type::kOwnerRemove;
    removed.slot = s2;
    r.push_back({"semop(NULL), and of 501 ops, on an id its owner has just removed: EFAULT, E2BIG",
                 {owner_create(s2, 0666), get(s2), removed,
                  semop_call(s2, {{1, 32767, nowait}}, Ptr::kNull, Timeout::kNull),
                  semop_call(s2, {}, Ptr::kValid, Timeout::kNoTimeout, 501)}});
  }
  {
    Step removed;
    removed.type = Type::kOwnerRemove;
    removed.slot = s3;
    Step setval = ctl(Type::kSemCtl, s3, SETVAL, Ptr::kValid);
    setval.a = 32768;
    r.push_back({"SETVAL 32768 on an id its owner has just removed: ERANGE",
                 {owner_create(s3, 0622, 250), get(s3), removed, setval}});
  }
  r.push_back({"semop(NULL, 501): E2BIG",
               {owner_create(s2, 0666), get(s2),
                semop_call(s2, {}, Ptr::kNull, Timeout::kNoTimeout, 501)}});
  r.push_back({"IPC_STAT into NULL without read permission: EACCES",
               {owner_create(q0, 0600), get(q0), owner_create(s2, 0600), get(s2), become(true),
                ctl(Type::kMsgCtl, q0, IPC_STAT, Ptr::kNull),
                ctl(Type::kSemCtl, s2, IPC_STAT, Ptr::kNull)}});
  {
    Step setall = ctl(Type::kSemCtl, s2, SETALL, Ptr::kValid);
    setall.vals = {3, 4};
    r.push_back({"SETALL with write permission only",
                 {owner_create(s2, 0622), get(s2), become(true), setall, become(false),
                  ctl(Type::kSemCtl, s2, GETALL, Ptr::kValid)}});
  }
  {
    // Adjustment +32767 on semaphore 0 (value 32767 taken with SEM_UNDO, then 1 given
    // without), then a call whose operation on 0 would take it to 32768, after one on 1
    // that must wait (the partner's SETVAL of 1 releases it and leaves 0's adjustment).
    Step setval = ctl(Type::kSemCtl, s2, SETVAL, Ptr::kValid);
    setval.a = 32767;
    Step wait = semop_call(s2, {{1, -1, 0}, {0, -1, short(undo | nowait)}}, Ptr::kValid);
    wait.partner = Partner::kUnblock;
    r.push_back({"a semop that must wait, with a SEM_UNDO adjustment out of range: waits, then "
                 "ERANGE",
                 {owner_create(s2, 0666), get(s2), setval,
                  semop_call(s2, {{0, -32767, short(undo | nowait)}}, Ptr::kValid),
                  semop_call(s2, {{0, 1, nowait}}, Ptr::kValid), wait,
                  ctl(Type::kSemCtl, s2, GETALL, Ptr::kValid),
                  ctl(Type::kSemCtl, s2, IPC_STAT, Ptr::kValid)}});
    // The partner's SETVAL of semaphore 0 clears the adjustment: the call then goes through.
    Step cleared = semop_call(s2, {{0, -1, undo}}, Ptr::kValid);
    cleared.partner = Partner::kUnblock;
    r.push_back({"a semop waiting with a SEM_UNDO adjustment out of range that SETVAL clears: "
                 "it goes through",
                 {owner_create(s2, 0666), get(s2), setval,
                  semop_call(s2, {{0, -32767, short(undo | nowait)}}, Ptr::kValid), cleared,
                  ctl(Type::kSemCtl, s2, GETALL, Ptr::kValid)}});
  }
  {
    Step child;
    child.type = Type::kUndoChild;
    child.slot = s3;
    child.b = -1;  // the value is 0: EAGAIN
    r.push_back({"the exit of a process whose SEM_UNDO call failed sets sem_otime",
                 {owner_create(s3, 0666), get(s3), child,
                  ctl(Type::kSemCtl, s3, IPC_STAT, Ptr::kValid)}});
  }
  {
    // The caller's first SEM_UNDO call right after its connection changed (it became
    // nobody, so the shim reconnected): the pidfd its node opened for it took the closed
    // connection's reactor record, whose readiness made the process look exited, and the
    // owner applied its undo list (seed 1 script 1299). It came about two runs in three:
    // the script is run six times.
    Step timed = semop_call(s2, {{0, -1, undo}}, Ptr::kValid, Timeout::kZero);
    for (int i = 0; i < 6; ++i)
      r.push_back({"a SEM_UNDO call just after the caller became nobody: no exit applied, "
                   "sem_otime stays 0",
                   {owner_create(s2, 0666), get(s2), become(true), timed,
                    ctl(Type::kSemCtl, s2, IPC_STAT, Ptr::kValid)}});
  }
  {
    const int m4 = 4;
    Step create = owner_create(m4, 0600, 10000);
    r.push_back({"shmctl(IPC_STAT) into a bad pointer: EFAULT; into NULL without permission: "
                 "EACCES; IPC_SET from a bad pointer: EFAULT",
                 {create, get(m4), ctl(Type::kShmCtl, m4, IPC_STAT, Ptr::kBad),
                  ctl(Type::kShmCtl, m4, IPC_SET, Ptr::kEdge), become(true),
                  ctl(Type::kShmCtl, m4, IPC_STAT, Ptr::kNull)}});
  }
  {
    const int m4 = 4, m5 = 5;
    Step write;
    write.type = Type::kOwnerWrite;
    write.slot = m4;
    write.a = 100;
    write.b = 64;
    Step read;
    read.type = Type::kShmAccess;
    read.a = 0;
    read.b = 4096;
    Step set = ctl(Type::kShmCtl, m5, IPC_SET, Ptr::kValid);
    set.mode = 0666;
    r.push_back({"a process that detached its last segment attaches again (the owner writes, "
                 "the caller reads)",
                 {owner_create(m4, 0666, 8192), get(m4), write, write,
                  shmat_call(m4, Addr::kNull, 0), shmdt_call(0), shmat_call(m4, Addr::kNull, 0),
                  read}});
    r.push_back({"shmat with SHM_REMAP over the caller's own attachment detaches it (seed 10 "
                 "script 1357)",
                 {owner_create(m4, 0600, 8192), get(m4), owner_create(m5, 0600, 10000), get(m5),
                  shmat_call(m4, Addr::kHint, SHM_REMAP),
                  shmat_call(m5, Addr::kHintOdd, SHM_RND | SHM_REMAP),
                  ctl(Type::kShmCtl, m4, IPC_STAT, Ptr::kValid),
                  ctl(Type::kShmCtl, m5, IPC_STAT, Ptr::kValid), shmdt_call(0), shmdt_call(1),
                  ctl(Type::kShmCtl, m5, IPC_STAT, Ptr::kValid)}});
    Step read_past;
    read_past.type = Type::kShmAccess;
    read_past.semnum = 0;
    read_past.a = 8192;
    read_past.b = 4096;
    r.push_back({"shmat with SHM_REMAP over the start of the caller's own larger attachment: "
                 "the rest of it stays attached; shmdt there detaches the newer one first",
                 {owner_create(m4, 0600, 65536), get(m4), owner_create(m5, 0600, 4096), get(m5),
                  shmat_call(m4, Addr::kHint, SHM_REMAP), shmat_call(m5, Addr::kHint, SHM_REMAP),
                  ctl(Type::kShmCtl, m4, IPC_STAT, Ptr::kValid),
                  ctl(Type::kShmCtl, m5, IPC_STAT, Ptr::kValid), read_past, shmdt_call(0),
                  ctl(Type::kShmCtl, m5, IPC_STAT, Ptr::kValid),
                  ctl(Type::kShmCtl, m4, IPC_STAT, Ptr::kValid), read_past, shmdt_call(0),
                  ctl(Type::kShmCtl, m4, IPC_STAT, Ptr::kValid), shmdt_call(0)}});
    Step read_far = read_past;
    read_far.a = 32768;
    r.push_back({"shmat with SHM_REMAP inside the caller's own larger attachment cuts it in two "
                 "pieces, each counted in shm_nattch; shmdt of its start detaches both",
                 {owner_create(m4, 0600, 65536), get(m4), owner_create(m5, 0600, 4096), get(m5),
                  shmat_call(m4, Addr::kHint, SHM_REMAP), shmat_call(m5, Addr::kHintMid, SHM_REMAP),
                  ctl(Type::kShmCtl, m4, IPC_STAT, Ptr::kValid), read_far, shmdt_call(0),
                  ctl(Type::kShmCtl, m4, IPC_STAT, Ptr::kValid),
                  ctl(Type::kShmCtl, m5, IPC_STAT, Ptr::kValid), shmdt_call(0),
                  ctl(Type::kShmCtl, m5, IPC_STAT, Ptr::kValid)}});
    r.push_back({"shmat with SHM_EXEC needs execute permission: EACCES before the address",
                 {owner_create(m4, 0666, 8192), get(m4), become(true),
                  shmat_call(m4, Addr::kMapped, SHM_RND | SHM_EXEC)}});
    r.push_back({"IPC_RMID twice of a segment nobody attached: EINVAL; SHM_LOCK shows in IPC_STAT",
                 {owner_create(m4, 0666, 8192), get(m4), owner_create(m5, 0600, 4096), get(m5),
                  ctl(Type::kShmCtl, m5, SHM_LOCK, Ptr::kValid),
                  ctl(Type::kShmCtl, m5, IPC_STAT, Ptr::kValid),
                  ctl(Type::kShmCtl, m4, IPC_RMID, Ptr::kValid),
                  ctl(Type::kShmCtl, m4, IPC_RMID, Ptr::kValid)}});
    r.push_back({"shmat after IPC_SET let nobody in; shm_nattch right after shmat and shmdt",
                 {owner_create(m5, 0600, 4096), get(m5), set, become(true),
                  shmat_call(m5, Addr::kNull, 0), ctl(Type::kShmCtl, m5, IPC_STAT, Ptr::kValid),
                  shmdt_call(0), ctl(Type::kShmCtl, m5, IPC_STAT, Ptr::kValid)}});
    r.push_back({"shmat over a mapping that also runs past the top of user space: EINVAL",
                 {owner_create(m4, 0666, 65536), get(m4), owner_create(m5, 0660, 4096), get(m5),
                  shmat_call(m5, Addr::kTop, SHM_RDONLY), shmat_call(m4, Addr::kTop, 0)}});
  }
  return r;
}

namespace {

const char* ptr_name(Ptr p) {
  switch (p) {
    case Ptr::kValid: return "valid";
    case Ptr::kNull: return "NULL";
    case Ptr::kBad: return "bad";
    case Ptr::kReadOnly: return "readonly";
    case Ptr::kEdge: return "edge";
  }
  return "?";
}

std::string slot_name(int slot) {
  return (is_msg_slot(slot) ? "q" : is_shm_slot(slot) ? "m" : "s") + std::to_string(slot);
}

std::string id_name(const Step& s) {
  std::string base = slot_name(s.slot);
  switch (s.id) {
    case IdRef::kSlot: return base;
    case IdRef::kStale: return base + "(stale)";
    case IdRef::kNegative: return "-1";
    case IdRef::kMax: return "INT_MAX";
  }
  return "?";
}

struct FlagName {
  int bit;
  const char* name;
};

// "A|B|0100" for the named bits of f (in the order given) and the rest in octal.
template <size_t N>
std::string names_of(int f, const FlagName (&names)[N]) {
  std::string out;
  for (auto& n : names) {
    if (!(f & n.bit)) continue;
    out += out.empty() ? "" : "|";
    out += n.name;
    f &= ~n.bit;
  }
  char rest[32];
  if (f) {
    snprintf(rest, sizeof rest, "%s0%o", out.empty() ? "" : "|", unsigned(f));
    out += rest;
  }
  return out.empty() ? "0" : out;
}

std::string flag_names(int f) {
  static const FlagName names[] = {{IPC_NOWAIT, "NOWAIT"}, {MSG_NOERROR, "NOERROR"},
                                   {MSG_EXCEPT, "EXCEPT"}, {MSG_COPY, "COPY"},
                                   {IPC_CREAT, "CREAT"},   {IPC_EXCL, "EXCL"},
                                   {SEM_UNDO, "UNDO"}};
  return names_of(f, names);
}

// sem_flg has its own bits (SEM_UNDO has MSG_NOERROR's value).
std::string sem_flag_names(int f) {
  std::string out = (f & IPC_NOWAIT) ? "NOWAIT" : "";
  if (f & SEM_UNDO) out += out.empty() ? "UNDO" : "|UNDO";
  return out.empty() ? "0" : out;
}

std::string shm_flag_names(int f) {
  static const FlagName names[] = {
      {SHM_RDONLY, "RDONLY"}, {SHM_RND, "RND"}, {SHM_REMAP, "REMAP"}, {SHM_EXEC, "EXEC"}};
  return names_of(f, names);
}

const char* addr_name(Addr a) {
  switch (a) {
    case Addr::kNull: return "NULL";
    case Addr::kHint: return "free";
    case Addr::kHintOdd: return "free+123";
    case Addr::kHintMid: return "free+16K";
    case Addr::kMapped: return "mapped";
    case Addr::kLow: return "64K";
    case Addr::kTop: return "top";
  }
  return "?";
}

const char* dt_name(DtAddr d) {
  switch (d) {
    case DtAddr::kStart: return "start";
    case DtAddr::kPlusOne: return "start+1";
    case DtAddr::kInside: return "start+4096";
    case DtAddr::kNotAttached: return "not attached";
    case DtAddr::kNull: return "NULL";
  }
  return "?";
}

const char* partner_name(Partner p) {
  switch (p) {
    case Partner::kNone: return "";
    case Partner::kUnblock: return " partner=unblock";
    case Partner::kSignal: return " partner=signal";
    case Partner::kRemove: return " partner=remove";
  }
  return "";
}

const char* timeout_name(Timeout t) {
  switch (t) {
    case Timeout::kNoTimeout: return "";
    case Timeout::kNull: return " timeout=NULL";
    case Timeout::kZero: return " timeout=0";
    case Timeout::kShort: return " timeout=1ms";
    case Timeout::kBadNsec: return " timeout={0,1e9}";
    case Timeout::kNegative: return " timeout={-1,0}";
    case Timeout::kBadPtr: return " timeout=bad";
  }
  return "";
}

std::string ctl_name(int cmd);

// shmctl's own commands share numbers with semctl's (SHM_LOCK is GETPID's 11).
std::string shm_ctl_name(int cmd) {
  if (cmd == SHM_LOCK) return "SHM_LOCK";
  if (cmd == SHM_UNLOCK) return "SHM_UNLOCK";
  return ctl_name(cmd);
}

std::string ctl_name(int cmd) {
  switch (cmd) {
    case IPC_STAT: return "IPC_STAT";
    case IPC_SET: return "IPC_SET";
    case IPC_RMID: return "IPC_RMID";
    case GETVAL: return "GETVAL";
    case SETVAL: return "SETVAL";
    case GETPID: return "GETPID";
    case GETNCNT: return "GETNCNT";
    case GETZCNT: return "GETZCNT";
    case GETALL: return "GETALL";
    case SETALL: return "SETALL";
  }
  return "cmd" + std::to_string(cmd);
}

}  // namespace

std::string describe(const Step& s) {
  char b[512];
  std::string slot = slot_name(s.slot);
  switch (s.type) {
    case Type::kOwnerCreate:
      if (is_shm_slot(s.slot)) {
        snprintf(b, sizeof b, "owner: create %s size=%lld mode=0%o", slot.c_str(),
                 (long long)s.b, unsigned(s.a));
        return b;
      }
      if (is_msg_slot(s.slot))
        snprintf(b, sizeof b, "owner: create %s mode=0%o", slot.c_str(), unsigned(s.a));
      else
        snprintf(b, sizeof b, "owner: create %s nsems=%lld mode=0%o", slot.c_str(),
                 (long long)s.b, unsigned(s.a));
      return b;
    case Type::kOwnerRemove: return "owner: remove " + slot;
    case Type::kShmAt:
      snprintf(b, sizeof b, "shmat(%s addr=%s %s)", id_name(s).c_str(), addr_name(s.addr),
               shm_flag_names(s.flags).c_str());
      return b;
    case Type::kShmDt:
      snprintf(b, sizeof b, "shmdt(%s of attachment %d)", dt_name(s.dt), s.semnum);
      return b;
    case Type::kShmCtl:
      snprintf(b, sizeof b, "shmctl(%s %s ptr=%s", id_name(s).c_str(), shm_ctl_name(s.cmd).c_str(),
               ptr_name(s.ptr));
      if (s.cmd == IPC_SET)
        snprintf(b + strlen(b), sizeof b - strlen(b), " uid=%u gid=%u mode=0%o", s.uid, s.gid,
                 s.mode);
      return std::string(b) + ")";
    case Type::kShmAccess:
      snprintf(b, sizeof b, "%s attachment %d at %lld, %lld bytes", s.flags ? "write" : "read",
               s.semnum, (long long)s.a, (long long)s.b);
      return b;
    case Type::kOwnerWrite:
      snprintf(b, sizeof b, "owner: write %s at %lld, %lld bytes", slot.c_str(), (long long)s.a,
               (long long)s.b);
      return b;
    case Type::kGet:
      if (is_shm_slot(s.slot)) {
        snprintf(b, sizeof b, "shmget(%s size=%lld %s)", slot.c_str(), (long long)s.a,
                 flag_names(s.flags).c_str());
        return b;
      }
      if (is_msg_slot(s.slot))
        snprintf(b, sizeof b, "msgget(%s %s)", slot.c_str(), flag_names(s.flags).c_str());
      else
        snprintf(b, sizeof b, "semget(%s nsems=%lld %s)", slot.c_str(), (long long)s.a,
                 flag_names(s.flags).c_str());
      return b;
    case Type::kMsgSnd:
      snprintf(b, sizeof b, "msgsnd(%s size=%lld type=%lld %s ptr=%s%s)", id_name(s).c_str(),
               (long long)s.a, (long long)s.b, flag_names(s.flags).c_str(), ptr_name(s.ptr),
               partner_name(s.partner));
      return b;
    case Type::kMsgRcv:
      snprintf(b, sizeof b, "msgrcv(%s size=%lld type=%lld %s ptr=%s%s%s)", id_name(s).c_str(),
               (long long)s.a, (long long)s.b, flag_names(s.flags).c_str(), ptr_name(s.ptr),
               partner_name(s.partner),
               s.partner == Partner::kUnblock ? (s.semnum > 1 ? " big" : " small") : "");
      return b;
    case Type::kMsgCtl:
      snprintf(b, sizeof b, "msgctl(%s %s ptr=%s", id_name(s).c_str(), ctl_name(s.cmd).c_str(),
               ptr_name(s.ptr));
      if (s.cmd == IPC_SET)
        snprintf(b + strlen(b), sizeof b - strlen(b), " uid=%u gid=%u mode=0%o qbytes=%llu",
                 s.uid, s.gid, s.mode, (unsigned long long)s.qbytes);
      return std::string(b) + ")";
    case Type::kSemOp: {
      std::string ops;
      for (auto& o : s.sops)
        ops += " {" + std::to_string(o.sem_num) + "," + std::to_string(o.sem_op) + "," +
               sem_flag_names(o.sem_flg) + "}";
      snprintf(b, sizeof b, "%s(%s nsops=%lld%s ptr=%s%s%s)",
               s.timeout == Timeout::kNoTimeout ? "semop" : "semtimedop", id_name(s).c_str(),
               (long long)s.nsops, ops.c_str(), ptr_name(s.ptr), timeout_name(s.timeout),
               partner_name(s.partner));
      return b;
    }
    case Type::kSemCtl: {
      snprintf(b, sizeof b, "semctl(%s %d %s", id_name(s).c_str(), s.semnum,
               ctl_name(s.cmd).c_str());
      std::string out = b;
      if (s.cmd == SETVAL) out += " val=" + std::to_string(s.a);
      if (s.cmd == SETALL) {
        out += " vals=[";
        for (auto v : s.vals) out += std::to_string(v) + ",";
        out += "1...]";
      }
      if (s.cmd == IPC_SET)
        out += " uid=" + std::to_string(s.uid) + " gid=" + std::to_string(s.gid) + " mode=0" +
               [](uint32_t m) {
                 char t[16];
                 snprintf(t, sizeof t, "%o", m);
                 return std::string(t);
               }(s.mode);
      if (s.cmd == GETALL || s.cmd == SETALL || s.cmd == IPC_STAT || s.cmd == IPC_SET)
        out += std::string(" ptr=") + ptr_name(s.ptr);
      return out + ")";
    }
    case Type::kSetUser: return s.a ? "caller becomes nobody" : "caller becomes root";
    case Type::kUndoChild:
      snprintf(b, sizeof b, "child: semop(%s {%d,%lld,UNDO|NOWAIT}) and exit; GETVAL", slot.c_str(),
               s.semnum, (long long)s.b);
      return b;
  }
  return "?";
}

}  // namespace difffuzz
