// difffuzz: a differential fuzzer of DIPC against plain Linux, for message queues,
// semaphores and shared memory.
//
//   difffuzz agent --socket PATH
//       On the owner node, under the shim: creates and removes objects with IPC_DIPC when
//       the runner asks (one request line, one answer line, over a Unix socket).
//   difffuzz run --seed S [--scripts N] [--time-limit SEC] [--agent PATH | --self-check]
//                [--script I] [--inject] [--verbose] [--regressions]
//       On another node, under the shim: for each script (generated from S and its number),
//       runs it once on plain Linux (a child in a fresh IPC namespace, System V calls made
//       with syscall(2), objects "owned" in that namespace) and once under DIPC (a child
//       whose calls go through the shim, objects created by the agent on the owner node),
//       and compares every step's result: return value, errno and what it observed.
//       The first differing step of a failing script is printed, with the script shrunk
//       to the steps that still make a difference. --regressions runs instead the short
//       scripts of differences once found (script.h). --self-check runs plain Linux on both
//       sides (the fuzzer's own determinism); --inject adds a fake difference there so that
//       a test can see detection and shrinking work.
//   difffuzz show --seed S --script I
//       Prints a script.
//
// Exit status: 0 no difference, 1 a difference, 2 usage or set-up error.
// Every loop is bounded in count and in time; every blocking call has a bounded partner
// and a 1 s interval timer behind it. Single-threaded; each script side runs in a child.
#include <dipc/dipc.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "script.h"

