/* tput: throughput of remote DIPC calls from K processes at once, against K processes doing
 * request/response over raw TCP to one server, and a probe of the owner node's own calls
 * while it serves them (bench/run.sh, section "throughput"; docs/benchmarks.md).
 *
 * A plain libc program: run it with the shim (dipc cluster exec) for the DIPC modes.
 *
 * Measuring modes (fork K workers, time calls per second of all of them together):
 *   tput msg --procs K --key B [--many] [--size N] [timing]
 *       Each worker loops msgsnd(IPC_NOWAIT) of N bytes: to queue B (all workers), or with
 *       --many worker i to queue B+i. The queues are made elsewhere (tput make-msg) and
 *       looked up by key (msgget(key, IPC_DIPC), retried for up to 10 s); a drainer (tput
 *       drain) empties them at the owner. A send answered EAGAIN (queue full) is a call
 *       made but is not counted; the program prints how many there were.
 *   tput sem --procs K --key B [timing]
 *       Worker i loops semop P then V (one sembuf each, no flags) on semaphore 0 of set B+i
 *       (made elsewhere, tput make-sem, value 1). Counts semop calls.
 *   tput tcp --procs K --port P [--size N] [timing]
 *       Worker i connects to 127.0.0.1:P and loops write(N) + read(N) (TCP_NODELAY).
 * Workers run only during a timed slice (they wait on a futex in shared memory between
 * slices, so that two programs taking turns never run at once). Output:
 *       median_cps X min_cps Y max_cps Z reps R calls C eagain E
 *       slice T0 T1     (one per repetition: CLOCK_MONOTONIC ns, for tput probe)
 *
 * Helpers:
 *   tput tcp-serve --portfile F [--size N] [--limit S]
 *       One thread, epoll: accepts connections on 127.0.0.1 (port written to F, atomically)
 *       and echoes each N-byte request; ends when every connection it had has closed.
 *   tput make-msg --key B --n N      creates queues B..B+N-1 (IPC_CREAT|IPC_EXCL|IPC_DIPC)
 *   tput make-sem --key B --n N      creates sets B..B+N-1 (one semaphore, value 1)
 *   tput get-msg --key B --n N       looks queues B..B+N-1 up (msgget(key, IPC_DIPC)): for
 *                                    objects owned elsewhere, a referee look-up, a check at
 *                                    the owner and a placeholder here
 *       (make-*, get-msg print "elapsed_us X n N": the time of the N calls)
 *   tput rm-msg|rm-sem --key B --n N removes them
 *   tput drain --key B --n N         forks one process per queue B..B+N-1 that receives
 *                                    until its queue is removed (EIDRM/EINVAL)
 *   tput probe --key B --stop F [--idle-ms MS] [--ready R] [--limit S]
 *       The owner's own calls: a P+V on its distributed set B (made here, removed at the
 *       end) every 500 us, each timed; first for --idle-ms (prints "idle_us X", the mean
 *       time of one semop), then creates R and records every P+V until the file F exists;
 *       prints "sample T D" lines (T: CLOCK_MONOTONIC ns at its end, D: its ns). bench/run.sh
 *       joins them with the slices above.
 *
 * Timing options (benchutil.h): --warm MS --dur MS --reps R --limit S, --turn-in FIFO
 * --turn-out FIFO (take turns with another benchmark). Bounds: K <= 256 workers, N <= 65536
 * bytes, at most 600,000 probe samples (10 minutes). */
#include "benchutil.h"

#include <arpa/inet.h>
#include <limits.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dipc/dipc.h>

#define MAX_PROCS 256
#define MAX_SIZE 65536
#define MAX_SAMPLES 600000

struct slot {
  uint64_t calls;
  uint64_t eagain;
  uint32_t parked;
  char pad[44];
};

struct shared {
  uint32_t go;   /* futex: 1 while workers may run, 2: quit */
  char pad[60];
  struct slot s[MAX_PROCS];
};

static struct shared* g_sh;
static const char* g_mode;
static int g_key = 0x54500000, g_procs = 1, g_many = 0, g_port = -1;
static size_t g_size = 8;

