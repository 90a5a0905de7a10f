/* semsem: System V semaphore semantics, step by step, to compare DIPC with Linux.
 *
 *   semsem create KEY NSEMS  semget(KEY, NSEMS, IPC_DIPC|IPC_CREAT|0666); prints nothing.
 *   semsem run KEY           finds the set with semget(KEY, 0, IPC_DIPC) and runs a fixed
 *                            script of semop/semtimedop/semctl/semget cases against it,
 *                            printing one line per step: the call, its return value, the
 *                            errno name (0 on success) and the values read. It removes the
 *                            set at the end.
 *
 * Checks: SETVAL/GETVAL, SETALL/GETALL, single and multi-op semop, atomicity (a multi-op
 * semop whose later op would block with IPC_NOWAIT fails with EAGAIN and applies nothing,
 * the same for several ops on one semaphore), semtimedop expiry (50 ms, EAGAIN), a valid
 * timeout that is not needed, E2BIG (501 ops) and 500 ops that succeed, EFBIG (sem_num ==
 * nsems), ERANGE (semop past SEMVMX, SETVAL 40000, SETALL with 40000, a SEM_UNDO adjustment
 * past -32768), SETVAL -1, EINVAL
 * (nsops 0, bad id, tv_nsec = 2e9 with nothing applied, semnum out of range, unknown cmd),
 * wait-for-zero (EAGAIN with IPC_NOWAIT, immediate success on zero), IPC_STAT (nsems, mode,
 * whether otime/ctime are set, whether key, uid, gid, cuid, cgid are the caller's), IPC_SET
 * of the mode, EACCES after IPC_SET 0400 and 0200 (for a user without CAP_IPC_OWNER; IPC_SET
 * itself needs no read permission), GETNCNT/GETZCNT with no waiters, GETPID (only whether it is > 0:
 * a remote caller sees the owner's dipcd pid), semget with larger nsems (EINVAL), with the
 * same or zero nsems, IPC_CREAT|IPC_EXCL on the existing key (EEXIST), IPC_RMID and what
 * calls on the old id and semget of the key give afterwards.
 *
 * The output holds nothing that may legitimately differ between runs (no ids, pids or
 * times), so "create on one node, run on another" must print exactly what "create and run"
 * prints on plain Linux. The set must have 4 semaphores. Exit status: 0 when the script
 * ran (whatever the results), 1 when the set can't be found or has the wrong size, 2 on
 * bad usage, 3 when a step blocked for 25 s (it prints "NN TIMEOUT"). */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define NSEMS 4
#define BADID 0x7ffffffe
#define SEMVMX 32767