namespace difffuzz {
namespace {

// ---------------------------------------------------------------------------------------
// Memory the calls point into: a data region, then an inaccessible page, a read-only page
// and another inaccessible page. Mapped once before any fork, so both sides see the same.

constexpr size_t kPage = 4096;
constexpr size_t kData = (2u << 20) + (64u << 10);
char* g_base = nullptr;  // data region
char* g_guard = nullptr; // PROT_NONE, right after the data region
char* g_ro = nullptr;    // PROT_READ
// Reserved (PROT_NONE) for shmat at a fixed address: segments of up to kHintSize.
constexpr size_t kHintSize = 8u << 20;
char* g_hint = nullptr;

// Keeps [p, p + n) of the hint region reserved again (after a detach there).
void reserve_hint(char* p, size_t n) {
  if (p < g_hint || p >= g_hint + kHintSize) return;
  n = std::min(n, size_t(g_hint + kHintSize - p));
  mmap(p, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
}

bool map_arena() {
  void* h = mmap(nullptr, kHintSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (h == MAP_FAILED) return false;
  g_hint = static_cast<char*>(h);
  size_t total = kData + 3 * kPage;
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  g_base = static_cast<char*>(p);
  g_guard = g_base + kData;
  g_ro = g_guard + kPage;
  long one = 1;
  memcpy(g_ro, &one, sizeof one);
  for (size_t i = sizeof one; i < kPage; ++i) g_ro[i] = char(i * 7);
  return mprotect(g_guard, kPage, PROT_NONE) == 0 && mprotect(g_ro, kPage, PROT_READ) == 0 &&
         mprotect(g_ro + kPage, kPage, PROT_NONE) == 0;
}

// The pointer of kind k for an argument whose first `head` bytes an edge pointer keeps valid.
char* pointer(Ptr k, size_t head) {
  switch (k) {
    case Ptr::kValid: return g_base;
    case Ptr::kNull: return nullptr;
    case Ptr::kBad: return g_guard + 64;
    case Ptr::kReadOnly: return g_ro;
    case Ptr::kEdge: return g_guard - head;
  }
  return nullptr;
}

uint64_t fnv(const void* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  auto* c = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 1099511628211ull;
  return h;
}

std::string err_name(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : "E#" + std::to_string(e);
}

std::string result(long r, int e) { return r < 0 ? "-1 " + err_name(e) : std::to_string(r); }

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
  timespec ts{0, long(ms) * 1000000};
  nanosleep(&ts, nullptr);
}

// ---------------------------------------------------------------------------------------
// The two sides' System V calls.

struct Api {
  virtual ~Api() = default;
  virtual int msgget(key_t k, int f) = 0;
  virtual int msgsnd(int id, const void* p, size_t n, int f) = 0;
  virtual long msgrcv(int id, void* p, size_t n, long t, int f) = 0;
  virtual int msgctl(int id, int cmd, void* buf) = 0;
  virtual int semget(key_t k, int n, int f) = 0;
  virtual int semop(int id, sembuf* s, size_t n) = 0;
  virtual int semtimedop(int id, sembuf* s, size_t n, const timespec* t) = 0;
  virtual int semctl(int id, int num, int cmd, unsigned long arg) = 0;
  virtual int shmget(key_t k, size_t n, int f) = 0;
  virtual void* shmat(int id, const void* a, int f) = 0;
  virtual int shmdt(const void* a) = 0;
  virtual int shmctl(int id, int cmd, void* buf) = 0;
};

// Plain Linux: the system calls themselves, as glibc makes them on x86_64.
struct PlainApi : Api {
  int msgget(key_t k, int f) override { return int(syscall(SYS_msgget, k, f & ~IPC_DIPC)); }
  int msgsnd(int id, const void* p, size_t n, int f) override {
    return int(syscall(SYS_msgsnd, id, p, n, f));
  }
  long msgrcv(int id, void* p, size_t n, long t, int f) override {
    return syscall(SYS_msgrcv, id, p, n, t, f);
  }
  int msgctl(int id, int cmd, void* buf) override { return int(syscall(SYS_msgctl, id, cmd, buf)); }
  int semget(key_t k, int n, int f) override { return int(syscall(SYS_semget, k, n, f & ~IPC_DIPC)); }
  int semop(int id, sembuf* s, size_t n) override { return int(syscall(SYS_semop, id, s, n)); }
  int semtimedop(int id, sembuf* s, size_t n, const timespec* t) override {
    return int(syscall(SYS_semtimedop, id, s, n, t));
  }
  int semctl(int id, int num, int cmd, unsigned long arg) override {
    return int(syscall(SYS_semctl, id, num, cmd, arg));
  }
  int shmget(key_t k, size_t n, int f) override {
    return int(syscall(SYS_shmget, k, n, f & ~IPC_DIPC));
  }
  void* shmat(int id, const void* a, int f) override {
    return reinterpret_cast<void*>(syscall(SYS_shmat, id, a, f));
  }
  int shmdt(const void* a) override { return int(syscall(SYS_shmdt, a)); }
  int shmctl(int id, int cmd, void* buf) override { return int(syscall(SYS_shmctl, id, cmd, buf)); }
};

// DIPC: the libc calls, which the preloaded shim interposes. *get always says IPC_DIPC.
union SemUn {
  int val;
  void* ptr;
};
struct DipcApi : Api {
  int msgget(key_t k, int f) override { return ::msgget(k, f | IPC_DIPC); }
  int msgsnd(int id, const void* p, size_t n, int f) override { return ::msgsnd(id, p, n, f); }
  long msgrcv(int id, void* p, size_t n, long t, int f) override {
    return ::msgrcv(id, p, n, t, f);
  }
  int msgctl(int id, int cmd, void* buf) override {
    return ::msgctl(id, cmd, static_cast<msqid_ds*>(buf));
  }
  int semget(key_t k, int n, int f) override { return ::semget(k, n, f | IPC_DIPC); }
  int semop(int id, sembuf* s, size_t n) override { return ::semop(id, s, n); }
  int semtimedop(int id, sembuf* s, size_t n, const timespec* t) override {
    return ::semtimedop(id, s, n, t);
  }
  int semctl(int id, int num, int cmd, unsigned long arg) override {
    SemUn u;
    if (cmd == SETVAL)
      u.val = int(arg);
    else
      u.ptr = reinterpret_cast<void*>(arg);
    return ::semctl(id, num, cmd, u);
  }
  int shmget(key_t k, size_t n, int f) override { return ::shmget(k, n, f | IPC_DIPC); }
  void* shmat(int id, const void* a, int f) override { return ::shmat(id, a, f); }
  int shmdt(const void* a) override { return ::shmdt(a); }
  int shmctl(int id, int cmd, void* buf) override {
    return ::shmctl(id, cmd, static_cast<shmid_ds*>(buf));
  }
};

// ---------------------------------------------------------------------------------------
// The owner of the objects: this namespace itself (plain), or the agent on another node.

// Kinds of object: 'm' message queue, 's' semaphore set, 'h' shared memory segment.
char slot_kind(int slot) { return is_msg_slot(slot) ? 'm' : is_shm_slot(slot) ? 'h' : 's'; }

struct Owner {
  virtual ~Owner() = default;
  // "ok" or an errno name. size: nsems, or a segment's size.
  virtual std::string create(char kind, key_t key, int mode, int64_t size) = 0;
  virtual std::string remove(char kind, key_t key) = 0;
  // Attaches segment key, writes n bytes (pattern seed) at off, detaches.
  virtual std::string write(key_t key, int64_t off, int64_t n, int seed) = 0;
};

std::string owner_create(Api& api, char kind, key_t key, int mode, int64_t size) {
  int f = IPC_CREAT | IPC_EXCL | mode;
  int r = kind == 'm'   ? api.msgget(key, f)
          : kind == 'h' ? api.shmget(key, size_t(size), f)
                        : api.semget(key, int(size), f);
  return r < 0 ? err_name(errno) : "ok";
}

std::string owner_remove(Api& api, char kind, key_t key) {
  int id = kind == 'm' ? api.msgget(key, 0) : kind == 'h' ? api.shmget(key, 0, 0) : api.semget(key, 0, 0);
  if (id < 0) return err_name(errno);
  int r = kind == 'm'   ? api.msgctl(id, IPC_RMID, nullptr)
          : kind == 'h' ? api.shmctl(id, IPC_RMID, nullptr)
                        : api.semctl(id, 0, IPC_RMID, 0);
  return r < 0 ? err_name(errno) : "ok";
}

char pattern(int64_t i, int seed) { return char(i * 31 + seed * 7 + 3); }

std::string owner_write(Api& api, key_t key, int64_t off, int64_t n, int seed) {
  int id = api.shmget(key, 0, 0);
  if (id < 0) return "shmget " + err_name(errno);
  shmid_ds ds{};
  if (api.shmctl(id, IPC_STAT, &ds) < 0) return "IPC_STAT " + err_name(errno);
  void* p = api.shmat(id, nullptr, 0);
  if (p == reinterpret_cast<void*>(-1)) return "shmat " + err_name(errno);
  int64_t end = std::min<int64_t>(off + n, int64_t(ds.shm_segsz));
  for (int64_t i = off; i < end; ++i) static_cast<char*>(p)[i] = pattern(i, seed);
  return api.shmdt(p) < 0 ? "shmdt " + err_name(errno) : "ok";
}

// The caller's effective ids: root or nobody (with nobody's groups, as dipcd's owner side
// sees a remote nobody). Raw system calls: they change this thread only, as a caller may.
void become(bool nobody) {
  if (nobody) {
    gid_t g = 65534;
    syscall(SYS_setgroups, 1, &g);
    syscall(SYS_setresgid, -1, 65534, -1);
    syscall(SYS_setresuid, -1, 65534, -1);
  } else {
    syscall(SYS_setresuid, -1, 0, -1);
    syscall(SYS_setresgid, -1, 0, -1);
    gid_t g = 0;
    syscall(SYS_setgroups, 1, &g);
  }
}

bool g_nobody = false;  // the caller's current identity (per script child)

struct PlainOwner : Owner {
  PlainApi api;
  template <typename F>
  std::string as_root(F f) {
    bool was = g_nobody;
    if (was) become(false);
    std::string r = f();
    if (was) become(true);
    return r;
  }
  std::string create(char kind, key_t key, int mode, int64_t size) override {
    return as_root([&] { return owner_create(api, kind, key, mode, size); });
  }
  std::string remove(char kind, key_t key) override {
    return as_root([&] { return owner_remove(api, kind, key); });
  }
  std::string write(key_t key, int64_t off, int64_t n, int seed) override {
    return as_root([&] { return owner_write(api, key, off, n, seed); });
  }
};

int connect_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    close(fd);
    return -1;
  }
  strcpy(sa.sun_path, path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    close(fd);
    return -1;
  }
  timeval tv{20, 0};  // an agent that does not answer in 20 s is broken
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// One request line, one answer line (both under 256 bytes).
std::string ask(int fd, const std::string& line) {
  std::string req = line + "\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) return "AGENT-LOST";
  std::string out;
  char c;
  while (out.size() < 256) {
    ssize_t n = recv(fd, &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "AGENT-LOST";
    if (c == '\n') return out;
    out += c;
  }
  return "AGENT-LOST";
}

struct AgentOwner : Owner {
  int fd = -1;
  std::string create(char kind, key_t key, int mode, int64_t size) override {
    char b[128];
    snprintf(b, sizeof b, "create %c %d %d %lld", kind, key, mode, (long long)size);
    return ask(fd, b);
  }
  std::string remove(char kind, key_t key) override {
    char b[64];
    snprintf(b, sizeof b, "remove %c %d", kind, key);
    return ask(fd, b);
  }
  std::string write(key_t key, int64_t off, int64_t n, int seed) override {
    char b[128];
    snprintf(b, sizeof b, "write %d %lld %lld %d", key, (long long)off, (long long)n, seed);
    return ask(fd, b);
  }
};

// ---------------------------------------------------------------------------------------
// Running one script on one side.

volatile sig_atomic_t g_signals = 0;
void on_signal(int) { g_signals = g_signals + 1; }

void install_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: an interrupted call returns EINTR
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGALRM, &sa, nullptr);
}

void arm_timer(int ms) {
  itimerval it{};
  it.it_value.tv_sec = ms / 1000;
  it.it_value.tv_usec = (ms % 1000) * 1000;
  setitimer(ITIMER_REAL, &it, nullptr);
}

// Bound of a call that may block: its partner acts within milliseconds, so a call still
// waiting after this long is interrupted (EINTR) by the interval timer.
constexpr int kCallBoundMs = 1000;

struct Exec {
  Exec(Api& a, Owner& o, key_t k) : api(a), owner(o), keybase(k) {}
  Api& api;
  Owner& owner;
  key_t keybase;
  int id[kSlots] = {-1, -1, -1, -1, -1, -1};
  int stale[kSlots] = {-1, -1, -1, -1, -1, -1};
  // GETPID of semaphore 0 of the slot's set is not compared any more (see run_undo_child).
  bool pid0_unchecked[kSlots] = {};
  // Attachments made by shmat, in order: address and mapped length.
  struct Attachment {
    char* addr;
    size_t len;
  };
  std::vector<Attachment> att;
  int step_no = 0;
};

int resolve(const Exec& x, const Step& s) {
  switch (s.id) {
    case IdRef::kSlot: return x.id[s.slot];
    case IdRef::kStale: return x.stale[s.slot] >= 0 ? x.stale[s.slot] : INT_MAX - 1;
    case IdRef::kNegative: return -1;
    case IdRef::kMax: return INT_MAX;
  }
  return -1;
}

char proc_state(pid_t pid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return '?';
  buf[n] = 0;
  const char* p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : '?';
}

// The partner of a call that may block: a child that waits (bounded) until the call is seen
// waiting (a semaphore's waiter count, or the caller asleep for 30 ms) or has returned
// (the done pipe), then acts. Its exit status is its own call's errno (0: success,
// 250: nothing done).
struct PartnerRun {
  pid_t pid = -1;
  int done_w = -1;
};

int partner_act(Exec& x, const Step& s, int id, bool done) {
  Api& api = x.api;
  long r = 0;
  if (s.partner == Partner::kSignal) {
    if (done) return 250;
    r = kill(getppid(), SIGUSR1);
  } else if (s.partner == Partner::kRemove) {
    r = s.type == Type::kSemOp ? api.semctl(id, 0, IPC_RMID, 0) : api.msgctl(id, IPC_RMID, nullptr);
  } else if (s.type == Type::kMsgRcv) {
    long t = s.b > 0 && !(s.flags & MSG_EXCEPT) ? s.b : s.b > 0 && s.b < LONG_MAX ? s.b + 1 : 1;
    size_t n = size_t(s.semnum);
    char* p = g_base + (1u << 20);  // away from the caller's buffer
    memcpy(p, &t, sizeof t);
    for (size_t i = 0; i < n; ++i) p[sizeof t + i] = char(i * 3 + 1);
    r = api.msgsnd(id, p, n, IPC_NOWAIT);
  } else if (s.type == Type::kMsgSnd) {
    r = api.msgrcv(id, g_base + (1u << 20), 8192, 0, IPC_NOWAIT | MSG_NOERROR);
  } else if (s.type == Type::kSemOp) {
    for (auto& o : s.sops) {
      if (o.sem_flg & IPC_NOWAIT) continue;
      int v = o.sem_op < 0 ? -o.sem_op : 0;
      if (o.sem_op > 0) continue;
      r = api.semctl(id, o.sem_num, SETVAL, (unsigned long)v);
      if (r < 0) break;
    }
  }
  int e = errno;
  // A waiter this partner cannot release (say, one that wants 32768) is interrupted instead
  // of being left to the interval timer.
  if (r < 0 && !done && s.partner == Partner::kUnblock) kill(getppid(), SIGUSR1);
  return r < 0 ? e : 0;
}

PartnerRun start_partner(Exec& x, const Step& s, int id) {
  PartnerRun p;
  if (s.partner == Partner::kNone) return p;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return p;
  pid_t caller = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return p;
  }
  if (pid == 0) {
    close(fds[1]);
    int64_t deadline = now_ms() + 1500;
    bool done = false;
    int asleep = 0;
    for (int i = 0; i < 1500 && now_ms() < deadline; ++i) {
      pollfd pf{fds[0], POLLIN, 0};
      if (poll(&pf, 1, 2) > 0) {
        done = true;
        break;
      }
      if (s.type == Type::kSemOp) {
        bool waiting = false;
        for (auto& o : s.sops) {
          if (o.sem_num >= 300) continue;
          if (x.api.semctl(id, o.sem_num, GETNCNT, 0) > 0 ||
              x.api.semctl(id, o.sem_num, GETZCNT, 0) > 0)
            waiting = true;
        }
        if (waiting) break;
      } else {
        asleep = proc_state(caller) == 'S' ? asleep + 1 : 0;
        if (asleep >= 15) break;
      }
    }
    _exit(partner_act(x, s, id, done));
  }
  close(fds[0]);
  p.pid = pid;
  p.done_w = fds[1];
  return p;
}