static void fwait(uint32_t* w, uint32_t v) { syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0); }
static void fwake(uint32_t* w) { syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0); }

struct msgbuf8 {
  long mtype;
  char mtext[MAX_SIZE];
};
static struct msgbuf8 g_msg;

static int retry_get(int kind, int key) {
  for (int i = 0; i < 1000; ++i) {
    int id = kind == 'm' ? msgget(key, IPC_DIPC) : semget(key, 1, IPC_DIPC);
    if (id >= 0) return id;
    if (errno != ENOENT) bu_die("get(%d, IPC_DIPC): %s", key, strerror(errno));
    usleep(10000);
  }
  bu_die("object %d never appeared", key);
  return -1;
}

static int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr*)&sa, sizeof sa) != 0)
    bu_die("connect 127.0.0.1:%d: %s", port, strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int io_all(int fd, char* p, size_t n, int wr) {
  while (n > 0) {
    ssize_t r = wr ? write(fd, p, n) : read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* One worker: sets up its object or connection, then runs calls while go == 1. */
static void worker(int i) {
  struct slot* me = &g_sh->s[i];
  int id = -1, fd = -1;
  static char buf[MAX_SIZE];
  if (!strcmp(g_mode, "msg")) id = retry_get('m', g_key + (g_many ? i : 0));
  else if (!strcmp(g_mode, "sem")) id = retry_get('s', g_key + i);
  else fd = tcp_connect(g_port);
  g_msg.mtype = 1;
  memset(g_msg.mtext, 'x', g_size);
  memset(buf, 'x', g_size);
  for (;;) {
    uint32_t go = __atomic_load_n(&g_sh->go, __ATOMIC_ACQUIRE);
    if (go == 2) break;
    if (go == 0) {
      __atomic_store_n(&me->parked, 1, __ATOMIC_RELEASE);
      fwait(&g_sh->go, 0);
      continue;
    }
    __atomic_store_n(&me->parked, 0, __ATOMIC_RELEASE);
    if (fd >= 0) {
      if (io_all(fd, buf, g_size, 1) || io_all(fd, buf, g_size, 0)) bu_die("tcp: %s", strerror(errno));
      __atomic_store_n(&me->calls, me->calls + 1, __ATOMIC_RELAXED);
    } else if (!strcmp(g_mode, "msg")) {
      if (msgsnd(id, &g_msg, g_size, IPC_NOWAIT) == 0)
        __atomic_store_n(&me->calls, me->calls + 1, __ATOMIC_RELAXED);
      else if (errno == EAGAIN)
        __atomic_store_n(&me->eagain, me->eagain + 1, __ATOMIC_RELAXED);
      else bu_die("msgsnd: %s", strerror(errno));
    } else {
      struct sembuf p = {0, -1, 0}, v = {0, 1, 0};
      if (semop(id, &p, 1) != 0 || semop(id, &v, 1) != 0) bu_die("semop: %s", strerror(errno));
      __atomic_store_n(&me->calls, me->calls + 2, __ATOMIC_RELAXED);
    }
  }
  if (fd >= 0) close(fd);
  _exit(0);
}

static uint64_t sum_calls(uint64_t* eagain) {
  uint64_t c = 0, e = 0;
  for (int i = 0; i < g_procs; ++i) {
    c += __atomic_load_n(&g_sh->s[i].calls, __ATOMIC_RELAXED);
    e += __atomic_load_n(&g_sh->s[i].eagain, __ATOMIC_RELAXED);
  }
  if (eagain) *eagain = e;
  return c;
}

static void set_go(uint32_t v) {
  __atomic_store_n(&g_sh->go, v, __ATOMIC_RELEASE);
  fwake(&g_sh->go);
}

static pid_t g_kids[MAX_PROCS];

/* Waits (bounded: 10 s) until every worker is parked between calls; dies at once when a
 * worker has ended (it failed: it said why on stderr). */
static void wait_parked(void) {
  for (int t = 0; t < 10000; ++t) {
    for (int i = 0; i < g_procs; ++i) {
      int st;
      if (waitpid(g_kids[i], &st, WNOHANG) == g_kids[i]) bu_die("worker %d ended early", i);
    }
    int all = 1;
    for (int i = 0; i < g_procs && all; ++i)
      all = __atomic_load_n(&g_sh->s[i].parked, __ATOMIC_ACQUIRE) == 1;
    if (all) return;
    usleep(1000);
  }
  bu_die("workers did not stop within 10 s");
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int measure_tput(const struct bu_opts* o) {
  g_sh = mmap(NULL, sizeof *g_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (g_sh == MAP_FAILED) bu_die("mmap: %s", strerror(errno));
  pid_t* kids = g_kids;
  pid_t parent = getpid();
  for (int i = 0; i < g_procs; ++i) {
    kids[i] = fork();
    if (kids[i] < 0) bu_die("fork: %s", strerror(errno));
    if (kids[i] == 0) {
      /* a worker never outlives the measuring process (which has the alarm) */
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      bu_pin(o->cpu2);
      worker(i);
    }
  }
  bu_pin(o->cpu);
  /* every worker set up (connected, object found) and parked */
  wait_parked();
  double per[BU_MAX_REPS];
  uint64_t t0s[BU_MAX_REPS], t1s[BU_MAX_REPS];
  bu_turn_wait(o);
  set_go(1);
  sleep_ms(o->warm_ms);
  for (int r = 0; r < o->reps; ++r) {
    if (o->in_fd >= 0 && r > 0) {
      set_go(0);
      wait_parked();
      bu_turn_pass(o);
      bu_turn_wait(o);
      set_go(1);
      sleep_ms(10); /* the workers wake and get going again */
    }
    uint64_t c0 = sum_calls(NULL), t0 = bu_now_ns();
    sleep_ms(o->dur_ms);
    uint64_t c1 = sum_calls(NULL), t1 = bu_now_ns();
    per[r] = (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
    t0s[r] = t0;
    t1s[r] = t1;
  }
  set_go(0);
  wait_parked();
  bu_turn_pass(o);
  uint64_t eagain, calls = sum_calls(&eagain);
  set_go(2);
  int bad = 0;
  for (int i = 0; i < g_procs; ++i) {
    int st = 0;
    waitpid(kids[i], &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad = 1;
  }
  double sorted[BU_MAX_REPS];
  memcpy(sorted, per, sizeof(double) * (size_t)o->reps);
  qsort(sorted, (size_t)o->reps, sizeof(double), bu_cmp_double);
  double med = (o->reps % 2) ? sorted[o->reps / 2]
                             : (sorted[o->reps / 2 - 1] + sorted[o->reps / 2]) / 2.0;
  printf("median_cps %.0f min_cps %.0f max_cps %.0f reps %d calls %llu eagain %llu\n", med,
         sorted[0], sorted[o->reps - 1], o->reps, (unsigned long long)calls,
         (unsigned long long)eagain);
  for (int r = 0; r < o->reps; ++r)
    printf("slice %llu %llu\n", (unsigned long long)t0s[r], (unsigned long long)t1s[r]);
  fflush(stdout);
  return bad;
}

/* ---- tcp-serve ---- */
struct conn {
  int fd;
  size_t fill;
  char buf[MAX_SIZE];
};

static int serve(const char* portfile) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (ls < 0 || bind(ls, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(ls, 512) != 0 ||
      getsockname(ls, (struct sockaddr*)&sa, &len) != 0)
    bu_die("listen: %s", strerror(errno));
  bu_write_portfile(portfile, ntohs(sa.sin_port));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) != 0) bu_die("epoll: %s", strerror(errno));
  int open_conns = 0, had = 0;
  struct epoll_event evs[64];
  while (!had || open_conns > 0) {
    int n = epoll_wait(ep, evs, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) bu_die("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; ++i) {
      struct conn* c = evs[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          if (open_conns >= MAX_PROCS) {
            close(fd);
            continue;
          }
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          c = calloc(1, sizeof *c);
          if (c == NULL) bu_die("out of memory");
          c->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) != 0) bu_die("epoll_ctl: %s", strerror(errno));
          ++open_conns;
          had = 1;
        }
        continue;
      }
      for (;;) {
        ssize_t r = read(c->fd, c->buf + c->fill, g_size - c->fill);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) {
          close(c->fd); /* also leaves the epoll set */
          free(c);
          --open_conns;
          break;
        }
        c->fill += (size_t)r;
        if (c->fill < g_size) continue;
        c->fill = 0;
        size_t off = 0;
        while (off < g_size) { /* a reply never blocks for long: the client reads it next */
          ssize_t w = write(c->fd, c->buf + off, g_size - off);
          if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
            poll(&pf, 1, 1000);
            continue;
          }
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) break;
          off += (size_t)w;
        }
      }
    }
  }
  return 0;
}

