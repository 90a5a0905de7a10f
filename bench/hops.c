/* hops: micro-benchmarks of the pieces a remote DIPC call is made of, used by bench/run.sh
 * to say where the time of a remote call goes (docs/benchmarks.md). Each mode reproduces
 * one piece the way dipcd does it, outside dipcd, so it can be timed on its own; the
 * socket hops themselves are timed by tcppingpong pair (TCP) and pair --unix.
 *
 *   hops nss-caller [--user NAME]   what the caller's dipcd does per call to learn who the
 *                                   caller is: getpwuid_r + getgrouplist (files NSS)
 *   hops nss-owner  [--user NAME]   what the owner's dipcd does per call to find the local
 *                                   account: getpwnam_r + getpwuid_r + getgrouplist
 *   hops ident-inline [--user NAME] the io thread's switch around a call made at once
 *                                   (run_as): setresgid/setresuid to the user and back,
 *                                   the user's groups kept on the thread from a first call
 *   hops ident [--user NAME]        the worker's identity switch around the system call:
 *                                   setgroups/setresgid/setresuid to the user and back
 *                                   (raw system calls, as dipcd does; needs root)
 *   hops handoff                    the executor's thread hand-off, round trip: a thread
 *                                   waiting in epoll_wait (dipcd's io thread) hands work to
 *                                   a worker sleeping on a condition variable; the worker
 *                                   runs semop on a private semaphore and wakes the io
 *                                   thread through an eventfd it polls (asio's interrupter)
 *
 * Timing options (benchutil.h): --warm MS --dur MS --reps R --cpu C --limit S,
 * --turn-in FIFO --turn-out FIFO (take turns with another benchmark). Threads
 * inherit the process's CPU. Output: "median_us X ..." (one iteration). */
#include "benchutil.h"

#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>

static const char* g_user = "nobody";
static uid_t g_uid;
static gid_t g_gid;

static int nss_caller(void* v) {
  (void)v;
  struct passwd pw, *res = NULL;
  char buf[4096];
  if (getpwuid_r(g_uid, &pw, buf, sizeof buf, &res) != 0 || res == NULL) return -1;
  gid_t groups[64];
  int n = 64;
  if (getgrouplist(pw.pw_name, g_gid, groups, &n) < 0) return -1;
  return 0;
}

static int nss_owner(void* v) {
  (void)v;
  struct passwd pw, *res = NULL;
  char buf[4096];
  if (getpwnam_r(g_user, &pw, buf, sizeof buf, &res) != 0 || res == NULL) return -1;
  return nss_caller(NULL);
}

static gid_t g_groups[1];

static int ident(void* v) {
  (void)v;
  if (syscall(SYS_setgroups, 1, g_groups) != 0) return -1;
  if (syscall(SYS_setresgid, g_gid, g_gid, g_gid) != 0) return -1;
  if (syscall(SYS_setresuid, g_uid, g_uid, 0) != 0) return -1;
  syscall(SYS_setresuid, 0, 0, 0);
  syscall(SYS_setresgid, 0, 0, 0);
  syscall(SYS_setgroups, 0, NULL);
  return 0;
}

static int ident_inline(void* v) {
  (void)v;
  if (syscall(SYS_setresgid, 0, g_gid, 0) != 0) return -1;
  if (syscall(SYS_setresuid, 0, g_uid, 0) != 0) return -1;
  syscall(SYS_setresuid, 0, 0, 0);
  syscall(SYS_setresgid, 0, 0, 0);
  return 0;
}

/* ---- handoff ---- */
struct handoff {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int have_work;
  int quit;
  int efd, ep, semid;
};
static struct handoff g_h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, -1, -1, -1};

static void* worker(void* v) {
  struct handoff* h = v;
  for (;;) {
    pthread_mutex_lock(&h->mu);
    while (!h->have_work && !h->quit) pthread_cond_wait(&h->cv, &h->mu);
    if (h->quit) {
      pthread_mutex_unlock(&h->mu);
      return NULL;
    }
    h->have_work = 0;
    pthread_mutex_unlock(&h->mu);
    struct sembuf op = {0, 1, 0};
    semop(h->semid, &op, 1);
    op.sem_op = -1;
    semop(h->semid, &op, 1);
    uint64_t one = 1;
    if (write(h->efd, &one, sizeof one) != sizeof one) return NULL;
  }
}

static int handoff_once(void* v) {
  struct handoff* h = v;
  pthread_mutex_lock(&h->mu);
  h->have_work = 1;
  pthread_mutex_unlock(&h->mu);
  pthread_cond_signal(&h->cv);
  struct epoll_event ev;
  for (;;) {
    int n = epoll_wait(h->ep, &ev, 1, -1);
    if (n == 1) break;
    if (n < 0 && errno != EINTR) return -1;
  }
  uint64_t cnt;
  if (read(h->efd, &cnt, sizeof cnt) != sizeof cnt) return -1;
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: hops nss-caller|nss-owner|ident|ident-inline|handoff [--user NAME] [timing]\n");
    return 2;
  }
  const char* mode = argv[1];
  struct bu_opts o;
  bu_defaults(&o);
  for (int i = 2; i < argc; ++i) {
    if (bu_common_opt(&o, argc, argv, &i)) continue;
    if (!strcmp(argv[i], "--user") && i + 1 < argc) g_user = argv[++i];
    else bu_die("unknown option %s", argv[i]);
  }
  bu_check(&o);
  struct passwd* pw = getpwnam(g_user);
  if (pw == NULL) bu_die("no user %s", g_user);
  g_uid = pw->pw_uid;
  g_gid = pw->pw_gid;
  g_groups[0] = g_gid;
  bu_pin(o.cpu);
  if (!strcmp(mode, "nss-caller")) return bu_measure(&o, nss_caller, NULL) ? 1 : 0;
  if (!strcmp(mode, "nss-owner")) return bu_measure(&o, nss_owner, NULL) ? 1 : 0;
  if (!strcmp(mode, "ident")) {
    if (geteuid() != 0) bu_die("ident needs root");
    return bu_measure(&o, ident, NULL) ? 1 : 0;
  }
  if (!strcmp(mode, "ident-inline")) {
    if (geteuid() != 0) bu_die("ident-inline needs root");
    if (syscall(SYS_setgroups, 1, g_groups) != 0) bu_die("setgroups failed");
    int rc = bu_measure(&o, ident_inline, NULL) ? 1 : 0;
    syscall(SYS_setgroups, 0, NULL);
    return rc;
  }
  if (!strcmp(mode, "handoff")) {
    struct handoff* h = &g_h;
    h->semid = semget(IPC_PRIVATE, 1, 0600);
    h->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (h->semid < 0 || h->efd < 0 || h->ep < 0 || epoll_ctl(h->ep, EPOLL_CTL_ADD, h->efd, &ev))
      bu_die("handoff setup: %s", strerror(errno));
    pthread_t t;
    if (pthread_create(&t, NULL, worker, h) != 0) bu_die("pthread_create");
    int rc = bu_measure(&o, handoff_once, h);
    pthread_mutex_lock(&h->mu);
    h->quit = 1;
    pthread_mutex_unlock(&h->mu);
    pthread_cond_signal(&h->cv);
    pthread_join(t, NULL);
    semctl(h->semid, 0, IPC_RMID);
    return rc ? 1 : 0;
  }
  bu_die("unknown mode %s", mode);
  return 2;
}
