/* shimcheck: programs for the shim tests (tests/shim/NAME.sh).
 *
 *   shimcheck whoami            prints which object msgget comes from ("msgget from
 *                               libdipc.so" or "... from libc.so.6") and "no-cxx-runtime"
 *                               unless libstdc++ or libgcc_s is mapped in the process.
 *   shimcheck local             exercises every System V call on local objects (queues, sets,
 *                               segments; blocking calls, signals, fork, every semctl and
 *                               msgctl/shmctl command) and prints one line per step with
 *                               nothing that may differ between runs (no ids, pids, times),
 *                               so its output with the shim preloaded must equal its output
 *                               without. Run it in a fresh IPC namespace.
 *   shimcheck flagstrip KEY     installs a seccomp filter that fails msgget/semget/shmget
 *                               with ENOTRECOVERABLE when the IPC_DIPC bit (SHM_NORESERVE
 *                               for shmget) reaches the kernel, then calls all three with
 *                               IPC_DIPC|IPC_CREAT|0600 on KEY and uses the objects.
 *   shimcheck stalesock PATH    leaves a Unix socket file at PATH with nobody listening, as
 *                               a dipcd that was killed leaves its dipcd.sock.
 *   shimcheck mktable PATH KIND ID FLAGS [KIND ID FLAGS...]
 *                               writes a dipcd id table (proto/id_table.h) holding those
 *                               entries (KIND msg|sem|shm), as a dead dipcd leaves it; KIND
 *                               "keys" adds the key range ID-FLAGS to the table's key rules,
 *                               "allkeyed" (with any two numbers) sets all_keyed.
 *
 * Remote-object scenarios (run on a node that does not own queue KEY; the queue must exist
 * and be empty; each checks in the local kernel that its placeholder stays empty, so the
 * calls really went to the owner):
 *   shimcheck forks KEY NCHILD NMSG      the parent talks to dipcd, then forks NCHILD children
 *                               that each do NMSG msgsnd/msgrcv pairs (own type) while the
 *                               parent does its own; every message counted.
 *   shimcheck threads KEY NTHREADS ROUNDS   NTHREADS threads block in msgrcv at once, then
 *                               pass messages round a ring (each thread its own type).
 *   shimcheck threadids KEY     run as root; queue KEY is daemon's (uid 1), mode 0600. The
 *                               main thread becomes daemon, a second thread makes a call
 *                               as daemon, then changes its own effective ids only (raw
 *                               setresuid/setresgid) to nobody: its call fails with EACCES
 *                               at the owner while the main thread's goes through; then
 *                               the other way round.
 *   shimcheck closefds KEY      closes every descriptor 3..1023 between remote calls.
 *   shimcheck dupfds KEY FILE   after a remote call, dup2s FILE onto every descriptor
 *                               3..1023, calls again, checks that every one still is FILE.
 *   shimcheck dupsock KEY       the same with one end of a socket pair instead of a file: the
 *                               other end must receive nothing.
 *   shimcheck forkdup KEY FILE  the same in a forked child (the parent talked to dipcd).
 *   shimcheck threadexit KEY FILE   a thread talks to dipcd; the program then dup2s FILE onto
 *                               every descriptor 3..1023; the thread exits: no descriptor of
 *                               the program may be closed by that.
 *
 * Every scenario is bounded by alarm(). Exit status: 0 and a last line "... OK" on success;
 * 1 with a "FAIL: ..." line on stderr otherwise; 2 on bad usage; 3 on time-out. */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 1024 /* the scenarios touch descriptors 3..MAXFD-1 */

union semun {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
  struct seminfo* __buf;
};

struct msg {
  long mtype;
  char mtext[256];
};

#include "errname.h"

static void on_alarm(int sig) {
  (void)sig;
  static const char m[] = "shimcheck: TIMEOUT\n";
  if (write(2, m, sizeof m - 1) < 0) _exit(3);
  _exit(3);
}

static void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "shimcheck: FAIL: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static long num(const char* s) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 0);
  if (errno || end == s || *end) {
    fprintf(stderr, "shimcheck: bad number %s\n", s);
    exit(2);
  }
  return v;
}

static void sleep_ms(long ms) {
  struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&d, &d) < 0 && errno == EINTR) {
  }
}

/* ------------------------------------------------------------------------------------ */
/* local: the pass-through exercise                                                      */

static int step_no;

/* One output line: "NN what = r" or "NN what = -1 ERRNO". */
static void res(const char* what, long r, int e) {
  step_no++;
  if (r < 0)
    printf("%02d %s = %ld %s\n", step_no, what, r, errname(e));
  else
    printf("%02d %s = %ld\n", step_no, what, r);
}
#define RES(what, expr)       \
  do {                        \
    errno = 0;                \
    long r_ = (long)(expr);   \
    res(what, r_, errno);     \
  } while (0)

static void line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  step_no++;
  printf("%02d ", step_no);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

/* Waits (bounded: 5 s) until process pid sleeps in system call nr, as /proc shows it. */
static void await_syscall(pid_t pid, long nr) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
  for (int i = 0; i < 500; i++) {
    FILE* f = fopen(path, "r");
    if (f) {
      long got = -1;
      int n = fscanf(f, "%ld", &got);
      fclose(f);
      if (n == 1 && got == nr) {
        sleep_ms(20); /* the call is in the kernel; let it reach its wait */
        return;
      }
    }
    sleep_ms(10);
  }
  fail("process %d never blocked in system call %ld", (int)pid, nr);
}

/* The exit code of child pid (waits, bounded by the alarm). */
static int child_status(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) fail("waitpid: %s", strerror(errno));
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

static volatile sig_atomic_t got_sig;
static void on_usr1(int sig) {
  (void)sig;
  got_sig = 1;
}

/* A child's result travels as its exit code: the errno of the call, 0 on success. */
static int code_of(long r) { return r < 0 ? (errno & 0x7f) : 0; }