std::string finish_partner(PartnerRun& p) {
  if (p.pid < 0) return "";
  if (write(p.done_w, "x", 1) < 0) {
  }
  close(p.done_w);
  int st = 0;
  pid_t w = 0;
  for (int i = 0; i < 4000 && (w = waitpid(p.pid, &st, WNOHANG)) == 0; ++i) sleep_ms(1);
  if (w == 0) {
    kill(p.pid, SIGKILL);
    waitpid(p.pid, &st, 0);
    return " partner=TIMEOUT";
  }
  if (w < 0) return " partner=LOST";
  if (!WIFEXITED(st)) return " partner=KILLED";
  int c = WEXITSTATUS(st);
  return c == 0 ? " partner=ok" : c == 250 ? " partner=idle" : " partner=" + err_name(c);
}

std::string set_state(int64_t t) { return t ? "set" : "0"; }

std::string show_msqid(const Exec& x, const msqid_ds& d) {
  char b[320];
  snprintf(b, sizeof b,
           " key=+%d uid=%u gid=%u cuid=%u cgid=%u mode=0%o qnum=%lu cbytes=%lu qbytes=%lu "
           "stime=%s rtime=%s ctime=%s lspid=%s lrpid=%s",
           d.msg_perm.__key - x.keybase, d.msg_perm.uid, d.msg_perm.gid, d.msg_perm.cuid,
           d.msg_perm.cgid, d.msg_perm.mode, (unsigned long)d.msg_qnum,
           (unsigned long)d.__msg_cbytes, (unsigned long)d.msg_qbytes,
           set_state(d.msg_stime).c_str(), set_state(d.msg_rtime).c_str(),
           set_state(d.msg_ctime).c_str(), set_state(d.msg_lspid).c_str(),
           set_state(d.msg_lrpid).c_str());
  return b;
}

std::string show_semid(const Exec& x, const semid_ds& d) {
  char b[256];
  snprintf(b, sizeof b, " key=+%d uid=%u gid=%u cuid=%u cgid=%u mode=0%o nsems=%lu otime=%s ctime=%s",
           d.sem_perm.__key - x.keybase, d.sem_perm.uid, d.sem_perm.gid, d.sem_perm.cuid,
           d.sem_perm.cgid, d.sem_perm.mode, (unsigned long)d.sem_nsems,
           set_state(d.sem_otime).c_str(),
           set_state(d.sem_ctime).c_str());
  return b;
}

char hexbuf[32];
const char* hex(uint64_t h) {
  snprintf(hexbuf, sizeof hexbuf, "%08llx", (unsigned long long)(h & 0xffffffffu));
  return hexbuf;
}

