/* semtool: small System V semaphore commands for the multi-node scenarios in tests/cluster.
 * Each command prints its result on stdout: OK, a value, or the errno name of the call that
 * failed (EIDRM, EINTR, EAGAIN, ...).
 *
 * A set S is named by its key (found with semget(KEY, 0, IPC_DIPC)) or, as "id:N", by an id
 * obtained earlier on the same node (to check what later calls on an old id return). A
 * failing semget prints "semget ERRNO" (msgget likewise for queues).
 *
 *   semtool mk KEY NSEMS VAL        semget(KEY, NSEMS, IPC_DIPC|IPC_CREAT|0666), then every
 *                                   semaphore set to VAL (SETALL): OK or ERRNO
 *   semtool id KEY                  semget(KEY, 0, IPC_DIPC): the id, or ERRNO
 *   semtool getval S SEMNUM         GETVAL: the value, or ERRNO
 *   semtool getall S                GETALL: the values separated by commas, or ERRNO
 *   semtool setval S SEMNUM VAL     SETVAL: OK or ERRNO
 *   semtool ncnt S SEMNUM           GETNCNT: the count, or ERRNO
 *   semtool zcnt S SEMNUM           GETZCNT: the count, or ERRNO
 *   semtool op S SEMNUM DELTA [FL]  one semop; FL holds "u" (SEM_UNDO) and/or "n"
 *                                   (IPC_NOWAIT), "-" for none: OK or ERRNO
 *   semtool wait S SEMNUM [TIMEOUT_S [PIDFILE]]
 *                                   blocking P (sem_op -1, no SEM_UNDO): OK or ERRNO (EINTR
 *                                   after SIGUSR1, EIDRM, ...). Writes its pid to PIDFILE
 *                                   once its SIGUSR1 handler is installed, just before semop.
 *   semtool hold S SEMNUM PIDFILE [exit|TIMEOUT_S]
 *                                   P with SEM_UNDO; once it holds the semaphore, prints HELD
 *                                   and writes its pid to PIDFILE; then with "exit" it exits
 *                                   0 at once (no V: SEM_UNDO gives the semaphore back),
 *                                   otherwise it sleeps until killed (TIMEOUT after
 *                                   TIMEOUT_S, default 60). A failing P prints its ERRNO.
 *   semtool lock S QKEY N [TIMEOUT_S [GOFILE]]   (with GOFILE: writes GOFILE.PID, then waits for GOFILE)
 *                                   With GOFILE: first waits (bounded by TIMEOUT_S) until
 *                                   that file exists, so that several nodes start together.
 *                                   Then N times: P(sem 0, SEM_UNDO); take the one message of the
 *                                   queue QKEY (msgget(QKEY, IPC_DIPC)), whose text is a
 *                                   count, with IPC_NOWAIT (under the lock it must be there);
 *                                   send count+1; V(sem 0, SEM_UNDO). Prints "DONE N".
 *   semtool produce S QKEY PREFIX N [TIMEOUT_S]
 *                                   N times: P(sem 0, "empty"); msgsnd "PREFIX-i" (type 1)
 *                                   to QKEY; V(sem 1, "full"). Prints "DONE N".
 *   semtool consume S QKEY N [TIMEOUT_S]
 *                                   N times: P(sem 1); msgrcv any message from QKEY with
 *                                   IPC_NOWAIT (a full slot holds one); print its text on a
 *                                   line; V(sem 0). Then prints "DONE N".
 *   semtool opsig S SEMNUM DELTA PID DELAY_US
 *                                   one semop (no flags) and SIGUSR1 to PID as close together
 *                                   as a test can make them: DELAY_US >= 0 operates, waits
 *                                   DELAY_US and signals; DELAY_US < 0 signals, waits
 *                                   -DELAY_US and operates. OK or the semop ERRNO (a PID that
 *                                   is already gone is no error).
 *   semtool rmid S                  IPC_RMID: OK or ERRNO
 *
 * lock/produce/consume print "FAIL STEP ITERATION ERRNO" and exit 1 when a call fails.
 * SIGUSR1 has a handler WITHOUT SA_RESTART that only sets a flag, so a blocked call returns
 * EINTR exactly as on Linux. SIGALRM after TIMEOUT_S (default 20 s; every command is
 * bounded) prints TIMEOUT and exits 3. Exit status: 0 when a result line was printed
 * (whatever it says), 1 when a loop failed, 2 on bad usage, 3 on TIMEOUT, 4 when the test
 * set-up itself failed. */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAXSEMS 256