static void local_msg(void) {
  struct msg m, r;
  struct msqid_ds ds;
  int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  RES("msgget private", q >= 0 ? 0 : -1);
  int k = msgget(0x5c01, IPC_CREAT | IPC_EXCL | 0640);
  RES("msgget key create", k >= 0 ? 0 : -1);
  RES("msgget key again", msgget(0x5c01, 0) == k ? 0 : -1);
  RES("msgget key excl", msgget(0x5c01, IPC_CREAT | IPC_EXCL | 0640));
  RES("msgget missing", msgget(0x5c02, 0));
  RES("msgget flag bits ignored", msgget(0x5c01, 0600 | IPC_CREAT) == k ? 0 : -1);
  const char* texts[] = {"one", "two", "three", "four", "five"};
  long types[] = {3, 1, 2, 1, 5};
  for (int i = 0; i < 5; i++) {
    m.mtype = types[i];
    strcpy(m.mtext, texts[i]);
    char what[64];
    snprintf(what, sizeof what, "msgsnd type %ld", types[i]);
    RES(what, msgsnd(q, &m, strlen(texts[i]) + 1, 0));
  }
  errno = 1234;
  int rc = msgctl(q, IPC_STAT, &ds);
  line("msgctl stat = %d, errno after success %d", rc, errno);
  line("stat mode %o qnum %lu cbytes %lu qbytes %lu lspid-self %d lrpid %d uid %u cuid %u",
       ds.msg_perm.mode, (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes,
       (unsigned long)ds.msg_qbytes, ds.msg_lspid == getpid(), (int)ds.msg_lrpid,
       (unsigned)ds.msg_perm.uid, (unsigned)ds.msg_perm.cuid);
  ssize_t n;
  memset(&r, 0, sizeof r);
  n = msgrcv(q, &r, sizeof r.mtext, 1, 0);
  line("msgrcv type 1 = %zd %ld %s", n, r.mtype, r.mtext);
  n = msgrcv(q, &r, sizeof r.mtext, -2, 0);
  line("msgrcv type -2 = %zd %ld %s", n, r.mtype, r.mtext);
  n = msgrcv(q, &r, sizeof r.mtext, 3, MSG_EXCEPT);
  line("msgrcv except 3 = %zd %ld %s", n, r.mtype, r.mtext);
  RES("msgrcv too small", msgrcv(q, &r, 2, 0, 0));
  memset(&r, 0, sizeof r);
  n = msgrcv(q, &r, 2, 0, MSG_NOERROR);
  line("msgrcv noerror = %zd %ld %.2s", n, r.mtype, r.mtext);
  n = msgrcv(q, &r, sizeof r.mtext, 0, 0);
  line("msgrcv type 0 = %zd %ld %s", n, r.mtype, r.mtext);
  RES("msgrcv empty nowait", msgrcv(q, &r, sizeof r.mtext, 0, IPC_NOWAIT));
  RES("msgrcv copy", msgrcv(q, &r, sizeof r.mtext, 0, IPC_NOWAIT | MSG_COPY));
  m.mtype = 0;
  RES("msgsnd type 0", msgsnd(q, &m, 4, 0));
  m.mtype = 1;
  RES("msgsnd size -1", msgsnd(q, &m, (size_t)-1, 0));
  RES("msgrcv bad id", msgrcv(0x7ffffff0, &r, 8, 0, IPC_NOWAIT));
  RES("msgsnd bad id", msgsnd(0x7ffffff0, &m, 8, 0));
  RES("msgctl bad id", msgctl(0x7ffffff0, IPC_STAT, &ds));
  RES("msgctl bad cmd", msgctl(q, 4711, &ds));
  /* IPC_SET: mode and a small qbytes, then a full queue. */
  msgctl(q, IPC_STAT, &ds);
  ds.msg_perm.mode = 0640;
  ds.msg_qbytes = 20;
  RES("msgctl set", msgctl(q, IPC_SET, &ds));
  msgctl(q, IPC_STAT, &ds);
  line("after set mode %o qbytes %lu", ds.msg_perm.mode, (unsigned long)ds.msg_qbytes);
  memset(m.mtext, 'x', sizeof m.mtext);
  m.mtype = 9;
  RES("msgsnd fill", msgsnd(q, &m, 16, 0));
  RES("msgsnd full nowait", msgsnd(q, &m, 16, IPC_NOWAIT));
  /* A child blocks on the full queue; receiving unblocks it. */
  pid_t c = fork();
  if (c == 0) {
    alarm(10);
    _exit(code_of(msgsnd(q, &m, 16, 0)));
  }
  await_syscall(c, SYS_msgsnd);
  n = msgrcv(q, &r, sizeof r.mtext, 9, 0);
  line("msgrcv unblocks sender = %zd, child %d", n, child_status(c));
  RES("msgrcv child's message", msgrcv(q, &r, sizeof r.mtext, 9, IPC_NOWAIT));
  /* A child blocks in msgrcv; a message wakes it. */
  c = fork();
  if (c == 0) {
    alarm(10);
    ssize_t got = msgrcv(q, &r, sizeof r.mtext, 77, 0);
    _exit(got == 5 && strcmp(r.mtext, "wake") == 0 ? 0 : 100 + code_of(got));
  }
  await_syscall(c, SYS_msgrcv);
  m.mtype = 77;
  strcpy(m.mtext, "wake");
  RES("msgsnd wakes receiver", msgsnd(q, &m, 5, 0));
  line("receiver child %d", child_status(c));
  /* A blocked msgrcv interrupted by a handler returns EINTR. */
  c = fork();
  if (c == 0) {
    alarm(10);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART; /* System V IPC calls are never restarted anyway */
    sigaction(SIGUSR1, &sa, NULL);
    ssize_t got = msgrcv(q, &r, sizeof r.mtext, 78, 0);
    _exit(got < 0 && errno == EINTR && got_sig ? 0 : 100 + code_of(got));
  }
  await_syscall(c, SYS_msgrcv);
  kill(c, SIGUSR1);
  line("interrupted receiver child %d", child_status(c));
  /* IPC_INFO, MSG_INFO, MSG_STAT, MSG_STAT_ANY. */
  struct msginfo mi;
  RES("msgctl ipc_info >= 0", msgctl(0, IPC_INFO, (struct msqid_ds*)&mi) >= 0 ? 0 : -1);
  line("msginfo msgmax %d msgmnb %d msgmni %d", mi.msgmax, mi.msgmnb, mi.msgmni);
  memset(&mi, 0, sizeof mi);
  int maxidx = msgctl(0, MSG_INFO, (struct msqid_ds*)&mi);
  line("msg_info ret %d msgpool %d msgmap %d", maxidx, mi.msgpool, mi.msgmap);
  int found = 0;
  for (int i = 0; i <= maxidx && i < 64; i++) {
    int id = msgctl(i, MSG_STAT, &ds);
    if (id == q || id == k) found++;
  }
  line("msg_stat finds %d", found);
#ifdef MSG_STAT_ANY
  found = 0;
  for (int i = 0; i <= maxidx && i < 64; i++) {
    int id = msgctl(i, MSG_STAT_ANY, &ds);
    if (id == q || id == k) found++;
  }
  line("msg_stat_any finds %d", found);
#endif
  /* IPC_RMID wakes a blocked receiver with EIDRM. */
  c = fork();
  if (c == 0) {
    alarm(10);
    ssize_t got = msgrcv(k, &r, sizeof r.mtext, 0, 0);
    _exit(got < 0 && errno == EIDRM ? 0 : 100 + code_of(got));
  }
  await_syscall(c, SYS_msgrcv);
  RES("msgctl rmid", msgctl(k, IPC_RMID, NULL));
  line("receiver after rmid %d", child_status(c));
  RES("msgsnd removed", msgsnd(k, &m, 4, 0));
  RES("msgctl rmid again", msgctl(k, IPC_RMID, NULL));
  RES("msgget removed key", msgget(0x5c01, 0));
  RES("msgctl rmid private", msgctl(q, IPC_RMID, NULL));
  /* The IPC_64 flag some callers pass. */
  int q2 = msgget(IPC_PRIVATE, 0600);
  RES("msgctl ipc_64 stat", msgctl(q2, IPC_STAT | 0x100, &ds));
  RES("msgctl ipc_64 rmid", msgctl(q2, IPC_RMID | 0x100, NULL));
}

static void local_sem(void) {
  union semun arg;
  struct semid_ds ds;
  unsigned short vals[4];
  int s = semget(0x5c11, 4, IPC_CREAT | IPC_EXCL | 0600);
  RES("semget create", s >= 0 ? 0 : -1);
  RES("semget excl", semget(0x5c11, 4, IPC_CREAT | IPC_EXCL | 0600));
  RES("semget more sems", semget(0x5c11, 5, 0));
  RES("semget fewer sems", semget(0x5c11, 2, 0) == s ? 0 : -1);
  RES("semget missing", semget(0x5c12, 1, 0));
  RES("semget private", semget(IPC_PRIVATE, 1, 0600) >= 0 ? 0 : -1);
  arg.val = 5;
  RES("semctl setval", semctl(s, 1, SETVAL, arg));
  RES("semctl getval", semctl(s, 1, GETVAL));
  arg.val = 40000;
  RES("semctl setval too big", semctl(s, 1, SETVAL, arg));
  RES("semctl getval bad num", semctl(s, 9, GETVAL));
  unsigned short set[4] = {1, 2, 3, 4};
  arg.array = set;
  RES("semctl setall", semctl(s, 0, SETALL, arg));
  memset(vals, 0xff, sizeof vals);
  arg.array = vals;
  RES("semctl getall", semctl(s, 0, GETALL, arg));
  line("values %u %u %u %u", vals[0], vals[1], vals[2], vals[3]);
  arg.buf = &ds;
  errno = 4321;
  int rc = semctl(s, 0, IPC_STAT, arg);
  line("semctl ipc_stat = %d, errno after success %d", rc, errno);
  line("stat mode %o nsems %lu uid %u cuid %u", ds.sem_perm.mode, (unsigned long)ds.sem_nsems,
       (unsigned)ds.sem_perm.uid, (unsigned)ds.sem_perm.cuid);
  ds.sem_perm.mode = 0640;
  RES("semctl ipc_set", semctl(s, 0, IPC_SET, arg));
  memset(&ds, 0, sizeof ds);
  semctl(s, 0, IPC_STAT, arg);
  line("after set mode %o", ds.sem_perm.mode);
  RES("semctl ipc_64 stat", semctl(s, 0, IPC_STAT | 0x100, arg));
  struct sembuf ops[2] = {{0, -1, 0}, {3, 2, 0}};
  RES("semop two", semop(s, ops, 2));
  RES("semctl getpid self", semctl(s, 0, GETPID) == getpid() ? 0 : -1);
  struct sembuf dec0 = {0, -1, IPC_NOWAIT};
  RES("semop nowait", semop(s, &dec0, 1));
  struct timespec ts = {0, 20 * 1000 * 1000};
  dec0.sem_flg = 0;
  RES("semtimedop times out", semtimedop(s, &dec0, 1, &ts));
  struct sembuf inc2 = {2, 1, 0};
  RES("semtimedop null timeout", semtimedop(s, &inc2, 1, NULL));
  struct sembuf badnum = {7, 1, 0};
  RES("semop bad num", semop(s, &badnum, 1));
  static struct sembuf many[1000];
  for (int i = 0; i < 1000; i++) many[i] = (struct sembuf){0, 0, IPC_NOWAIT};
  RES("semop too many", semop(s, many, 1000));
  RES("semop zero ops", semop(s, ops, 0));
  struct sembuf huge = {1, 32767, 0};
  RES("semop range", semop(s, &huge, 1));
  /* A child waits for semaphore 0 (GETNCNT), another for zero on 1 (GETZCNT). */
  pid_t c1 = fork();
  if (c1 == 0) {
    alarm(10);
    struct sembuf w = {0, -1, 0};
    _exit(code_of(semop(s, &w, 1)));
  }
  for (int i = 0; i < 500 && semctl(s, 0, GETNCNT) != 1; i++) sleep_ms(10);
  RES("semctl getncnt", semctl(s, 0, GETNCNT));
  pid_t c2 = fork();
  if (c2 == 0) {
    alarm(10);
    struct sembuf z = {1, 0, 0};
    _exit(code_of(semop(s, &z, 1)));
  }
  for (int i = 0; i < 500 && semctl(s, 1, GETZCNT) != 1; i++) sleep_ms(10);
  RES("semctl getzcnt", semctl(s, 1, GETZCNT));
  struct sembuf go = {0, 1, 0};
  RES("semop wakes waiter", semop(s, &go, 1));
  line("ncnt waiter %d", child_status(c1));
  RES("semctl getpid not self", semctl(s, 0, GETPID) == c1 ? 1 : 0);
  arg.val = 0;
  RES("semctl setval wakes zero waiter", semctl(s, 1, SETVAL, arg));
  line("zcnt waiter %d", child_status(c2));
  /* SEM_UNDO: a child's adjustment is undone when it exits. */
  pid_t c3 = fork();
  if (c3 == 0) {
    struct sembuf u = {2, 3, SEM_UNDO};
    _exit(code_of(semop(s, &u, 1)));
  }
  line("undo child %d", child_status(c3));
  RES("semctl getval after undo", semctl(s, 2, GETVAL));
  /* A blocked semop interrupted by a handler: EINTR. */
  pid_t c4 = fork();
  if (c4 == 0) {
    alarm(10);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    struct sembuf w = {0, -5, 0};
    int rr = semop(s, &w, 1);
    _exit(rr < 0 && errno == EINTR && got_sig ? 0 : 100 + code_of(rr));
  }
  for (int i = 0; i < 500 && semctl(s, 0, GETNCNT) != 1; i++) sleep_ms(10);
  kill(c4, SIGUSR1);
  line("interrupted semop child %d", child_status(c4));
  /* IPC_INFO, SEM_INFO, SEM_STAT, SEM_STAT_ANY. */
  struct seminfo si;
  arg.__buf = &si;
  int maxidx = semctl(0, 0, IPC_INFO, arg);
  line("ipc_info ret %d semmsl %d semmns %d semopm %d semmni %d semvmx %d", maxidx, si.semmsl,
       si.semmns, si.semopm, si.semmni, si.semvmx);
  memset(&si, 0, sizeof si);
  maxidx = semctl(0, 0, SEM_INFO, arg);
  line("sem_info ret %d semusz %d semaem %d", maxidx, si.semusz, si.semaem);
  int found = 0;
  arg.buf = &ds;
  for (int i = 0; i <= maxidx && i < 64; i++)
    if (semctl(i, 0, SEM_STAT, arg) == s) found++;
  line("sem_stat finds %d", found);
#ifdef SEM_STAT_ANY
  found = 0;
  for (int i = 0; i <= maxidx && i < 64; i++)
    if (semctl(i, 0, SEM_STAT_ANY, arg) == s) found++;
  line("sem_stat_any finds %d", found);
#endif
  RES("semctl bad cmd", semctl(s, 0, 4711));
  RES("semctl bad id", semctl(0x7ffffff0, 0, GETVAL));
  /* IPC_RMID wakes a blocked semop with EIDRM. */
  pid_t c5 = fork();
  if (c5 == 0) {
    alarm(10);
    struct sembuf w = {0, -9, 0};
    int rr = semop(s, &w, 1);
    _exit(rr < 0 && errno == EIDRM ? 0 : 100 + code_of(rr));
  }
  for (int i = 0; i < 500 && semctl(s, 0, GETNCNT) != 1; i++) sleep_ms(10);
  RES("semctl rmid", semctl(s, 0, IPC_RMID));
  line("waiter after rmid %d", child_status(c5));
  RES("semop removed", semop(s, &go, 1));
  RES("semctl removed", semctl(s, 0, GETVAL));
  RES("semget removed key", semget(0x5c11, 1, 0));
}

static void local_shm(void) {
  struct shmid_ds ds;
  long pg = sysconf(_SC_PAGESIZE);
  int m = shmget(0x5c21, 8192, IPC_CREAT | IPC_EXCL | 0600);
  RES("shmget create", m >= 0 ? 0 : -1);
  RES("shmget excl", shmget(0x5c21, 8192, IPC_CREAT | IPC_EXCL | 0600));
  RES("shmget bigger", shmget(0x5c21, 1 << 20, 0));
  RES("shmget same", shmget(0x5c21, 100, 0) == m ? 0 : -1);
  RES("shmget missing", shmget(0x5c22, 100, 0));
  RES("shmget size 0 new", shmget(0x5c23, 0, IPC_CREAT | 0600));
  char* a = shmat(m, NULL, 0);
  RES("shmat", a == (void*)-1 ? -1 : 0);
  char* b = shmat(m, NULL, SHM_RDONLY);
  RES("shmat rdonly", b == (void*)-1 ? -1 : 0);
  if (a == (void*)-1 || b == (void*)-1) return;
  for (int i = 0; i < 8192; i++) a[i] = (char)(i * 7);
  int same = 1;
  for (int i = 0; i < 8192; i++) same &= b[i] == (char)(i * 7);
  line("second mapping sees the data %d", same);
  /* A child writes; the parent sees it. A write through the read-only mapping faults. */
  pid_t c = fork();
  if (c == 0) {
    a[100] = 'Q';
    _exit(0);
  }
  int wst = child_status(c);
  line("writer child %d, parent sees %c", wst, b[100]);
  c = fork();
  if (c == 0) {
    signal(SIGSEGV, SIG_DFL);
    *(volatile char*)b = 1;
    _exit(0);
  }
  line("read-only write child %d", child_status(c));
  errno = 999;
  int rc = shmctl(m, IPC_STAT, &ds);
  line("shmctl stat = %d, errno after success %d", rc, errno);
  line("stat mode %o segsz %zu nattch %lu cpid-self %d uid %u", ds.shm_perm.mode, ds.shm_segsz,
       (unsigned long)ds.shm_nattch, ds.shm_cpid == getpid(), (unsigned)ds.shm_perm.uid);
  ds.shm_perm.mode = 0640;
  RES("shmctl set", shmctl(m, IPC_SET, &ds));
  shmctl(m, IPC_STAT, &ds);
  line("after set mode %o", ds.shm_perm.mode & 0777);
  RES("shmctl lock", shmctl(m, SHM_LOCK, NULL));
  shmctl(m, IPC_STAT, &ds);
  line("locked bit %d", (ds.shm_perm.mode & SHM_LOCKED) != 0);
  RES("shmctl unlock", shmctl(m, SHM_UNLOCK, NULL));
  struct shminfo si;
  int maxidx = shmctl(0, IPC_INFO, (struct shmid_ds*)&si);
  line("ipc_info ret %d shmmni %lu shmmin %lu", maxidx, (unsigned long)si.shmmni,
       (unsigned long)si.shmmin);
  struct shm_info sinfo;
  maxidx = shmctl(0, SHM_INFO, (struct shmid_ds*)&sinfo);
  line("shm_info ret %d used_ids %d shm_tot %lu", maxidx, sinfo.used_ids,
       (unsigned long)sinfo.shm_tot);
  int found = 0;
  for (int i = 0; i <= maxidx && i < 64; i++)
    if (shmctl(i, SHM_STAT, &ds) == m) found++;
  line("shm_stat finds %d", found);
  RES("shmctl bad cmd", shmctl(m, 4711, &ds));
  RES("shmctl bad id", shmctl(0x7ffffff0, IPC_STAT, &ds));
  RES("shmat bad id", shmat(0x7ffffff0, NULL, 0) == (void*)-1 ? -1 : 0);
  RES("shmat unaligned", shmat(m, (void*)(a + 1), 0) == (void*)-1 ? -1 : 0);
  /* SHM_RND at an unaligned address inside a free range. */
  char* area = shmat(m, NULL, 0);
  shmdt(area);
  char* c3 = shmat(m, area + 5, SHM_RND);
  line("shm_rnd rounds down %d", c3 == area);
  if (c3 != (void*)-1) shmdt(c3);
  RES("shmdt not attached", shmdt(a + pg));
  RES("shmctl rmid attached", shmctl(m, IPC_RMID, NULL));
  memset(&ds, 0, sizeof ds);
  shmctl(m, IPC_STAT, &ds);
  line("after rmid dest %d key %d nattch %lu", (ds.shm_perm.mode & SHM_DEST) != 0,
       (int)ds.shm_perm.__key, (unsigned long)ds.shm_nattch);
  RES("shmget removed key", shmget(0x5c21, 100, 0));
  RES("shmdt", shmdt(a));
  RES("shmdt rdonly", shmdt(b));
  RES("shmctl stat gone", shmctl(m, IPC_STAT, &ds));
  int p = shmget(IPC_PRIVATE, 3 * pg, 0600);
  RES("shmctl ipc_64 stat", shmctl(p, IPC_STAT | 0x100, &ds));
  memset(&ds, 0, sizeof ds);
  RES("shmctl stat private", shmctl(p, IPC_STAT, &ds));
  line("segsz pages %zu", ds.shm_segsz / (size_t)pg);
  RES("shmctl rmid private", shmctl(p, IPC_RMID, NULL));
}

static int cmd_local(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  alarm(60);
  local_msg();
  local_sem();
  local_shm();
  printf("local OK\n");
  return 0;
}

/* ------------------------------------------------------------------------------------ */
/* whoami                                                                                */

static int cmd_whoami(void) {
  Dl_info info;
  void* fn = (void*)msgget;
  if (dladdr(fn, &info) == 0 || info.dli_fname == NULL) fail("dladdr(msgget) failed");
  const char* base = strrchr(info.dli_fname, '/');
  base = base ? base + 1 : info.dli_fname;
  printf("msgget from %s\n", base);
  FILE* f = fopen("/proc/self/maps", "r");
  if (!f) fail("/proc/self/maps: %s", strerror(errno));
  char buf[4096];
  int cxx = 0;
  for (int i = 0; i < 100000 && fgets(buf, sizeof buf, f); i++)
    if (strstr(buf, "libstdc++") || strstr(buf, "libgcc_s")) cxx = 1;
  fclose(f);
  printf("%s\n", cxx ? "cxx-runtime-mapped" : "no-cxx-runtime");
  return 0;
}

/* ------------------------------------------------------------------------------------ */
/* flagstrip                                                                             */

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#else
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#endif

static void install_filter(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_msgget, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1)),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, IPC_DIPC, 8, 9),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* not reached */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_semget, 0, 2),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, IPC_DIPC, 4, 5),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_shmget, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, IPC_DIPC, 1, 2),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* not reached */
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOTRECOVERABLE),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  /* Jump targets (pc + 1 + offset): 1 -> 5 when not msgget; 3 -> 12 (refuse) / 13 (allow);
   * 5 -> 8 when not semget; 7 -> 12 / 13; 8 -> 13 when not shmget; 10 -> 12 / 13. No
   * architecture check: the filter only has to be right for this test's own process. */
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs: %s", strerror(errno));
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) fail("seccomp: %s", strerror(errno));
}