// The bytes msgrcv may write for a given size: its header and at most MSGMAX+64 bytes.
size_t rcv_window(int64_t size) {
  int64_t n = size < 0 ? 0 : size > 8256 ? 8256 : size;
  return sizeof(long) + size_t(n) + 32;
}

std::string run_msgsnd(Exec& x, const Step& s) {
  int id = resolve(x, s);
  char* p = pointer(s.ptr, sizeof(long) + 16);
  size_t text = s.a < 0 ? 0 : size_t(std::min<int64_t>(s.a, int64_t(kData - sizeof(long))));
  if (s.ptr == Ptr::kValid) {
    long t = long(s.b);
    memcpy(p, &t, sizeof t);
    for (size_t i = 0; i < text; ++i) p[sizeof t + i] = char(i * 13 + x.step_no);
  } else if (s.ptr == Ptr::kEdge) {
    long t = long(s.b);
    memcpy(p, &t, sizeof t);
    memset(p + sizeof t, 'e', 16);
  }
  PartnerRun pr = start_partner(x, s, id);
  if (pr.pid > 0) arm_timer(kCallBoundMs);
  errno = 0;
  int r = x.api.msgsnd(id, p, size_t(s.a), s.flags);
  int e = errno;
  arm_timer(0);
  return result(r, e) + finish_partner(pr);
}

std::string run_msgrcv(Exec& x, const Step& s) {
  int id = resolve(x, s);
  char* p = pointer(s.ptr, sizeof(long) + 16);
  size_t win = s.ptr == Ptr::kEdge ? sizeof(long) + 16 : rcv_window(s.a);
  if (s.ptr == Ptr::kValid || s.ptr == Ptr::kEdge) memset(p, 0xa5, win);
  PartnerRun pr = start_partner(x, s, id);
  if (pr.pid > 0) arm_timer(kCallBoundMs);
  errno = 0;
  long r = x.api.msgrcv(id, p, size_t(s.a), long(s.b), s.flags);
  int e = errno;
  arm_timer(0);
  std::string out = result(r, e);
  if (s.ptr == Ptr::kValid || s.ptr == Ptr::kEdge) {
    long t;
    memcpy(&t, p, sizeof t);
    if (r >= 0) out += " type=" + std::to_string(t);
    out += std::string(" mem=") + hex(fnv(p, win));
  }
  return out + finish_partner(pr);
}

// msgctl or shmctl (Ds: its struct): IPC_SET fills the fields set(d) sets, IPC_STAT shows
// what show(d) prints.
template <typename Ds, typename Set, typename Call, typename Show>
std::string run_ctl(Exec& x, const Step& s, Set set, Call call, Show show) {
  int id = resolve(x, s);
  char* p = pointer(s.ptr, 16);
  if (s.ptr == Ptr::kValid) {
    memset(p, 0x5a, sizeof(Ds) + 64);
    if (s.cmd == IPC_SET) {
      Ds d{};
      set(d);
      memcpy(p, &d, sizeof d);
    }
  }
  errno = 0;
  int r = call(id, s.cmd, p);
  int e = errno;
  std::string out = result(r, e);
  if (s.ptr == Ptr::kValid && r >= 0 && s.cmd == IPC_STAT) {
    Ds d;
    memcpy(&d, p, sizeof d);
    out += show(d);
  }
  return out;
}

std::string run_msgctl(Exec& x, const Step& s) {
  return run_ctl<msqid_ds>(
      x, s,
      [&s](msqid_ds& d) {
        d.msg_perm.uid = s.uid;
        d.msg_perm.gid = s.gid;
        d.msg_perm.mode = (unsigned short)s.mode;
        d.msg_qbytes = s.qbytes;
      },
      [&x](int id, int cmd, void* p) { return x.api.msgctl(id, cmd, p); },
      [&x](const msqid_ds& d) { return show_msqid(x, d); });
}

std::string run_semop(Exec& x, const Step& s) {
  int id = resolve(x, s);
  auto* sops = reinterpret_cast<sembuf*>(g_base);
  size_t fill = s.nsops < 0 ? 0 : size_t(std::min<int64_t>(s.nsops, 5000));
  for (size_t i = 0; i < fill; ++i)
    sops[i] = i < s.sops.size() ? s.sops[i] : sembuf{0, 0, IPC_NOWAIT};
  sembuf* sp = reinterpret_cast<sembuf*>(pointer(s.ptr, sizeof(sembuf)));
  if (s.ptr == Ptr::kEdge) *sp = s.sops.empty() ? sembuf{0, 0, IPC_NOWAIT} : s.sops[0];
  auto* ts = reinterpret_cast<timespec*>(g_base + (64u << 10));
  const timespec* tp = ts;
  switch (s.timeout) {
    case Timeout::kNoTimeout:
    case Timeout::kNull: tp = nullptr; break;
    case Timeout::kZero: *ts = {0, 0}; break;
    case Timeout::kShort: *ts = {0, 1000000}; break;
    case Timeout::kBadNsec: *ts = {0, 1000000000}; break;
    case Timeout::kNegative: *ts = {-1, 0}; break;
    case Timeout::kBadPtr: tp = reinterpret_cast<timespec*>(g_guard + 8); break;
  }
  PartnerRun pr = start_partner(x, s, id);
  arm_timer(kCallBoundMs);
  errno = 0;
  int r = s.timeout == Timeout::kNoTimeout ? x.api.semop(id, sp, size_t(s.nsops))
                                           : x.api.semtimedop(id, sp, size_t(s.nsops), tp);
  int e = errno;
  arm_timer(0);
  return result(r, e) + finish_partner(pr);
}

std::string run_semctl(Exec& x, const Step& s) {
  int id = resolve(x, s);
  char* p = pointer(s.ptr, s.cmd == GETALL || s.cmd == SETALL ? 4 : 16);
  unsigned long arg = reinterpret_cast<unsigned long>(p);
  size_t win = 0;
  if (s.cmd == SETVAL) arg = (unsigned long)(unsigned int)int(s.a);
  if (s.cmd == GETVAL || s.cmd == GETPID || s.cmd == GETNCNT || s.cmd == GETZCNT ||
      s.cmd == IPC_RMID || s.cmd == 99)
    arg = 0;
  if (s.ptr == Ptr::kValid || s.ptr == Ptr::kEdge) {
    if (s.cmd == GETALL) {
      win = s.ptr == Ptr::kValid ? 600 : 4;
      memset(p, 0xa5, win);
    } else if (s.cmd == SETALL) {
      auto* v = reinterpret_cast<uint16_t*>(p);
      size_t n = s.ptr == Ptr::kValid ? 300 : 2;
      for (size_t i = 0; i < n; ++i) v[i] = i < s.vals.size() ? s.vals[i] : 1;
    } else if (s.cmd == IPC_STAT) {
      win = s.ptr == Ptr::kValid ? sizeof(semid_ds) : 16;
      memset(p, 0x5a, win);
    } else if (s.cmd == IPC_SET && s.ptr == Ptr::kValid) {
      semid_ds d{};
      d.sem_perm.uid = s.uid;
      d.sem_perm.gid = s.gid;
      d.sem_perm.mode = (unsigned short)s.mode;
      memcpy(p, &d, sizeof d);
    }
  }
  errno = 0;
  int r = x.api.semctl(id, s.semnum, s.cmd, arg);
  int e = errno;
  std::string out = result(r, e);
  if (s.cmd == GETPID && r > 0) out = "pid";  // the owner's dipcd for a remote caller
  if (s.cmd == GETPID && r >= 0 && s.semnum == 0 && s.id == IdRef::kSlot && x.pid0_unchecked[s.slot])
    out = "pid=unchecked";
  if (s.cmd == GETALL && win) out += std::string(" mem=") + hex(fnv(p, win));
  if (s.cmd == IPC_STAT && r >= 0 && s.ptr == Ptr::kValid) {
    semid_ds d;
    memcpy(&d, p, sizeof d);
    out += show_semid(x, d);
  }
  return out;
}