/* ---- probe ---- */
/* One P+V every 500 us, each timed on its own (the gaps keep the probe from taking a CPU
 * of its own away from what it watches). */
static uint64_t probe_once(int id) {
  struct sembuf p = {0, -1, 0}, v = {0, 1, 0};
  uint64_t t0 = bu_now_ns();
  if (semop(id, &p, 1) != 0 || semop(id, &v, 1) != 0) bu_die("semop: %s", strerror(errno));
  uint64_t t1 = bu_now_ns();
  struct timespec gap = {0, 500000};
  nanosleep(&gap, NULL);
  return t1 - t0;
}

static int probe(int key, int idle_ms, const char* ready, const char* stop) {
  static uint64_t st[MAX_SAMPLES], sd[MAX_SAMPLES];
  int id = semget(key, 1, IPC_CREAT | IPC_EXCL | 0600 | IPC_DIPC);
  if (id < 0) bu_die("semget(%d, IPC_CREAT|IPC_EXCL|IPC_DIPC): %s", key, strerror(errno));
  union {
    int val;
  } arg = {.val = 1};
  if (semctl(id, 0, SETVAL, arg) != 0) bu_die("semctl SETVAL: %s", strerror(errno));
  uint64_t n = 0, sum = 0, end = bu_now_ns() + (uint64_t)idle_ms * 1000000ull;
  while (bu_now_ns() < end) {
    sum += probe_once(id);
    ++n;
  }
  printf("idle_us %.3f\n", n ? (double)sum / 1000.0 / 2.0 / (double)n : 0.0);
  fflush(stdout);
  if (ready) {
    FILE* f = fopen(ready, "w");
    if (f) fclose(f);
  }
  size_t ns = 0;
  while (ns < MAX_SAMPLES) {
    sd[ns] = probe_once(id);
    st[ns] = bu_now_ns();
    ++ns;
    if ((ns & 63) == 0 && access(stop, F_OK) == 0) break;
  }
  semctl(id, 0, IPC_RMID);
  for (size_t i = 0; i < ns; ++i)
    printf("sample %llu %llu\n", (unsigned long long)st[i], (unsigned long long)sd[i]);
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: tput msg --procs K --key B [--many] [--size N] [timing]\n"
          "       tput sem --procs K --key B [timing]\n"
          "       tput tcp --procs K --port P [--size N] [timing]\n"
          "       tput tcp-serve --portfile F [--size N] [--limit S]\n"
          "       tput make-msg|make-sem|get-msg|rm-msg|rm-sem|drain --key B --n N\n"
          "       tput probe --key B --stop F [--idle-ms MS] [--ready R] [--limit S]\n");
  exit(2);
}