static int cmd_flagstrip(key_t key) {
  alarm(30);
  install_filter();
  /* The filter itself: a raw system call with the bit set must be refused... */
  errno = 0;
  long raw = syscall(SYS_msgget, (long)IPC_PRIVATE, (long)(IPC_DIPC | IPC_CREAT | 0600));
  printf("raw msgget with the bit: %s\n", raw < 0 ? errname(errno) : "reached the kernel");
  /* ...and one without it allowed. */
  raw = syscall(SYS_msgget, (long)IPC_PRIVATE, (long)(IPC_CREAT | 0600));
  printf("raw msgget without the bit: %s\n", raw < 0 ? errname(errno) : "OK");
  if (raw >= 0) syscall(SYS_msgctl, raw, (long)IPC_RMID, 0L);

  int q = msgget(key, IPC_DIPC | IPC_CREAT | 0600);
  printf("msgget: %s\n", q < 0 ? errname(errno) : "OK");
  int s = semget(key, 3, IPC_DIPC | IPC_CREAT | 0600);
  printf("semget: %s\n", s < 0 ? errname(errno) : "OK");
  int m = shmget(key, 8192, IPC_DIPC | IPC_CREAT | 0600);
  printf("shmget: %s\n", m < 0 ? errname(errno) : "OK");
  if (q >= 0) {
    struct msqid_ds ds;
    struct msg out = {5, "through the local queue"}, in;
    if (msgctl(q, IPC_STAT, &ds) < 0) fail("msgctl: %s", strerror(errno));
    printf("msg mode %o key %#x\n", ds.msg_perm.mode, (unsigned)ds.msg_perm.__key);
    ssize_t n = -1;
    if (msgsnd(q, &out, strlen(out.mtext) + 1, 0) == 0)
      n = msgrcv(q, &in, sizeof in.mtext, 5, IPC_NOWAIT);
    printf("msg round trip: %s\n", n > 0 && strcmp(in.mtext, out.mtext) == 0 ? "OK" : "FAILED");
  }
  if (s >= 0) {
    struct semid_ds ds;
    union semun arg = {.buf = &ds};
    if (semctl(s, 0, IPC_STAT, arg) < 0) fail("semctl: %s", strerror(errno));
    printf("sem mode %o nsems %lu\n", ds.sem_perm.mode, (unsigned long)ds.sem_nsems);
    struct sembuf up = {2, 4, 0};
    int rc = semop(s, &up, 1);
    const char* how = rc == 0 ? "OK" : errname(errno);
    printf("sem op: %s value %d\n", how, semctl(s, 2, GETVAL));
  }
  if (m >= 0) {
    struct shmid_ds ds;
    if (shmctl(m, IPC_STAT, &ds) < 0) fail("shmctl: %s", strerror(errno));
    printf("shm mode %o size %zu\n", ds.shm_perm.mode & 0777, ds.shm_segsz);
    char* a = shmat(m, NULL, 0);
    char* b = shmat(m, NULL, 0);
    int ok = a != (void*)-1 && b != (void*)-1 && a != b;
    if (ok) {
      for (int i = 0; i < 8192; i++) a[i] = (char)(i ^ 0x5a);
      for (int i = 0; i < 8192; i++) ok &= b[i] == (char)(i ^ 0x5a);
      shmctl(m, IPC_STAT, &ds);
      ok &= ds.shm_nattch == 2;
      ok &= shmdt(a) == 0 && shmdt(b) == 0;
    }
    printf("shm attach twice, write, read: %s\n", ok ? "OK" : "FAILED");
  }
  /* IPC_PRIVATE objects stay local; the bit must be stripped for them too. */
  int pq = msgget(IPC_PRIVATE, IPC_DIPC | IPC_CREAT | 0600);
  printf("private msgget: %s\n", pq < 0 ? errname(errno) : "OK");
  int ps = semget(IPC_PRIVATE, 1, IPC_DIPC | IPC_CREAT | 0600);
  printf("private semget: %s\n", ps < 0 ? errname(errno) : "OK");
  int pm = shmget(IPC_PRIVATE, 4096, IPC_DIPC | IPC_CREAT | 0600);
  printf("private shmget: %s\n", pm < 0 ? errname(errno) : "OK");
  if (pq >= 0) msgctl(pq, IPC_RMID, NULL);
  if (ps >= 0) semctl(ps, 0, IPC_RMID);
  if (pm >= 0) shmctl(pm, IPC_RMID, NULL);
  return 0;
}