// Whether every semaphore of the set (the first 256) has sempid 0; false when unknown.
bool all_pids_zero(Exec& x, int id) {
  semid_ds d{};
  if (x.api.semctl(id, 0, IPC_STAT, reinterpret_cast<unsigned long>(&d)) < 0) return false;
  for (int i = 0; i < int(std::min<unsigned long>(d.sem_nsems, 256)); ++i)
    if (x.api.semctl(id, i, GETPID, 0) != 0) return false;
  return true;
}

int64_t sem_otime(Exec& x, int id) {
  semid_ds d{};
  if (x.api.semctl(id, 0, IPC_STAT, reinterpret_cast<unsigned long>(&d)) < 0) return -1;
  return d.sem_otime;
}

std::string run_undo_child(Exec& x, const Step& s) {
  int id = x.id[s.slot];
  int before = x.api.semctl(id, s.semnum, GETVAL, 0);
  int64_t otime_before = sem_otime(x, id);
  bool pids_zero = all_pids_zero(x, id);
  pid_t pid = fork();
  if (pid == 0) {
    sembuf b{(unsigned short)s.semnum, short(s.b), SEM_UNDO | IPC_NOWAIT};
    int r = x.api.semop(id, &b, 1);
    _exit(r < 0 ? errno : 0);
  }
  if (pid < 0) return "fork failed";
  int st = 0;
  pid_t w = 0;
  for (int i = 0; i < 3000 && (w = waitpid(pid, &st, WNOHANG)) == 0; ++i) sleep_ms(1);
  if (w == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return "child TIMEOUT";
  }
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 255;
  // Linux gives a process an undo list for the set at its SEM_UNDO call even when the call
  // fails (all but EINVAL), and its exit then sets sem_otime; dipcd does the same for a
  // remote process with a net-zero semop, which gives a semaphore dipcd's pid: when every
  // sempid was 0, semaphore 0's is no longer compared (docs/errors.md).
  bool list = code != EINVAL && code != 255;
  if (code != 0 && list && pids_zero && s.id == IdRef::kSlot) x.pid0_unchecked[s.slot] = true;
  // The kernel undoes at exit, before the parent hears of it; a remote owner hears of the
  // exit from the caller's dipcd a moment later: wait (bounded) for the value to come back,
  // and for sem_otime to be set.
  int v = x.api.semctl(id, s.semnum, GETVAL, 0);
  int64_t otime = sem_otime(x, id);
  for (int i = 0; i < 200 && ((code == 0 && before >= 0 && v != before) ||
                              (list && otime_before == 0 && otime == 0));
       ++i) {
    sleep_ms(5);
    v = x.api.semctl(id, s.semnum, GETVAL, 0);
    otime = sem_otime(x, id);
  }
  std::string out = "child=" + (code ? err_name(code) : std::string("ok")) + " val=" + result(v, errno);
  return out + " otime=" + (otime < 0 ? "?" : set_state(otime));
}

// ---------------------------------------------------------------------------------------
// Shared memory.

// The length of the mapping that starts at p (from /proc/self/maps), 0 if none does.
size_t mapping_length(const void* p) {
  FILE* f = fopen("/proc/self/maps", "re");
  if (!f) return 0;
  char line[512];
  size_t len = 0;
  uintptr_t want = reinterpret_cast<uintptr_t>(p);
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a == want) {
      len = b - a;
      break;
    }
  }
  fclose(f);
  return len;
}

const void* shmat_address(Addr a) {
  switch (a) {
    case Addr::kNull: return nullptr;
    case Addr::kHint: return g_hint;
    case Addr::kHintOdd: return g_hint + 123;
    case Addr::kHintMid: return g_hint + 16384;
    case Addr::kMapped: return g_base + 2 * kPage;
    case Addr::kLow: return reinterpret_cast<void*>(0x10000);
    case Addr::kTop: return reinterpret_cast<void*>(0x7fffffffe000ul);
  }
  return nullptr;
}

std::string run_shmat(Exec& x, const Step& s) {
  int id = resolve(x, s);
  const void* want = shmat_address(s.addr);
  errno = 0;
  void* p = x.api.shmat(id, want, s.flags);
  int e = errno;
  if (p == reinterpret_cast<void*>(-1)) return result(-1, e);
  size_t len = mapping_length(p);
  x.att.push_back({static_cast<char*>(p), len});
  std::string at = "";
  if (want) {
    uintptr_t rounded = reinterpret_cast<uintptr_t>(want) & ~uintptr_t(kPage - 1);
    at = p == want ? " at=addr" : reinterpret_cast<uintptr_t>(p) == rounded ? " at=rounded" : " at=other";
  }
  return "attached" + at + " len=" + std::to_string(len) + " n=" + std::to_string(x.att.size());
}

std::string run_shmdt(Exec& x, const Step& s) {
  size_t i = x.att.empty() ? 0 : size_t(s.semnum) % x.att.size();
  char* start = x.att.empty() ? g_base : x.att[i].addr;
  char* p = start;
  switch (s.dt) {
    case DtAddr::kStart: break;
    case DtAddr::kPlusOne: p = start + 1; break;
    case DtAddr::kInside: p = start + kPage; break;
    case DtAddr::kNotAttached: p = g_base; break;
    case DtAddr::kNull: p = nullptr; break;
  }
  errno = 0;
  int r = x.api.shmdt(p);
  int e = errno;
  if (r == 0 && !x.att.empty() && p == start) {
    size_t len = x.att[i].len;
    x.att.erase(x.att.begin() + long(i));
    reserve_hint(start, len);
  }
  return result(r, e) + " n=" + std::to_string(x.att.size());
}

std::string show_shmid(const Exec& x, const shmid_ds& d) {
  char b[320];
  snprintf(b, sizeof b,
           " key=%s uid=%u gid=%u cuid=%u cgid=%u mode=0%o segsz=%lu nattch=%lu atime=%s "
           "dtime=%s ctime=%s cpid=%s lpid=%s",
           d.shm_perm.__key == IPC_PRIVATE ? "PRIVATE"
                                           : ("+" + std::to_string(d.shm_perm.__key - x.keybase)).c_str(),
           d.shm_perm.uid, d.shm_perm.gid, d.shm_perm.cuid, d.shm_perm.cgid, d.shm_perm.mode,
           (unsigned long)d.shm_segsz, (unsigned long)d.shm_nattch, set_state(d.shm_atime).c_str(),
           set_state(d.shm_dtime).c_str(), set_state(d.shm_ctime).c_str(),
           set_state(d.shm_cpid).c_str(), set_state(d.shm_lpid).c_str());
  return b;
}