int main(int argc, char** argv) {
  if (argc < 2) usage();
  g_mode = argv[1];
  struct bu_opts o;
  bu_defaults(&o);
  const char *portfile = NULL, *ready = NULL, *stop = NULL;
  int n = 1, idle_ms = 500;
  long size = 8;
  for (int i = 2; i < argc; ++i) {
    if (bu_common_opt(&o, argc, argv, &i)) continue;
    const char* a = argv[i];
    if (!strcmp(a, "--many")) {
      g_many = 1;
      continue;
    }
    if (i + 1 >= argc) usage();
    if (!strcmp(a, "--procs")) g_procs = bu_int(argv[++i], a);
    else if (!strcmp(a, "--key")) g_key = bu_int(argv[++i], a);
    else if (!strcmp(a, "--size")) size = bu_int(argv[++i], a);
    else if (!strcmp(a, "--port")) g_port = bu_int(argv[++i], a);
    else if (!strcmp(a, "--portfile")) portfile = argv[++i];
    else if (!strcmp(a, "--n")) n = bu_int(argv[++i], a);
    else if (!strcmp(a, "--idle-ms")) idle_ms = bu_int(argv[++i], a);
    else if (!strcmp(a, "--ready")) ready = argv[++i];
    else if (!strcmp(a, "--stop")) stop = argv[++i];
    else usage();
  }
  if (size < 1 || size > MAX_SIZE) bu_die("--size must be 1..%d", MAX_SIZE);
  if (g_procs < 1 || g_procs > MAX_PROCS) bu_die("--procs must be 1..%d", MAX_PROCS);
  if (n < 1 || n > 65536) bu_die("--n must be 1..65536");
  g_size = (size_t)size;
  bu_check(&o);
  signal(SIGPIPE, SIG_IGN);
  if (!strcmp(g_mode, "msg") || !strcmp(g_mode, "sem")) return measure_tput(&o);
  if (!strcmp(g_mode, "tcp")) {
    if (g_port <= 0) usage();
    return measure_tput(&o);
  }
  if (!strcmp(g_mode, "tcp-serve")) {
    if (portfile == NULL) usage();
    return serve(portfile);
  }
  if (!strcmp(g_mode, "probe")) {
    if (stop == NULL) usage();
    return probe(g_key, idle_ms, ready, stop);
  }
  if (!strcmp(g_mode, "get-msg")) {
    uint64_t t0 = bu_now_ns();
    for (int i = 0; i < n; ++i)
      if (msgget(g_key + i, IPC_DIPC) < 0) bu_die("msgget(%d, IPC_DIPC): %s", g_key + i, strerror(errno));
    printf("elapsed_us %.0f n %d\n", (double)(bu_now_ns() - t0) / 1000.0, n);
    return 0;
  }
  if (!strcmp(g_mode, "make-msg") || !strcmp(g_mode, "make-sem")) {
    int m = g_mode[5] == 'm';
    uint64_t t0 = bu_now_ns();
    for (int i = 0; i < n; ++i) {
      int id = m ? msgget(g_key + i, IPC_CREAT | IPC_EXCL | 0600 | IPC_DIPC)
                 : semget(g_key + i, 1, IPC_CREAT | IPC_EXCL | 0600 | IPC_DIPC);
      if (id < 0) bu_die("create %d: %s", g_key + i, strerror(errno));
      if (!m) {
        union {
          int val;
        } arg = {.val = 1};
        if (semctl(id, 0, SETVAL, arg) != 0) bu_die("semctl SETVAL: %s", strerror(errno));
      }
    }
    printf("elapsed_us %.0f n %d\n", (double)(bu_now_ns() - t0) / 1000.0, n);
    return 0;
  }
  if (!strcmp(g_mode, "rm-msg") || !strcmp(g_mode, "rm-sem")) {
    int m = g_mode[3] == 'm', bad = 0;
    for (int i = 0; i < n; ++i) {
      int id = m ? msgget(g_key + i, IPC_DIPC) : semget(g_key + i, 1, IPC_DIPC);
      if (id < 0 || (m ? msgctl(id, IPC_RMID, NULL) : semctl(id, 0, IPC_RMID)) != 0) bad = 1;
    }
    return bad;
  }
  if (!strcmp(g_mode, "drain")) {
    for (int i = 0; i < n; ++i) {
      pid_t c = fork();
      if (c < 0) bu_die("fork: %s", strerror(errno));
      if (c == 0) {
        int id = retry_get('m', g_key + i);
        for (;;) {
          if (msgrcv(id, &g_msg, sizeof g_msg.mtext, 0, 0) < 0 && errno != EINTR) _exit(0);
        }
      }
    }
    int st, bad = 0;
    while (wait(&st) > 0)
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad = 1;
    return bad;
  }
  usage();
  return 2;
}