/* ------------------------------------------------------------------------------------ */
/* stalesock                                                                             */

static int cmd_stalesock(const char* path) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) fail("path too long: %s", path);
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0 || listen(fd, 1) < 0)
    fail("%s: %s", path, strerror(errno));
  close(fd); /* the file stays; nobody listens any more */
  return 0;
}

/* ------------------------------------------------------------------------------------ */
/* mktable                                                                               */

static int cmd_mktable(int argc, char** argv) {
  enum { kSlots = 32768, kMaxRanges = 256 };
  const char* path = argv[2];
  size_t rules_off = 8 + 3 * (size_t)kSlots; /* in words, after the 64-byte header */
  size_t size = (rules_off + 2 + kMaxRanges) * 8;
  uint64_t* t = calloc(1, size);
  if (!t) fail("calloc");
  t[0] = 0x4449504349445432ull; /* "DIPCIDT2" */
  ((uint32_t*)t)[2] = kSlots;
  uint64_t* slots = t + 8;
  uint64_t* rules = t + rules_off; /* [0] sequence (even), [1] count | all_keyed << 32 */
  for (int i = 3; i + 2 < argc; i += 3) {
    if (strcmp(argv[i], "keys") == 0 || strcmp(argv[i], "allkeyed") == 0) {
      uint64_t n = (uint32_t)rules[1];
      if (argv[i][0] == 'a') {
        rules[1] |= 1ull << 32;
        continue;
      }
      if (n == kMaxRanges) fail("too many key ranges");
      rules[2 + n] = ((uint64_t)(uint32_t)num(argv[i + 1]) << 32) | (uint32_t)num(argv[i + 2]);
      rules[1] = (rules[1] & ~0xffffffffull) | (n + 1);
      continue;
    }
    int kind = strcmp(argv[i], "msg") == 0 ? 1 : strcmp(argv[i], "sem") == 0 ? 2
             : strcmp(argv[i], "shm") == 0 ? 3 : 0;
    if (!kind) fail("kind %s", argv[i]);
    long id = num(argv[i + 1]);
    long flags = num(argv[i + 2]);
    slots[(size_t)(kind - 1) * kSlots + (uint32_t)id % kSlots] =
        ((uint64_t)(uint32_t)id << 32) | (uint32_t)flags;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, t, size) != (ssize_t)size || close(fd) < 0)
    fail("%s: %s", path, strerror(errno));
  free(t);
  return 0;
}