std::string run_shmctl(Exec& x, const Step& s) {
  return run_ctl<shmid_ds>(
      x, s,
      [&s](shmid_ds& d) {
        d.shm_perm.uid = s.uid;
        d.shm_perm.gid = s.gid;
        d.shm_perm.mode = (unsigned short)s.mode;
      },
      [&x](int id, int cmd, void* p) { return x.api.shmctl(id, cmd, p); },
      [&x](const shmid_ds& d) { return show_shmid(x, d); });
}

sigjmp_buf g_fault_jmp;
volatile sig_atomic_t g_fault_sig = 0;
void on_fault(int sig) {
  g_fault_sig = sig;
  siglongjmp(g_fault_jmp, 1);
}

// The bytes done and the hash of those read, kept where a fault's siglongjmp leaves them.
volatile size_t g_done = 0;
volatile uint64_t g_hash = 0;

__attribute__((noinline)) void access_bytes(volatile char* base, size_t off, size_t n,
                                            bool write, int seed) {
  for (size_t i = 0; i < n; ++i) {
    if (write)
      base[i] = pattern(int64_t(off + i), seed);
    else
      g_hash = (g_hash ^ static_cast<unsigned char>(base[i])) * 1099511628211ull;
    g_done = i + 1;
  }
}

// Reads or writes through an attachment, within its mapping; a fault (a store through
// SHM_RDONLY) is caught and reported with the offset it came at.
std::string run_shm_access(Exec& x, const Step& s) {
  if (x.att.empty()) return "no attachment";
  auto& a = x.att[size_t(s.semnum) % x.att.size()];
  if (a.len == 0) return "no mapping";
  size_t off = size_t(s.a) < a.len ? size_t(s.a) : a.len - 1;
  size_t n = std::min(size_t(s.b), a.len - off);
  struct sigaction sa {}, old_segv, old_bus;
  sa.sa_handler = on_fault;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
  g_done = 0;
  g_hash = 1469598103934665603ull;
  g_fault_sig = 0;
  if (sigsetjmp(g_fault_jmp, 1) == 0) access_bytes(a.addr + off, off, n, s.flags != 0, x.step_no);
  sigaction(SIGSEGV, &old_segv, nullptr);
  sigaction(SIGBUS, &old_bus, nullptr);
  std::string out = s.flags ? "wrote" : std::string("read ") + hex(g_hash);
  out += " " + std::to_string(size_t(g_done)) + " of " + std::to_string(n);
  if (g_fault_sig) out += g_fault_sig == SIGSEGV ? " SIGSEGV" : g_fault_sig == SIGBUS ? " SIGBUS" : " SIG?";
  return out;
}