#define MAXTEXT 256

union semun {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

struct msgbuf_small {
  long mtype;
  char mtext[MAXTEXT + 1];
};

#include "testprog.h"

static void usage(void) {
  fprintf(stderr,
          "usage: semtool mk KEY NSEMS VAL | id KEY | getval S N | getall S | chown S UID MODE | setval S N VAL\n"
          "       | ncnt S N | zcnt S N | op S N DELTA [FLAGS] | wait S N [TIMEOUT_S [PIDFILE]]\n"
          "       | hold S N PIDFILE [exit|TIMEOUT_S] | lock S QKEY COUNT [TIMEOUT_S [GOFILE]]\n"
          "       | produce S QKEY PREFIX COUNT [TIMEOUT_S] | consume S QKEY COUNT [TIMEOUT_S]\n"
          "       | opsig S N DELTA PID DELAY_US | rmid S        (S is KEY or id:ID)\n");
  exit(2);
}

/* S: "id:N" or a key. Returns the id, or prints "semget ERRNO" and returns -1. */
static int set_of(const char* s) {
  if (strncmp(s, "id:", 3) == 0) return (int)num(s + 3, 0);
  int id = semget((key_t)num(s, 0), 0, IPC_DIPC);
  return id < 0 ? get_failed("semget") : id;
}

static int one_op(int id, int semnum, int delta, int flags) {
  struct sembuf s = {(unsigned short)semnum, (short)delta, (short)flags};
  return semop(id, &s, 1);
}

static int loop_fail(const char* step, long i, int e) {
  printf("FAIL %s %ld %s\n", step, i, errname(e));
  fflush(stdout);
  return 1;
}

static int cmd_lock(int id, int q, long n, const char* go) {
  struct msgbuf_small m;
  if (go) {
    /* GOFILE.PID says this loop waits for the start, so the script starts all at once. */
    char ready[4096];
    snprintf(ready, sizeof ready, "%s.%d", go, (int)getpid());
    int fd = open(ready, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    struct timespec pause_ = {0, 200 * 1000};
    while (access(go, F_OK) != 0) nanosleep(&pause_, NULL); /* SIGALRM bounds it */
  }
  for (long i = 1; i <= n; i++) {
    if (one_op(id, 0, -1, SEM_UNDO) < 0) return loop_fail("P", i, errno);
    ssize_t len = msgrcv(q, &m, MAXTEXT, 0, IPC_NOWAIT);
    if (len < 0) return loop_fail("msgrcv", i, errno);
    m.mtext[len] = 0;
    char* end;
    long count = strtol(m.mtext, &end, 10);
    if (end == m.mtext || *end) {
      printf("FAIL parse %ld [%s]\n", i, m.mtext);
      return 1;
    }
    m.mtype = 1;
    int l = snprintf(m.mtext, sizeof m.mtext, "%ld", count + 1);
    if (msgsnd(q, &m, (size_t)l, IPC_NOWAIT) < 0) return loop_fail("msgsnd", i, errno);
    if (one_op(id, 0, 1, SEM_UNDO) < 0) return loop_fail("V", i, errno);
  }
  printf("DONE %ld\n", n);
  fflush(stdout);
  return 0;
}

static int cmd_produce(int id, int q, const char* prefix, long n) {
  struct msgbuf_small m;
  for (long i = 1; i <= n; i++) {
    if (one_op(id, 0, -1, 0) < 0) return loop_fail("P(empty)", i, errno);
    m.mtype = 1;
    int l = snprintf(m.mtext, sizeof m.mtext, "%s-%ld", prefix, i);
    if (msgsnd(q, &m, (size_t)l, IPC_NOWAIT) < 0) return loop_fail("msgsnd", i, errno);
    if (one_op(id, 1, 1, 0) < 0) return loop_fail("V(full)", i, errno);
  }
  printf("DONE %ld\n", n);
  fflush(stdout);
  return 0;
}

static int cmd_consume(int id, int q, long n) {
  struct msgbuf_small m;
  for (long i = 1; i <= n; i++) {
    if (one_op(id, 1, -1, 0) < 0) return loop_fail("P(full)", i, errno);
    ssize_t len = msgrcv(q, &m, MAXTEXT, 0, IPC_NOWAIT);
    if (len < 0) return loop_fail("msgrcv", i, errno);
    printf("%.*s\n", (int)len, m.mtext);
    if (one_op(id, 0, 1, 0) < 0) return loop_fail("V(empty)", i, errno);
  }
  printf("DONE %ld\n", n);
  fflush(stdout);
  return 0;
}

static int cmd_hold(int id, int semnum, const char* pidfile, int exit_at_once) {
  if (one_op(id, semnum, -1, SEM_UNDO) < 0) return result_errno(errno);
  result("HELD");
  write_pid(pidfile);
  if (exit_at_once) exit(0);
  for (int i = 0; i < 100000; i++) pause(); /* until killed or SIGALRM */
  return 0;
}

static unsigned timeout_arg(const char* s) {
  long t = num(s, 0);
  if (t <= 0 || t > 3600) usage();
  return (unsigned)t;
}

int main(int argc, char** argv) {
  if (argc < 3) usage();
  const char* cmd = argv[1];
  unsigned timeout_s = 20;
  if (strcmp(cmd, "wait") == 0 && argc >= 5) timeout_s = timeout_arg(argv[4]);
  if (strcmp(cmd, "hold") == 0) {
    timeout_s = 60;
    if (argc == 6 && strcmp(argv[5], "exit") != 0) timeout_s = timeout_arg(argv[5]);
  }
  if ((strcmp(cmd, "lock") == 0 && argc >= 6) || (strcmp(cmd, "consume") == 0 && argc == 6))
    timeout_s = timeout_arg(argv[5]);
  if (strcmp(cmd, "produce") == 0 && argc == 7) timeout_s = timeout_arg(argv[6]);

  /* SIGUSR1: flag only, no SA_RESTART, so a blocked call returns EINTR. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  if (sigaction(SIGUSR1, &sa, NULL) < 0) return 4;
  sa.sa_handler = on_alarm;
  if (sigaction(SIGALRM, &sa, NULL) < 0) return 4;
  alarm(timeout_s);

  if (strcmp(cmd, "mk") == 0 && argc == 5) {
    long nsems = num(argv[3], 0), val = num(argv[4], 0);
    if (nsems <= 0 || nsems > MAXSEMS) usage();
    int id = semget((key_t)num(argv[2], 0), (int)nsems, IPC_DIPC | IPC_CREAT | 0666);
    if (id < 0) return result_errno(errno);
    unsigned short v[MAXSEMS];
    for (long i = 0; i < nsems; i++) v[i] = (unsigned short)val;
    union semun a = {.array = v};
    if (semctl(id, 0, SETALL, a) < 0) return result_errno(errno);
    return result("OK");
  }
  if (strcmp(cmd, "id") == 0 && argc == 3) {
    int id = semget((key_t)num(argv[2], 0), 0, IPC_DIPC);
    if (id < 0) return result_errno(errno);
    return result_long(id);
  }
  if (strcmp(cmd, "rmid") == 0 && argc == 3) {
    int id = set_of(argv[2]);
    if (id < 0) return 0;
    if (semctl(id, 0, IPC_RMID) < 0) return result_errno(errno);
    return result("OK");
  }
  if (strcmp(cmd, "chown") == 0 && argc == 5) { /* chown KEY UID MODE: IPC_SET */
    int id = set_of(argv[2]);
    if (id < 0) return 0;
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    if (semctl(id, 0, IPC_STAT, a) < 0) return result_errno(errno);
    ds.sem_perm.uid = (uid_t)num(argv[3], 0);
    ds.sem_perm.mode = (unsigned short)strtol(argv[4], NULL, 8);
    if (semctl(id, 0, IPC_SET, a) < 0) return result_errno(errno);
    return result("OK");
  }
  if (strcmp(cmd, "getall") == 0 && argc == 3) {
    int id = set_of(argv[2]);
    if (id < 0) return 0;
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    if (semctl(id, 0, IPC_STAT, a) < 0) return result_errno(errno);
    if (ds.sem_nsems > MAXSEMS) return 4;
    unsigned short v[MAXSEMS];
    a.array = v;
    if (semctl(id, 0, GETALL, a) < 0) return result_errno(errno);
    char line[MAXSEMS * 7 + 1];
    size_t o = 0;
    for (unsigned long i = 0; i < ds.sem_nsems; i++)
      o += (size_t)snprintf(line + o, sizeof line - o, "%s%u", i ? "," : "", v[i]);
    return result(line);
  }
  if (argc < 4) usage();
  int id = -1;
  if (strcmp(cmd, "getval") == 0 || strcmp(cmd, "ncnt") == 0 || strcmp(cmd, "zcnt") == 0) {
    if (argc != 4) usage();
    int c = cmd[0] == 'g' ? GETVAL : cmd[0] == 'n' ? GETNCNT : GETZCNT;
    int semnum = (int)num(argv[3], 0);
    if ((id = set_of(argv[2])) < 0) return 0;
    int r = semctl(id, semnum, c);
    if (r < 0) return result_errno(errno);
    return result_long(r);
  }
  if (strcmp(cmd, "setval") == 0 && argc == 5) {
    int semnum = (int)num(argv[3], 0);
    union semun a = {.val = (int)num(argv[4], 0)};
    if ((id = set_of(argv[2])) < 0) return 0;
    if (semctl(id, semnum, SETVAL, a) < 0) return result_errno(errno);
    return result("OK");
  }
  if (strcmp(cmd, "op") == 0 && (argc == 5 || argc == 6)) {
    int semnum = (int)num(argv[3], 0), delta = (int)num(argv[4], 0), flags = 0;
    if (argc == 6) {
      for (const char* f = argv[5]; *f; f++) {
        if (*f == 'u')
          flags |= SEM_UNDO;
        else if (*f == 'n')
          flags |= IPC_NOWAIT;
        else if (*f != '-')
          usage();
      }
    }
    if ((id = set_of(argv[2])) < 0) return 0;
    if (one_op(id, semnum, delta, flags) < 0) return result_errno(errno);
    return result("OK");
  }
  if (strcmp(cmd, "opsig") == 0 && argc == 7) {
    int semnum = (int)num(argv[3], 0), delta = (int)num(argv[4], 0);
    pid_t pid = (pid_t)num(argv[5], 0);
    long delay_us = num(argv[6], 0);
    if (pid <= 0 || delay_us < -1000000 || delay_us > 1000000) usage();
    if ((id = set_of(argv[2])) < 0) return 0;
    struct timespec d = {labs(delay_us) / 1000000, labs(delay_us) % 1000000 * 1000};
    int r, e = 0;
    if (delay_us < 0) {
      if (kill(pid, SIGUSR1) < 0 && errno != ESRCH) perror("semtool: kill");
      nanosleep(&d, NULL);
      r = one_op(id, semnum, delta, 0);
      e = errno;
    } else {
      r = one_op(id, semnum, delta, 0);
      e = errno;
      if (delay_us > 0) nanosleep(&d, NULL);
      if (kill(pid, SIGUSR1) < 0 && errno != ESRCH) perror("semtool: kill");
    }
    if (r < 0) return result_errno(e);
    return result("OK");
  }
  if (strcmp(cmd, "wait") == 0 && argc >= 4 && argc <= 6) {
    int semnum = (int)num(argv[3], 0);
    if ((id = set_of(argv[2])) < 0) return 0;
    if (argc == 6) write_pid(argv[5]);
    if (one_op(id, semnum, -1, 0) < 0) return result_errno(errno);
    return result("OK");
  }
  if (strcmp(cmd, "hold") == 0 && (argc == 5 || argc == 6)) {
    int semnum = (int)num(argv[3], 0);
    if ((id = set_of(argv[2])) < 0) return 0;
    return cmd_hold(id, semnum, argv[4], argc == 6 && strcmp(argv[5], "exit") == 0);
  }
  if (strcmp(cmd, "lock") == 0 && argc >= 5 && argc <= 7) {
    long n = num(argv[4], 0);
    int q;
    if ((id = set_of(argv[2])) < 0 || (q = queue_of(argv[3])) < 0) return 1;
    return cmd_lock(id, q, n, argc == 7 ? argv[6] : NULL);
  }
  if (strcmp(cmd, "produce") == 0 && (argc == 6 || argc == 7)) {
    long n = num(argv[5], 0);
    int q;
    if ((id = set_of(argv[2])) < 0 || (q = queue_of(argv[3])) < 0) return 1;
    return cmd_produce(id, q, argv[4], n);
  }
  if (strcmp(cmd, "consume") == 0 && (argc == 5 || argc == 6)) {
    long n = num(argv[4], 0);
    int q;
    if ((id = set_of(argv[2])) < 0 || (q = queue_of(argv[3])) < 0) return 1;
    return cmd_consume(id, q, n);
  }
  usage();
  return 2;
}