/* ------------------------------------------------------------------------------------ */
/* remote scenarios                                                                      */

/* The local placeholder of a remote queue, read straight from the kernel (not through
 * the shim): it must stay empty, since every message lives at the owner. */
static long kernel_qnum(int id) {
  struct msqid_ds ds;
  if (syscall(SYS_msgctl, (long)id, (long)IPC_STAT, &ds) < 0) return -1;
  return (long)ds.msg_qnum;
}

static long shim_qnum(int id) {
  struct msqid_ds ds;
  if (msgctl(id, IPC_STAT, &ds) < 0) return -1;
  return (long)ds.msg_qnum;
}

static int remote_queue(key_t key) {
  int id = msgget(key, IPC_DIPC | 0666);
  if (id < 0) fail("msgget(%#x, IPC_DIPC): %s", (unsigned)key, strerror(errno));
  if (shim_qnum(id) != 0) fail("queue %#x is not empty (qnum %ld)", (unsigned)key, shim_qnum(id));
  return id;
}

static void send_text(int id, long type, const char* text) {
  struct msg m;
  m.mtype = type;
  size_t n = strlen(text);
  if (n >= sizeof m.mtext) fail("text too long");
  memcpy(m.mtext, text, n + 1);
  if (msgsnd(id, &m, n + 1, 0) < 0)
    fail("[%d] msgsnd type %ld: %s", (int)getpid(), type, errname(errno));
}