std::string run_step(Exec& x, const Step& s) {
  ++x.step_no;
  key_t key = x.keybase + s.slot;
  bool msg = is_msg_slot(s.slot);
  switch (s.type) {
    case Type::kOwnerCreate: return x.owner.create(slot_kind(s.slot), key, int(s.a), s.b);
    case Type::kOwnerRemove: return x.owner.remove(slot_kind(s.slot), key);
    case Type::kOwnerWrite: return x.owner.write(key, s.a, s.b, x.step_no);
    case Type::kShmAt: return run_shmat(x, s);
    case Type::kShmDt: return run_shmdt(x, s);
    case Type::kShmCtl: return run_shmctl(x, s);
    case Type::kShmAccess: return run_shm_access(x, s);
    case Type::kGet: {
      errno = 0;
      int r = msg                    ? x.api.msgget(key, s.flags)
               : is_shm_slot(s.slot) ? x.api.shmget(key, size_t(s.a), s.flags)
                                     : x.api.semget(key, int(s.a), s.flags);
      int e = errno;
      if (r < 0) return result(r, e);
      if (x.id[s.slot] != r) {
        x.stale[s.slot] = x.id[s.slot];
        x.id[s.slot] = r;
      }
      return "id";
    }
    case Type::kMsgSnd: return run_msgsnd(x, s);
    case Type::kMsgRcv: return run_msgrcv(x, s);
    case Type::kMsgCtl: return run_msgctl(x, s);
    case Type::kSemOp: return run_semop(x, s);
    case Type::kSemCtl: return run_semctl(x, s);
    case Type::kSetUser:
      g_nobody = s.a != 0;
      become(g_nobody);
      return "ok";
    case Type::kUndoChild: return run_undo_child(x, s);
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// One side of one script, in a child: its lines come back through a pipe.

enum class Side { kPlain, kDipc };

struct Config {
  uint64_t seed = 1;
  uint64_t scripts = 100;
  int64_t first = -1;  // --script I: only that one
  int time_limit = 60;
  std::string agent;
  bool self_check = false;
  bool inject = false;
  bool verbose = false;
  bool regressions = false;
};
Config g_cfg;
int g_agent_fd = -1;  // the runner's connection to the agent (the agent serves one at a time)

void child_main(Side side, const Script& sc, key_t keybase, int out_fd) {
  install_handlers();
  signal(SIGPIPE, SIG_IGN);  // a partner that has gone must not take the caller with it
  PlainApi plain;
  DipcApi dipc;
  PlainOwner plain_owner;
  AgentOwner agent_owner;
  Api* api = &plain;
  Owner* owner = &plain_owner;
  if (side == Side::kPlain) {
    if (unshare(CLONE_NEWIPC) < 0) {
      dprintf(out_fd, "SETUP unshare(CLONE_NEWIPC): %s\n", strerror(errno));
      _exit(2);
    }
  } else {
    agent_owner.fd = g_agent_fd;  // the runner's connection: it waits while we run
    api = &dipc;
    owner = &agent_owner;
  }
  become(false);
  g_nobody = false;
  Exec x(*api, *owner, keybase);
  for (const Step& s : sc) {
    std::string line = run_step(x, s) + "\n";
    if (write(out_fd, line.data(), line.size()) != ssize_t(line.size())) _exit(2);
  }
  _exit(0);
}

// Runs sc on one side; returns one line per step (fewer if the side died: then the last
// line says how).
std::vector<std::string> run_side(Side side, const Script& sc, key_t keybase) {
  std::vector<std::string> lines;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return {"SETUP pipe failed"};
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return {"SETUP fork failed"};
  if (pid == 0) {
    close(fds[0]);
    child_main(side, sc, keybase, fds[1]);
  }
  close(fds[1]);
  std::string buf;
  int64_t deadline = now_ms() + 60000;
  bool timed_out = false;
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd pf{fds[0], POLLIN, 0};
    int n = poll(&pf, 1, int(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      timed_out = n == 0;
      break;
    }
    char tmp[4096];
    ssize_t k = read(fds[0], tmp, sizeof tmp);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    buf.append(tmp, size_t(k));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  size_t start = 0;
  for (size_t i; (i = buf.find('\n', start)) != std::string::npos; start = i + 1)
    lines.push_back(buf.substr(start, i - start));
  if (timed_out)
    lines.push_back("TIMEOUT (the script took over 60 s)");
  else if (WIFSIGNALED(st))
    lines.push_back("CRASH: killed by signal " + std::to_string(WTERMSIG(st)));
  else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
    lines.push_back("EXIT " + std::to_string(WEXITSTATUS(st)));
  return lines;
}

uint32_t g_runs = 0;
key_t next_keybase() {
  ++g_runs;
  return key_t(0x40000000u | ((uint32_t(getpid()) & 0x3fffu) << 16) | ((g_runs & 0x1fffu) << 3));
}

struct Pair {
  std::vector<std::string> plain, other;
  int diff = -1;           // first differing step, -1 if none
  const char* known = nullptr;  // a documented difference at step known_at (not a failure)
  int known_at = -1;
};

// The differences docs/errors.md documents, recognised by the step, the steps before it and
// the two results. The script is not compared past one (the two sides' states differ from
// there on).
// results: both sides' results of the steps before i (the same on both, up to i).
const char* known_difference(const Script& sc, size_t i, const std::string& plain,
                             const std::string& dipc, const std::vector<std::string>& results) {
  const Step& s = sc[i];
  if (s.type == Type::kShmAt && s.id == IdRef::kSlot && plain == "-1 EINVAL" && dipc != plain) {
    // The owner removed the segment a step or two before, and no other node's call has
    // made this node hear of it yet: it answers as for the segment still there (attached,
    // or the refusal that would then be right, such as EACCES for a caller without
    // permission).
    for (size_t j = i; j-- > 0 && j + 4 > i;) {
      if (sc[j].slot != s.slot) continue;
      if (sc[j].type == Type::kOwnerRemove)
        return "a shmat on another node right after the owner removed the segment may still "
               "attach it (or refuse it as for the segment still there): the removal reaches "
               "that node a moment later (docs/errors.md)";
      if (sc[j].type != Type::kShmAt && sc[j].type != Type::kShmAccess) break;
    }
  }
  // Whether the slot's segment was removed (by the owner or IPC_RMID) since it was made or
  // found. A look-up that failed (ENOENT once the key is gone) leaves the slot's id as it
  // was: the removed segment's.
  auto removed_before = [&sc, i, &s, &results] {
    for (size_t j = i; j-- > 0;) {
      const Step& p = sc[j];
      if (p.slot != s.slot) continue;
      bool found = p.type == Type::kGet && (j >= results.size() || results[j] == "id");
      if (p.type == Type::kOwnerCreate || found) return false;
      if (p.type == Type::kOwnerRemove || (p.type == Type::kShmCtl && p.cmd == IPC_RMID))
        return true;
    }
    return false;
  };
  bool shm_call = s.type == Type::kShmAt || s.type == Type::kShmCtl;
  if (shm_call && s.id == IdRef::kSlot && dipc == "-1 EINVAL" && removed_before())
    return "a segment removed while attached cannot be attached, changed or removed again "
           "by its id (docs/errors.md)";
  if (s.type == Type::kShmCtl && s.cmd == IPC_STAT && s.id == IdRef::kSlot &&
      plain.find(" key=PRIVATE ") != std::string::npos && removed_before())
    return "IPC_STAT of a segment removed while attached is answered by the local kernel "
           "(docs/errors.md)";
  return nullptr;
}

uint64_t g_known = 0;  // documented differences met (each printed)

Pair run_pair(const Script& sc) {
  key_t kb = next_keybase();
  Pair p;
  p.plain = run_side(Side::kPlain, sc, kb);
  if (g_cfg.self_check) {
    p.other = run_side(Side::kPlain, sc, kb);
    if (g_cfg.inject)  // a fake difference: whatever a type-2 message was received with
      for (size_t i = 0; i < p.other.size() && i < sc.size(); ++i)
        if (sc[i].type == Type::kMsgRcv && p.other[i].find(" type=2") != std::string::npos)
          p.other[i] += " INJECTED";
  } else {
    p.other = run_side(Side::kDipc, sc, kb);
    std::string r = ask(g_agent_fd, "clean " + std::to_string(kb));
    if (r != "ok") fprintf(stderr, "difffuzz: agent clean-up of keys %d..: %s\n", kb, r.c_str());
  }
  size_t n = std::max(p.plain.size(), p.other.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string a = i < p.plain.size() ? p.plain[i] : "<none>";
    const std::string b = i < p.other.size() ? p.other[i] : "<none>";
    if (a != b) {
      if (i < sc.size() && !g_cfg.self_check && (p.known = known_difference(sc, i, a, b, p.plain))) {
        p.known_at = int(i);
        break;
      }
      p.diff = int(i);
      break;
    }
  }
  return p;
}

// Drops steps (one at a time, from the end) while a difference remains; bounded.
Script shrink(Script sc, int diff, int64_t deadline) {
  sc.resize(size_t(diff) + 1);
  bool progress = true;
  for (int round = 0; progress && round < 20; ++round) {
    progress = false;
    for (int i = int(sc.size()) - 2; i >= 0; --i) {
      if (now_ms() > deadline) return sc;
      Script cand = sc;
      cand.erase(cand.begin() + i);
      Pair p = run_pair(cand);
      if (p.diff >= 0) {
        cand.resize(size_t(p.diff) + 1);
        sc = cand;
        progress = true;
        if (i > int(sc.size()) - 1) i = int(sc.size()) - 1;
      }
    }
  }
  return sc;
}

void print_pair(const Script& sc, const Pair& p) {
  const char* other = g_cfg.self_check ? "again" : "dipc";
  for (size_t i = 0; i < sc.size(); ++i) {
    const std::string a = i < p.plain.size() ? p.plain[i] : "<none>";
    const std::string b = i < p.other.size() ? p.other[i] : "<none>";
    printf("  %2zu %s%s\n", i + 1, int(i) == p.diff ? "** " : "", describe(sc[i]).c_str());
    if (a == b) {
      printf("       -> %s\n", a.c_str());
    } else {
      printf("       plain -> %s\n", a.c_str());
      printf("       %-5s -> %s\n", other, b.c_str());
    }
  }
  for (size_t i = sc.size(); i < std::max(p.plain.size(), p.other.size()); ++i) {
    printf("       plain -> %s\n", i < p.plain.size() ? p.plain[i].c_str() : "");
    printf("       %-5s -> %s\n", other, i < p.other.size() ? p.other[i].c_str() : "");
  }
}

int cmd_run() {
  if (!g_cfg.self_check) {
    if (g_cfg.agent.empty()) {
      fprintf(stderr, "difffuzz run: --agent PATH or --self-check is needed\n");
      return 2;
    }
    g_agent_fd = connect_unix(g_cfg.agent);
    if (g_agent_fd < 0) {
      fprintf(stderr, "difffuzz run: cannot reach the agent at %s: %s\n", g_cfg.agent.c_str(),
              strerror(errno));
      return 2;
    }
  }
  if (g_cfg.regressions) {
    int failed = 0;
    for (auto& [what, sc] : regressions()) {
      Pair p = run_pair(sc);
      if (p.diff < 0 && !p.known) continue;
      ++failed;
      printf("REGRESSION: %s\n", what);
      print_pair(sc, p);
    }
    printf("difffuzz: %zu regression scripts, %d differ\n", regressions().size(), failed);
    return failed ? 1 : 0;
  }
  int64_t start = now_ms(), deadline = start + int64_t(g_cfg.time_limit) * 1000;
  uint64_t from = g_cfg.first >= 0 ? uint64_t(g_cfg.first) : 0;
  uint64_t to = g_cfg.first >= 0 ? from + 1 : g_cfg.scripts;
  uint64_t ran = 0, steps = 0;
  for (uint64_t n = from; n < to; ++n) {
    if (now_ms() > deadline) {
      printf("difffuzz: time limit of %d s reached\n", g_cfg.time_limit);
      break;
    }
    Script sc = generate(g_cfg.seed, n);
    Pair p = run_pair(sc);
    ++ran;
    steps += sc.size();
    for (auto* side : {&p.plain, &p.other})
      for (auto& l : *side)
        if (l.rfind("SETUP", 0) == 0 || l == "AGENT-LOST") {
          fprintf(stderr, "difffuzz: script %llu: %s\n", (unsigned long long)n, l.c_str());
          return 2;
        }
    if (g_cfg.verbose) {
      printf("script %llu:\n", (unsigned long long)n);
      print_pair(sc, p);
    }
    if (p.known) {
      ++g_known;
      printf("documented difference, rest of the script not compared: seed %llu script %llu "
             "step %d: %s: %s\n",
             (unsigned long long)g_cfg.seed, (unsigned long long)n, p.known_at + 1,
             describe(sc[size_t(p.known_at)]).c_str(), p.known);
    }
    if (p.diff < 0) continue;
    printf("DIFFERENCE: seed %llu script %llu step %d: %s\n", (unsigned long long)g_cfg.seed,
           (unsigned long long)n, p.diff + 1, describe(sc[size_t(p.diff)]).c_str());
    print_pair(sc, p);
    Script small = shrink(sc, p.diff, now_ms() + 120000);
    Pair q = run_pair(small);
    printf("shrunk to %zu steps (difffuzz run --seed %llu --script %llu reproduces it):\n",
           small.size(), (unsigned long long)g_cfg.seed, (unsigned long long)n);
    print_pair(small, q);
    printf("difffuzz: %llu scripts, %llu steps, 1 difference, %.1f s\n",
           (unsigned long long)ran, (unsigned long long)steps, double(now_ms() - start) / 1000);
    return 1;
  }
  printf("difffuzz: %llu scripts, %llu steps, no difference, %llu documented differences "
         "skipped, %.1f s (seed %llu)\n",
         (unsigned long long)ran, (unsigned long long)steps, (unsigned long long)g_known,
         double(now_ms() - start) / 1000, (unsigned long long)g_cfg.seed);
  return 0;
}

// ---------------------------------------------------------------------------------------
// The agent: serves one runner connection at a time.

std::string agent_line(const std::string& line) {
  DipcApi api;
  char kind = 0;
  int key = 0, mode = 0, seed = 0;
  long long size = 0, off = 0;
  if (sscanf(line.c_str(), "create %c %d %d %lld", &kind, &key, &mode, &size) == 4)
    return owner_create(api, kind, key, mode & 0777, size);
  if (sscanf(line.c_str(), "remove %c %d", &kind, &key) == 2) return owner_remove(api, kind, key);
  if (sscanf(line.c_str(), "write %d %lld %lld %d", &key, &off, &size, &seed) == 4)
    return owner_write(api, key, off, size, seed);
  if (sscanf(line.c_str(), "clean %d", &key) == 1) {
    for (int s = 0; s < kSlots; ++s)
      for (char k : {'m', 's', 'h'}) {
        std::string r = owner_remove(api, k, key + s);
        if (r != "ok" && r != "ENOENT") return "clean " + std::to_string(key + s) + ": " + r;
      }
    return "ok";
  }
  return "bad request";
}

int cmd_agent(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof sa.sun_path) return 2;
  strcpy(sa.sun_path, path.c_str());
  unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || listen(fd, 16) < 0) {
    fprintf(stderr, "difffuzz agent: %s: %s\n", path.c_str(), strerror(errno));
    return 2;
  }
  chmod(path.c_str(), 0666);
  // Bounded: an agent nobody talks to for 10 minutes ends.
  for (;;) {
    pollfd pf{fd, POLLIN, 0};
    if (poll(&pf, 1, 600000) <= 0) return 0;
    int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::string line;
    char ch;
    for (;;) {
      pollfd cp{c, POLLIN, 0};
      if (poll(&cp, 1, 600000) <= 0) break;
      ssize_t n = recv(c, &ch, 1, 0);
      if (n <= 0) break;
      if (ch != '\n') {
        if (line.size() < 256) line += ch;
        continue;
      }
      std::string out = agent_line(line) + "\n";
      line.clear();
      if (send(c, out.data(), out.size(), MSG_NOSIGNAL) < 0) break;
    }
    close(c);
  }
}

int usage() {
  fprintf(stderr,
          "usage: difffuzz agent --socket PATH\n"
          "       difffuzz run --seed S [--scripts N] [--time-limit SEC] (--agent PATH | "
          "--self-check [--inject]) [--script I] [--verbose] [--regressions]\n"
          "       difffuzz show --seed S --script I\n");
  return 2;
}

}  // namespace
}  // namespace difffuzz