union semun {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

#include "errname.h"

static int step_no;
static int semid;
static key_t the_key;

/* One output line: "NN what -> RET ERRNO[ extra]". */
static void report(const char* what, long ret, int err, const char* extra) {
  printf("%02d %s -> %ld %s%s%s\n", ++step_no, what, ret, ret < 0 ? errname(err) : "0",
         extra && *extra ? " " : "", extra ? extra : "");
  fflush(stdout);
}

/* GETALL, reported as "vals=a,b,c,d". */
static void getall(const char* what) {
  unsigned short v[NSEMS];
  char extra[128];
  memset(v, 0xff, sizeof v);
  union semun a = {.array = v};
  int r = semctl(semid, 0, GETALL, a);
  int e = errno;
  if (r < 0)
    extra[0] = 0;
  else
    snprintf(extra, sizeof extra, "vals=%u,%u,%u,%u", v[0], v[1], v[2], v[3]);
  report(what, r, e, extra);
}

static void getval(const char* what, int semnum) {
  int r = semctl(semid, semnum, GETVAL);
  report(what, r, errno, NULL);
}

static void setval(const char* what, int semnum, int val) {
  union semun a = {.val = val};
  int r = semctl(semid, semnum, SETVAL, a);
  report(what, r, errno, NULL);
}

static void setall(const char* what, unsigned short v0, unsigned short v1, unsigned short v2,
                   unsigned short v3) {
  unsigned short v[NSEMS] = {v0, v1, v2, v3};
  union semun a = {.array = v};
  int r = semctl(semid, 0, SETALL, a);
  report(what, r, errno, NULL);
}

static void op1(const char* what, int semnum, int delta, int flags) {
  struct sembuf s = {(unsigned short)semnum, (short)delta, (short)flags};
  int r = semop(semid, &s, 1);
  report(what, r, errno, NULL);
}

static void stat_(const char* what) {
  struct semid_ds ds;
  char extra[160];
  memset(&ds, 0, sizeof ds);
  union semun a = {.buf = &ds};
  int r = semctl(semid, 0, IPC_STAT, a);
  int e = errno;
  if (r < 0)
    extra[0] = 0;
  else
    snprintf(extra, sizeof extra,
             "nsems=%lu mode=%03o otime_set=%d ctime_set=%d key_ok=%d uid_ok=%d gid_ok=%d "
             "cuid_ok=%d cgid_ok=%d",
             (unsigned long)ds.sem_nsems, (unsigned)(ds.sem_perm.mode & 0777),
             ds.sem_otime != 0, ds.sem_ctime != 0, ds.sem_perm.__key == the_key,
             ds.sem_perm.uid == geteuid(), ds.sem_perm.gid == getegid(),
             ds.sem_perm.cuid == geteuid(), ds.sem_perm.cgid == getegid());
  report(what, r, e, extra);
}

/* The set's uid and gid, read once at the start: IPC_SET must work on a set the caller may
 * no longer read (mode 0200), so it does not read them again. */
static struct semid_ds first_ds;

static void set_mode(const char* what, unsigned mode) {
  struct semid_ds ds = first_ds;
  ds.sem_perm.mode = (unsigned short)mode;
  union semun a = {.buf = &ds};
  int r = semctl(semid, 0, IPC_SET, a);
  report(what, r, errno, NULL);
}

static long elapsed_ms(const struct timespec* t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static int cmd_run(key_t key) {
  the_key = key;
  semid = semget(key, 0, IPC_DIPC);
  if (semid < 0) {
    printf("semget(KEY, 0, IPC_DIPC) -> -1 %s\n", errname(errno));
    return 1;
  }
  union semun a = {.buf = &first_ds};
  if (semctl(semid, 0, IPC_STAT, a) < 0 || first_ds.sem_nsems != NSEMS) {
    printf("the set must have %d semaphores\n", NSEMS);
    return 1;
  }
  char extra[256];
  int r, e;

  /* Fresh set. */
  stat_("semctl IPC_STAT (fresh)");
  getall("semctl GETALL (fresh)");
  for (int i = 0; i < NSEMS; i++) {
    char what[64];
    snprintf(what, sizeof what, "semctl GETNCNT sem%d (no waiters)", i);
    r = semctl(semid, i, GETNCNT);
    report(what, r, errno, NULL);
    snprintf(what, sizeof what, "semctl GETZCNT sem%d (no waiters)", i);
    r = semctl(semid, i, GETZCNT);
    report(what, r, errno, NULL);
  }

  /* SETVAL / GETVAL, SETALL / GETALL. */
  setval("semctl SETVAL sem0=5", 0, 5);
  getval("semctl GETVAL sem0", 0);
  setall("semctl SETALL 1,2,3,4", 1, 2, 3, 4);
  getall("semctl GETALL after SETALL");
  for (int i = 0; i < NSEMS; i++) {
    char what[64];
    snprintf(what, sizeof what, "semctl GETVAL sem%d", i);
    getval(what, i);
  }

  /* Single operations. */
  op1("semop sem0 -1", 0, -1, 0);
  getval("semctl GETVAL sem0", 0);
  op1("semop sem0 -1 IPC_NOWAIT (value 0)", 0, -1, IPC_NOWAIT);
  op1("semop sem3 +10", 3, 10, 0);
  op1("semop sem3 -14", 3, -14, 0);
  getall("semctl GETALL after single ops");
  r = semctl(semid, 3, GETPID);
  e = errno;
  snprintf(extra, sizeof extra, "pid_positive=%d", r > 0);
  report("semctl GETPID sem3 (after semop)", r < 0 ? r : 0, e, extra);

  /* Atomicity: the second op would block, so nothing is applied. */
  {
    struct sembuf s[2] = {{1, 1, 0}, {0, -1, IPC_NOWAIT}};
    r = semop(semid, s, 2);
    report("semop {sem1 +1, sem0 -1 IPC_NOWAIT} (sem0 is 0)", r, errno, NULL);
    getall("semctl GETALL (sem1 must be unchanged)");
  }
  {
    struct sembuf s[3] = {{2, -1, IPC_NOWAIT}, {2, -1, IPC_NOWAIT}, {2, -2, IPC_NOWAIT}};
    r = semop(semid, s, 3);
    report("semop {sem2 -1, sem2 -1, sem2 -2} IPC_NOWAIT (sem2 is 3)", r, errno, NULL);
    getall("semctl GETALL (sem2 must be unchanged)");
  }
  {
    struct sembuf s[3] = {{0, 3, 0}, {1, -2, 0}, {2, -1, 0}};
    r = semop(semid, s, 3);
    report("semop {sem0 +3, sem1 -2, sem2 -1}", r, errno, NULL);
    getall("semctl GETALL after multi-op");
  }
  {
    struct sembuf s[2] = {{2, 5, 0}, {1, 0, IPC_NOWAIT}};
    r = semop(semid, s, 2);
    report("semop {sem2 +5, sem1 wait-for-zero IPC_NOWAIT} (sem1 is 0)", r, errno, NULL);
    getall("semctl GETALL");
  }

  /* Wait-for-zero. */
  op1("semop sem0 wait-for-zero IPC_NOWAIT (sem0 is 3)", 0, 0, IPC_NOWAIT);
  op1("semop sem1 wait-for-zero (sem1 is 0)", 1, 0, 0);
  {
    struct sembuf s[2] = {{3, 1, 0}, {0, 0, IPC_NOWAIT}};
    r = semop(semid, s, 2);
    report("semop {sem3 +1, sem0 wait-for-zero IPC_NOWAIT} (sem0 is 3)", r, errno, NULL);
    getall("semctl GETALL (sem3 must be unchanged)");
  }

  /* semtimedop. */
  {
    struct sembuf s = {1, -1, 0};
    struct timespec to = {0, 50 * 1000 * 1000}, t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = semtimedop(semid, &s, 1, &to);
    e = errno;
    snprintf(extra, sizeof extra, "waited_40ms=%d", elapsed_ms(&t0) >= 40);
    report("semtimedop sem1 -1 timeout 50 ms (sem1 is 0)", r, e, extra);
  }
  {
    struct sembuf s = {0, -1, 0};
    struct timespec to = {5, 0};
    r = semtimedop(semid, &s, 1, &to);
    report("semtimedop sem0 -1 timeout 5 s (sem0 is 3)", r, errno, NULL);
  }
  {
    struct sembuf s = {2, 1, 0};
    struct timespec to = {0, 2000000000L};
    r = semtimedop(semid, &s, 1, &to);
    report("semtimedop sem2 +1 tv_nsec=2e9", r, errno, NULL);
  }
  {
    struct sembuf s = {2, 1, 0};
    struct timespec to = {-1, 0};
    r = semtimedop(semid, &s, 1, &to);
    report("semtimedop sem2 +1 tv_sec=-1", r, errno, NULL);
  }
  getall("semctl GETALL (sem2 unchanged by the bad timeouts)");

  /* Sizes and numbers. */
  {
    static struct sembuf s[501];
    for (int i = 0; i < 501; i++) s[i] = (struct sembuf){3, 1, 0};
    r = semop(semid, s, 501);
    report("semop 501 ops", r, errno, NULL);
    getval("semctl GETVAL sem3 (unchanged)", 3);
    r = semop(semid, s, 500);
    report("semop 500 ops sem3 +1", r, errno, NULL);
    getval("semctl GETVAL sem3", 3);
  }
  r = semop(semid, NULL, 0);
  report("semop nsops=0", r, errno, NULL);
  op1("semop sem_num=nsems", NSEMS, 1, 0);
  op1("semop sem_num=65535", 65535, -1, IPC_NOWAIT);
  {
    struct sembuf s[2] = {{0, 1, 0}, {NSEMS, 1, 0}};
    r = semop(semid, s, 2);
    report("semop {sem0 +1, sem_num=nsems +1}", r, errno, NULL);
  }
  getval("semctl GETVAL sem0 (unchanged)", 0);

  /* Edges the differential fuzzer found (tests/difffuzz): bad pointers are EFAULT in the
   * kernel's order (E2BIG before the sembufs are read; the timeout read first; results
   * copied out last), nsems of semget checked before any look-up. */
  {
    r = semop(semid, NULL, 501);
    report("semop NULL sops, 501 ops", r, errno, NULL);
    r = semop(semid, NULL, 1);
    report("semop NULL sops, 1 op", r, errno, NULL);
    struct sembuf s = {0, 1, 0};
    r = semtimedop(semid, &s, 1, (const struct timespec*)8);
    report("semtimedop bad timeout pointer", r, errno, NULL);
    union semun u;
    u.array = NULL;
    r = semctl(semid, 0, GETALL, u);
    report("semctl GETALL NULL", r, errno, NULL);
    r = semctl(semid, 0, SETALL, u);
    report("semctl SETALL NULL", r, errno, NULL);
    u.buf = NULL;
    r = semctl(semid, 0, IPC_STAT, u);
    report("semctl IPC_STAT NULL", r, errno, NULL);
    r = semctl(semid, 0, IPC_SET, u);
    report("semctl IPC_SET NULL", r, errno, NULL);
    r = semget(the_key + 7, -1, IPC_DIPC | 0666);
    report("semget(unused key, nsems=-1)", r < 0 ? -1 : 0, errno, NULL);
    getall("semctl GETALL (unchanged)");
  }

  /* SEMVMX. */
  setval("semctl SETVAL sem0=32767", 0, SEMVMX);
  getval("semctl GETVAL sem0", 0);
  op1("semop sem0 +1 (value 32767)", 0, 1, 0);
  {
    struct sembuf s[2] = {{1, 1, 0}, {0, 1, 0}};
    r = semop(semid, s, 2);
    report("semop {sem1 +1, sem0 +1} (sem0 is 32767)", r, errno, NULL);
  }
  getall("semctl GETALL (nothing applied)");
  setval("semctl SETVAL sem0=40000", 0, 40000);
  setval("semctl SETVAL sem0=32768", 0, 32768);
  setval("semctl SETVAL sem0=-1", 0, -1);
  setall("semctl SETALL 1,40000,1,1", 1, 40000, 1, 1);
  getall("semctl GETALL (unchanged)");
  setval("semctl SETVAL sem0=0", 0, 0);
  op1("semop sem0 +32767", 0, SEMVMX, 0);
  op1("semop sem0 +1 (value 32767)", 0, 1, 0);
  op1("semop sem0 -32767", 0, -SEMVMX, 0);

  /* SEM_UNDO adjustments in range (-32768..32767 in Linux); SETVAL clears them. */
  setval("semctl SETVAL sem3=0", 3, 0);
  op1("semop sem3 +20000 SEM_UNDO", 3, 20000, SEM_UNDO);
  op1("semop sem3 -20000", 3, -20000, 0);
  op1("semop sem3 +20000 SEM_UNDO (adjustment would be -40000)", 3, 20000, SEM_UNDO);
  getval("semctl GETVAL sem3", 3);
  setval("semctl SETVAL sem3=0", 3, 0);
  op1("semop sem3 +32767 SEM_UNDO", 3, SEMVMX, SEM_UNDO);
  op1("semop sem3 -32767", 3, -SEMVMX, 0);
  op1("semop sem3 +1 SEM_UNDO (adjustment -32768)", 3, 1, SEM_UNDO);
  op1("semop sem3 +1 SEM_UNDO (adjustment -32769)", 3, 1, SEM_UNDO);
  getval("semctl GETVAL sem3", 3);
  op1("semop sem3 -1 SEM_UNDO IPC_NOWAIT", 3, -1, SEM_UNDO | IPC_NOWAIT);
  setval("semctl SETVAL sem3=32767", 3, SEMVMX);
  op1("semop sem3 -32767 SEM_UNDO (adjustment 32767)", 3, -SEMVMX, SEM_UNDO);
  /* Linux finds that the op would block before it checks the adjustment. */
  op1("semop sem3 -1 SEM_UNDO IPC_NOWAIT (value 0, adjustment would be 32768)", 3, -1,
      SEM_UNDO | IPC_NOWAIT);
  op1("semop sem3 +1", 3, 1, 0);
  op1("semop sem3 -1 SEM_UNDO IPC_NOWAIT (adjustment would be 32768)", 3, -1,
      SEM_UNDO | IPC_NOWAIT);
  getval("semctl GETVAL sem3", 3);
  setval("semctl SETVAL sem3=500", 3, 500);

  /* EINVAL. */
  {
    struct sembuf s = {0, 1, 0};
    r = semop(BADID, &s, 1);
    report("semop bad id", r, errno, NULL);
    r = semop(-1, &s, 1);
    report("semop id -1", r, errno, NULL);
    struct timespec to = {0, 1000000};
    r = semtimedop(BADID, &s, 1, &to);
    report("semtimedop bad id", r, errno, NULL);
  }
  r = semctl(BADID, 0, GETVAL);
  report("semctl GETVAL bad id", r, errno, NULL);
  getval("semctl GETVAL semnum=nsems", NSEMS);
  getval("semctl GETVAL semnum=-1", -1);
  setval("semctl SETVAL semnum=nsems", NSEMS, 1);
  r = semctl(semid, NSEMS, GETNCNT);
  report("semctl GETNCNT semnum=nsems", r, errno, NULL);
  r = semctl(semid, NSEMS, GETZCNT);
  report("semctl GETZCNT semnum=nsems", r, errno, NULL);
  r = semctl(semid, NSEMS, GETPID);
  report("semctl GETPID semnum=nsems", r, errno, NULL);
  r = semctl(semid, 0, 12345);
  report("semctl cmd 12345", r, errno, NULL);

  /* IPC_STAT, IPC_SET. */
  stat_("semctl IPC_STAT");
  set_mode("semctl IPC_SET mode 0640", 0640);
  stat_("semctl IPC_STAT");
  set_mode("semctl IPC_SET mode 0400", 0400);
  stat_("semctl IPC_STAT");
  getval("semctl GETVAL sem0 (mode 0400)", 0);
  op1("semop sem0 +1 (mode 0400)", 0, 1, 0);
  setval("semctl SETVAL sem0=1 (mode 0400)", 0, 1);
  set_mode("semctl IPC_SET mode 0200", 0200);
  getval("semctl GETVAL sem0 (mode 0200)", 0);
  set_mode("semctl IPC_SET mode 0666", 0666);
  stat_("semctl IPC_STAT");
  getall("semctl GETALL");

  /* semget on the existing key. */
  r = semget(key, NSEMS + 1, IPC_DIPC);
  e = errno;
  report("semget(KEY, nsems+1, IPC_DIPC)", r < 0 ? r : 0, e, NULL);
  r = semget(key, NSEMS, IPC_DIPC);
  e = errno;
  snprintf(extra, sizeof extra, "same_id=%d", r == semid);
  report("semget(KEY, nsems, IPC_DIPC)", r < 0 ? r : 0, e, extra);
  r = semget(key, 2, IPC_DIPC | 0600);
  e = errno;
  snprintf(extra, sizeof extra, "same_id=%d", r == semid);
  report("semget(KEY, 2, IPC_DIPC|0600)", r < 0 ? r : 0, e, extra);
  r = semget(key, 0, IPC_DIPC | IPC_CREAT | 0666);
  e = errno;
  snprintf(extra, sizeof extra, "same_id=%d", r == semid);
  report("semget(KEY, 0, IPC_DIPC|IPC_CREAT)", r < 0 ? r : 0, e, extra);
  r = semget(key, NSEMS, IPC_DIPC | IPC_CREAT | IPC_EXCL | 0666);
  e = errno;
  report("semget(KEY, nsems, IPC_DIPC|IPC_CREAT|IPC_EXCL)", r < 0 ? r : 0, e, NULL);

  /* IPC_RMID, then calls on the old id. */
  r = semctl(semid, 0, IPC_RMID);
  report("semctl IPC_RMID", r, errno, NULL);
  op1("semop sem0 +1 after IPC_RMID", 0, 1, 0);
  op1("semop sem0 -1 IPC_NOWAIT after IPC_RMID", 0, -1, IPC_NOWAIT);
  getval("semctl GETVAL after IPC_RMID", 0);
  r = semctl(semid, 0, IPC_RMID);
  report("semctl IPC_RMID again", r, errno, NULL);
  r = semget(key, 0, IPC_DIPC);
  e = errno;
  report("semget(KEY, 0, IPC_DIPC) after IPC_RMID", r < 0 ? r : 0, e, NULL);
  return 0;
}

/* A call that blocks where Linux would not: say where, and leave. */
static void on_alarm(int sig) {
  (void)sig;
  char line[64];
  int n = snprintf(line, sizeof line, "%02d TIMEOUT: the next step did not return\n", step_no + 1);
  if (write(STDOUT_FILENO, line, (size_t)n) < 0) _exit(3);
  _exit(3);
}

static long num(const char* s) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 0);
  if (errno || end == s || *end) {
    fprintf(stderr, "semsem: bad number %s\n", s);
    exit(2);
  }
  return v;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "create") == 0) {
    if (semget((key_t)num(argv[2]), (int)num(argv[3]), IPC_DIPC | IPC_CREAT | 0666) < 0) {
      printf("semget IPC_CREAT -> -1 %s\n", errname(errno));
      return 1;
    }
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "run") == 0) {
    signal(SIGALRM, on_alarm);
    alarm(25); /* bounded, whatever a call does */
    return cmd_run((key_t)num(argv[2]));
  }
  fprintf(stderr, "usage: semsem create KEY NSEMS | semsem run KEY\n");
  return 2;
}