/* Blocking receive of type; the text must equal expect (when given). Returns the text. */
static void recv_text(int id, long type, const char* expect, char* out, size_t cap) {
  struct msg m;
  memset(&m, 0, sizeof m);
  ssize_t n = msgrcv(id, &m, sizeof m.mtext - 1, type, 0);
  if (n < 0) fail("[%d] msgrcv type %ld: %s", (int)getpid(), type, errname(errno));
  if (m.mtype != type && type > 0)
    fail("[%d] msgrcv type %ld got type %ld", (int)getpid(), type, m.mtype);
  m.mtext[n] = 0;
  if (expect && strcmp(m.mtext, expect) != 0)
    fail("[%d] msgrcv type %ld: got \"%s\", expected \"%s\"", (int)getpid(), type, m.mtext,
         expect);
  if (out) {
    size_t len = strlen(m.mtext);
    if (len >= cap) len = cap - 1;
    memcpy(out, m.mtext, len);
    out[len] = 0;
  }
}

/* A send and a receive of one message of type through the owner. */
static void round_trip(int id, long type, const char* text) {
  send_text(id, type, text);
  recv_text(id, type, text, NULL, 0);
}

static void check_placeholder_empty(int id, const char* when) {
  long k = kernel_qnum(id);
  if (k != 0) fail("%s: the local placeholder holds %ld messages (calls did not go remote)", when, k);
}

static int cmd_forks(key_t key, int nchild, int nmsg) {
  alarm(90);
  int id = remote_queue(key);
  round_trip(id, 1, "parent before fork"); /* the parent's connection exists now */
  send_text(id, 2, "left for the owner");
  if (shim_qnum(id) != 1) fail("remote IPC_STAT qnum %ld, expected 1", shim_qnum(id));
  check_placeholder_empty(id, "after a remote msgsnd");
  recv_text(id, 2, "left for the owner", NULL, 0);

  pid_t kids[64];
  if (nchild < 1 || nchild > 64) fail("NCHILD 1..64");
  for (int i = 0; i < nchild; i++) {
    fflush(NULL);
    pid_t p = fork();
    if (p < 0) fail("fork: %s", strerror(errno));
    if (p == 0) {
      alarm(60);
      char text[64];
      for (int j = 0; j < nmsg; j++) {
        snprintf(text, sizeof text, "child %d msg %d", i, j);
        round_trip(id, 100 + i, text);
      }
      snprintf(text, sizeof text, "child %d done", i);
      send_text(id, 300, text); /* counted by the parent */
      _exit(0);
    }
    kids[i] = p;
  }
  /* The parent keeps using its own connection meanwhile. */
  char text[64];
  for (int j = 0; j < nmsg; j++) {
    snprintf(text, sizeof text, "parent msg %d", j);
    round_trip(id, 3, text);
  }
  int bad = 0;
  for (int i = 0; i < nchild; i++) {
    int st = child_status(kids[i]);
    if (st != 0) {
      fprintf(stderr, "shimcheck: child %d exited with %d\n", i, st);
      bad++;
    }
  }
  if (bad) fail("%d of %d children failed", bad, nchild);
  /* Exactly one "done" message from each child, nothing else left. */
  char seen[64] = {0};
  for (int i = 0; i < nchild; i++) {
    char got[128];
    int who = -1;
    recv_text(id, 300, NULL, got, sizeof got);
    if (sscanf(got, "child %d done", &who) != 1 || who < 0 || who >= nchild || seen[who]++)
      fail("unexpected done message \"%s\"", got);
  }
  struct msg m;
  if (msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT) >= 0 || errno != ENOMSG)
    fail("queue not empty at the end (msgrcv: %s, type %ld)", errname(errno), m.mtype);
  check_placeholder_empty(id, "at the end");
  /* A child that does nothing remote must not disturb the parent's connection. */
  pid_t idle = fork();
  if (idle == 0) _exit(0);
  if (child_status(idle) != 0) fail("idle child");
  round_trip(id, 4, "parent after its children");
  printf("forks OK: %d children x %d round trips, %d done messages, parent %d round trips\n",
         nchild, nmsg, nchild, nmsg + 3);
  return 0;
}

struct thr {
  pthread_t t;
  int idx, n, rounds, id;
  int received;
  char err[512];
};
static pthread_barrier_t g_barrier;

static int t_send(struct thr* t, long type, const char* text) {
  struct msg m;
  m.mtype = type;
  size_t n = strlen(text) + 1;
  memcpy(m.mtext, text, n);
  if (msgsnd(t->id, &m, n, 0) < 0) {
    snprintf(t->err, sizeof t->err, "thread %d msgsnd type %ld: %s", t->idx, type, errname(errno));
    return -1;
  }
  return 0;
}

static int t_recv(struct thr* t, long type, const char* expect) {
  struct msg m;
  memset(&m, 0, sizeof m);
  ssize_t n = msgrcv(t->id, &m, sizeof m.mtext - 1, type, 0);
  if (n < 0) {
    snprintf(t->err, sizeof t->err, "thread %d msgrcv type %ld: %s", t->idx, type, errname(errno));
    return -1;
  }
  if (m.mtype != type || strcmp(m.mtext, expect) != 0) {
    snprintf(t->err, sizeof t->err, "thread %d msgrcv type %ld: got type %ld \"%.60s\", expected \"%.60s\"",
             t->idx, type, m.mtype, m.mtext, expect);
    return -1;
  }
  t->received++;
  return 0;
}

static void* thread_main(void* arg) {
  struct thr* t = arg;
  char text[64];
  long mine = 10 + t->idx;
  /* Phase 1: every thread blocks in msgrcv at the owner at the same time. */
  snprintf(text, sizeof text, "wake %d", t->idx);
  int ok = t_recv(t, mine, text) == 0;
  pthread_barrier_wait(&g_barrier);
  if (!ok) return NULL;
  /* Phase 2: a ring; thread i sends to thread i+1 and receives from thread i-1. */
  long next = 10 + (t->idx + 1) % t->n;
  int prev = (t->idx + t->n - 1) % t->n;
  for (int r = 0; r < t->rounds; r++) {
    snprintf(text, sizeof text, "round %d from %d", r, t->idx);
    if (t_send(t, next, text) < 0) return NULL;
    snprintf(text, sizeof text, "round %d from %d", r, prev);
    if (t_recv(t, mine, text) < 0) return NULL;
  }
  return NULL;
}