int main(int argc, char** argv) {
  using namespace difffuzz;
  if (argc < 2) return usage();
  std::string cmd = argv[1], socket_path;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--seed") g_cfg.seed = strtoull(val().c_str(), nullptr, 0);
    else if (a == "--scripts") g_cfg.scripts = strtoull(val().c_str(), nullptr, 0);
    else if (a == "--script") g_cfg.first = strtoll(val().c_str(), nullptr, 0);
    else if (a == "--time-limit") g_cfg.time_limit = atoi(val().c_str());
    else if (a == "--agent") g_cfg.agent = val();
    else if (a == "--socket") socket_path = val();
    else if (a == "--self-check") g_cfg.self_check = true;
    else if (a == "--inject") g_cfg.inject = true;
    else if (a == "--verbose") g_cfg.verbose = true;
    else if (a == "--regressions") g_cfg.regressions = true;
    else return usage();
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (cmd == "agent") return socket_path.empty() ? usage() : cmd_agent(socket_path);
  if (cmd == "show") {
    Script sc = generate(g_cfg.seed, uint64_t(std::max<int64_t>(g_cfg.first, 0)));
    for (size_t i = 0; i < sc.size(); ++i) printf("%2zu %s\n", i + 1, describe(sc[i]).c_str());
    return 0;
  }
  if (cmd != "run") return usage();
  if (!map_arena()) {
    fprintf(stderr, "difffuzz: cannot map its memory\n");
    return 2;
  }
  return cmd_run();
}