static int cmd_threads(key_t key, int n, int rounds) {
  alarm(90);
  if (n < 2 || n > 64) fail("NTHREADS 2..64");
  int id = remote_queue(key);
  struct thr ts[64];
  memset(ts, 0, sizeof ts);
  pthread_barrier_init(&g_barrier, NULL, (unsigned)n);
  for (int i = 0; i < n; i++) {
    ts[i].idx = i;
    ts[i].n = n;
    ts[i].rounds = rounds;
    ts[i].id = id;
    if (pthread_create(&ts[i].t, NULL, thread_main, &ts[i]) != 0) fail("pthread_create");
  }
  sleep_ms(500); /* let every thread reach its blocking msgrcv at the owner */
  check_placeholder_empty(id, "while the threads wait");
  for (int i = n - 1; i >= 0; i--) {
    char text[32];
    snprintf(text, sizeof text, "wake %d", i);
    send_text(id, 10 + i, text);
  }
  int total = 0, bad = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(ts[i].t, NULL);
    if (ts[i].err[0]) {
      fprintf(stderr, "shimcheck: %s\n", ts[i].err);
      bad++;
    }
    total += ts[i].received;
  }
  if (bad) fail("%d of %d threads failed", bad, n);
  if (total != n * (rounds + 1)) fail("received %d messages, expected %d", total, n * (rounds + 1));
  if (shim_qnum(id) != 0) fail("queue holds %ld messages at the end", shim_qnum(id));
  check_placeholder_empty(id, "at the end");
  printf("threads OK: %d threads, %d messages\n", n, total);
  return 0;
}

/* threadids: each call is made with the ids of the thread that makes it, now. */

/* Raw system calls: they change this thread only (glibc's wrappers change them all). The
 * saved uid stays 0, so the thread can change again. */
static void thread_become(uid_t uid) {
  if (syscall(SYS_setresuid, -1, 0, -1) < 0 || syscall(SYS_setresgid, -1, uid, -1) < 0 ||
      syscall(SYS_setresuid, -1, uid, -1) < 0)
    fail("cannot become uid %u: %s", (unsigned)uid, strerror(errno));
}

/* "OK" or the errno name of a non-blocking msgsnd of one byte of type. */
static const char* try_send(int id, long type) {
  struct msg m;
  m.mtype = type;
  m.mtext[0] = 'x';
  return msgsnd(id, &m, 1, IPC_NOWAIT) == 0 ? "OK" : errname(errno);
}

enum { kDaemon = 1, kNobody = 65534 };

struct idthr {
  int id;
  pthread_barrier_t* step;
  char got[3][16]; /* as daemon; as nobody while main is daemon; as daemon while main is nobody */
};

static void* idthread_main(void* arg) {
  struct idthr* t = arg;
  snprintf(t->got[0], sizeof t->got[0], "%s", try_send(t->id, 3)); /* connects as daemon */
  thread_become(kNobody);
  pthread_barrier_wait(t->step); /* 1: this thread is nobody */
  snprintf(t->got[1], sizeof t->got[1], "%s", try_send(t->id, 3));
  pthread_barrier_wait(t->step); /* 2 */
  pthread_barrier_wait(t->step); /* 3: main is nobody now */
  thread_become(kDaemon);
  snprintf(t->got[2], sizeof t->got[2], "%s", try_send(t->id, 3));
  pthread_barrier_wait(t->step); /* 4 */
  return NULL;
}

static int cmd_threadids(key_t key) {
  alarm(60);
  if (geteuid() != 0) fail("threadids runs as root");
  thread_become(kDaemon); /* the queue is daemon's, mode 0600 */
  int id = remote_queue(key);
  pthread_barrier_t step;
  pthread_barrier_init(&step, NULL, 2);
  struct idthr t;
  memset(&t, 0, sizeof t);
  t.id = id;
  t.step = &step;
  pthread_t th;
  if (pthread_create(&th, NULL, idthread_main, &t) != 0) fail("pthread_create");
  pthread_barrier_wait(&step); /* 1 */
  pthread_barrier_wait(&step); /* 2: the thread's call as nobody is done */
  const char* main_daemon = try_send(id, 4);
  thread_become(kNobody);
  pthread_barrier_wait(&step); /* 3 */
  pthread_barrier_wait(&step); /* 4: the thread's call as daemon again is done */
  const char* main_nobody = try_send(id, 4);
  thread_become(kDaemon);
  pthread_join(th, NULL);
  printf("thread as daemon %s, as nobody %s; main as daemon %s; thread as daemon again %s; "
         "main as nobody %s\n",
         t.got[0], t.got[1], main_daemon, t.got[2], main_nobody);
  if (strcmp(t.got[0], "OK") || strcmp(t.got[1], "EACCES") || strcmp(main_daemon, "OK") ||
      strcmp(t.got[2], "OK") || strcmp(main_nobody, "EACCES"))
    fail("expected OK EACCES OK OK EACCES");
  struct msg m;
  for (int i = 0; i < 8 && msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT) >= 0; i++) {
  }
  if (shim_qnum(id) != 0) fail("queue holds %ld messages at the end", shim_qnum(id));
  check_placeholder_empty(id, "at the end");
  thread_become(0);
  printf("threadids OK\n");
  return 0;
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) fail("getrlimit: %s", strerror(errno));
  if (rl.rlim_cur < 2 * MAXFD) {
    rl.rlim_cur = rl.rlim_max < 2 * MAXFD ? rl.rlim_max : 2 * MAXFD;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static int cmd_closefds(key_t key) {
  alarm(60);
  int id = remote_queue(key);
  round_trip(id, 7, "before closing");
  for (int fd = 3; fd < MAXFD; fd++) close(fd);
  round_trip(id, 7, "after closing every descriptor");
  /* The program opens descriptors of its own again, and closes them again. */
  int nul[8];
  for (int i = 0; i < 8; i++) nul[i] = open("/dev/null", O_RDONLY);
  round_trip(id, 7, "with descriptors reopened");
  for (int i = 0; i < 8; i++) close(nul[i]);
  for (int fd = 3; fd < MAXFD; fd++) close(fd);
  send_text(id, 7, "after closing twice");
  check_placeholder_empty(id, "after closing");
  recv_text(id, 7, "after closing twice", NULL, 0);
  printf("closefds OK\n");
  return 0;
}

/* dup2s the open file fd onto every descriptor 3..MAXFD-1. Returns the file's identity. */
static void cover_fds(int fd, struct stat* st) {
  if (fstat(fd, st) < 0) fail("fstat: %s", strerror(errno));
  for (int d = 3; d < MAXFD; d++)
    if (d != fd && dup2(fd, d) < 0) fail("dup2 onto %d: %s", d, strerror(errno));
}

/* Every descriptor 3..MAXFD-1 must still be the file, at offset 0. */
static void check_covered(const struct stat* st, const char* when) {
  for (int d = 3; d < MAXFD; d++) {
    struct stat s;
    if (fstat(d, &s) < 0) fail("%s: descriptor %d was closed behind the program's back", when, d);
    if (s.st_dev != st->st_dev || s.st_ino != st->st_ino)
      fail("%s: descriptor %d is no longer the program's file", when, d);
  }
  off_t off = lseek(3, 0, SEEK_CUR);
  if (off != 0) fail("%s: the file's offset moved to %ld (something wrote to it)", when, (long)off);
}

static int cmd_dupfds(key_t key, const char* file) {
  alarm(60);
  raise_nofile();
  int id = remote_queue(key);
  round_trip(id, 8, "before dup2");
  int fd = open(file, O_RDWR);
  if (fd < 0) fail("%s: %s", file, strerror(errno));
  struct stat st;
  cover_fds(fd, &st);
  round_trip(id, 8, "after dup2 onto every descriptor");
  send_text(id, 8, "blocking receive after dup2");
  check_placeholder_empty(id, "after dup2");
  recv_text(id, 8, "blocking receive after dup2", NULL, 0);
  check_covered(&st, "after remote calls");
  printf("dupfds OK\n");
  return 0;
}

/* As dupfds, with one end of a socket pair instead of a file: a send on the wrong
 * descriptor would succeed there, so the other end must stay silent. */
static int cmd_dupsock(key_t key) {
  alarm(60);
  raise_nofile();
  int id = remote_queue(key);
  round_trip(id, 12, "before dup2");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) fail("socketpair: %s", strerror(errno));
  /* The reading end goes above the covered range. */
  int peer = fcntl(sv[1], F_DUPFD_CLOEXEC, MAXFD + 200);
  if (peer < 0) fail("F_DUPFD: %s (RLIMIT_NOFILE too low?)", strerror(errno));
  close(sv[1]);
  struct stat st;
  cover_fds(sv[0], &st);
  round_trip(id, 12, "after dup2 of a socket onto every descriptor");
  send_text(id, 12, "blocking receive after dup2");
  check_placeholder_empty(id, "after dup2");
  recv_text(id, 12, "blocking receive after dup2", NULL, 0);
  for (int d = 3; d < MAXFD; d++) {
    struct stat s2;
    if (fstat(d, &s2) < 0) fail("descriptor %d was closed behind the program's back", d);
    if (s2.st_dev != st.st_dev || s2.st_ino != st.st_ino)
      fail("descriptor %d is no longer the program's socket", d);
  }
  char junk[64];
  ssize_t n = recv(peer, junk, sizeof junk, MSG_DONTWAIT);
  if (n > 0) fail("%zd bytes were sent into the program's socket", n);
  if (n == 0) fail("the program's socket was shut down");
  if (errno != EAGAIN && errno != EWOULDBLOCK) fail("recv on the program's socket: %s", strerror(errno));
  printf("dupsock OK\n");
  return 0;
}

static int cmd_forkdup(key_t key, const char* file) {
  alarm(60);
  raise_nofile();
  int id = remote_queue(key);
  round_trip(id, 9, "parent before fork");
  pid_t c = fork();
  if (c < 0) fail("fork: %s", strerror(errno));
  if (c == 0) {
    int fd = open(file, O_RDWR);
    if (fd < 0) fail("%s: %s", file, strerror(errno));
    struct stat st;
    cover_fds(fd, &st);
    round_trip(id, 10, "child after dup2 onto every descriptor");
    check_covered(&st, "child after its first remote call");
    _exit(0);
  }
  int st = child_status(c);
  if (st != 0) fail("child exited with %d", st);
  round_trip(id, 9, "parent after the child");
  check_placeholder_empty(id, "at the end");
  printf("forkdup OK\n");
  return 0;
}

static int g_tx_id;
static pthread_mutex_t g_tx_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_tx_cond = PTHREAD_COND_INITIALIZER;
static int g_tx_stage;

static void* exit_thread(void* arg) {
  (void)arg;
  round_trip(g_tx_id, 11, "from a thread that will exit");
  pthread_mutex_lock(&g_tx_lock);
  g_tx_stage = 1;
  pthread_cond_broadcast(&g_tx_cond);
  while (g_tx_stage != 2) pthread_cond_wait(&g_tx_cond, &g_tx_lock); /* bounded by alarm */
  pthread_mutex_unlock(&g_tx_lock);
  return NULL;
}

static int cmd_threadexit(key_t key, const char* file) {
  alarm(60);
  raise_nofile();
  g_tx_id = remote_queue(key);
  pthread_t t;
  if (pthread_create(&t, NULL, exit_thread, NULL) != 0) fail("pthread_create");
  pthread_mutex_lock(&g_tx_lock);
  while (g_tx_stage != 1) pthread_cond_wait(&g_tx_cond, &g_tx_lock);
  pthread_mutex_unlock(&g_tx_lock);
  int fd = open(file, O_RDWR);
  if (fd < 0) fail("%s: %s", file, strerror(errno));
  struct stat st;
  cover_fds(fd, &st);
  pthread_mutex_lock(&g_tx_lock);
  g_tx_stage = 2;
  pthread_cond_broadcast(&g_tx_cond);
  pthread_mutex_unlock(&g_tx_lock);
  pthread_join(t, NULL);
  check_covered(&st, "after the thread exited");
  round_trip(g_tx_id, 11, "from the main thread");
  check_covered(&st, "after the main thread's call");
  check_placeholder_empty(g_tx_id, "at the end");
  printf("threadexit OK\n");
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: shimcheck whoami | local | flagstrip KEY | stalesock PATH\n"
          "       | mktable PATH KIND ID FLAGS...\n"
          "       | forks KEY NCHILD NMSG | threads KEY NTHREADS ROUNDS | closefds KEY\n"
          "       | dupfds KEY FILE | dupsock KEY | forkdup KEY FILE | threadexit KEY FILE\n");
  exit(2);
}

int main(int argc, char** argv) {
  if (argc < 2) usage();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  const char* c = argv[1];
  if (strcmp(c, "whoami") == 0 && argc == 2) return cmd_whoami();
  if (strcmp(c, "local") == 0 && argc == 2) return cmd_local();
  if (strcmp(c, "flagstrip") == 0 && argc == 3) return cmd_flagstrip((key_t)num(argv[2]));
  if (strcmp(c, "stalesock") == 0 && argc == 3) return cmd_stalesock(argv[2]);
  if (strcmp(c, "mktable") == 0 && argc >= 6 && (argc - 3) % 3 == 0) return cmd_mktable(argc, argv);
  if (strcmp(c, "forks") == 0 && argc == 5)
    return cmd_forks((key_t)num(argv[2]), (int)num(argv[3]), (int)num(argv[4]));
  if (strcmp(c, "threads") == 0 && argc == 5)
    return cmd_threads((key_t)num(argv[2]), (int)num(argv[3]), (int)num(argv[4]));
  if (strcmp(c, "threadids") == 0 && argc == 3) return cmd_threadids((key_t)num(argv[2]));
  if (strcmp(c, "closefds") == 0 && argc == 3) return cmd_closefds((key_t)num(argv[2]));
  if (strcmp(c, "dupfds") == 0 && argc == 4) return cmd_dupfds((key_t)num(argv[2]), argv[3]);
  if (strcmp(c, "dupsock") == 0 && argc == 3) return cmd_dupsock((key_t)num(argv[2]));
  if (strcmp(c, "forkdup") == 0 && argc == 4) return cmd_forkdup((key_t)num(argv[2]), argv[3]);
  if (strcmp(c, "threadexit") == 0 && argc == 4)
    return cmd_threadexit((key_t)num(argv[2]), argv[3]);
  usage();
  return 2;
}
