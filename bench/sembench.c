/* sembench: System V semaphore timings, with or without DIPC.
 *
 * A plain libc program: run it with the shim or without; IPC_DIPC is the only
 * DIPC-specific thing in it.
 *
 *   sembench pv [--dipc] [--key K] [--open] [timing]
 *       Uncontended P then V (two semop calls, sem_op -1 then +1, no IPC_NOWAIT, no
 *       SEM_UNDO) on semaphore 0 of a one-semaphore set. Without --open the program
 *       creates the set (IPC_CREAT|IPC_EXCL, with IPC_DIPC when --dipc), sets it to 1 and
 *       removes it at the end; with --open it uses the set with key K made elsewhere
 *       (semget(K, 1, IPC_DIPC), retried for up to 10 s) and leaves it. Reports the time
 *       of ONE semop call (the P+V pair time / 2).
 *
 *   sembench make --key K [--nsems N] [--val V]      creates a distributed set, sets
 *                                                    every semaphore to V, exits
 *   sembench rm --key K                              removes the distributed set K
 *
 *   sembench ping --key K [timing]      two-node semaphore ping-pong, measuring side:
 *       creates a distributed set of 2 semaphores (both 0) and loops V(s0) P(s1); at the
 *       end removes the set (which ends pong with EIDRM). Reports one round trip.
 *   sembench pong --key K [--limit S]   the other side: opens the set (retried) and loops
 *       P(s0) V(s1) until the set is removed.
 *
 * Timing options (benchutil.h): --warm MS --dur MS --reps R --cpu C --limit S,
 * --turn-in FIFO --turn-out FIFO (take turns with another benchmark).
 * Output: "median_us X min_us Y max_us Z reps R iters N". */
#include "benchutil.h"

#include <sys/ipc.h>
#include <sys/sem.h>

#include <dipc/dipc.h>

union semun {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

struct ctx {
  int id;
};

static int pv_once(void* v) {
  struct ctx* c = v;
  struct sembuf p = {0, -1, 0}, q = {0, 1, 0};
  if (semop(c->id, &p, 1) != 0) return -1;
  if (semop(c->id, &q, 1) != 0) return -1;
  return 0;
}

static int ping_once(void* v) {
  struct ctx* c = v;
  struct sembuf vs0 = {0, 1, 0}, ps1 = {1, -1, 0};
  if (semop(c->id, &vs0, 1) != 0) return -1;
  if (semop(c->id, &ps1, 1) != 0) return -1;
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: sembench pv [--dipc] [--key K] [--open] [timing]\n"
          "       sembench make --key K [--nsems N] [--val V]\n"
          "       sembench rm --key K\n"
          "       sembench ping|pong --key K [timing]\n"
          "timing: --warm MS --dur MS --reps R --cpu C --limit S --turn-in F --turn-out F\n");
  exit(2);
}

static int open_set(int key, int nsems) {
  for (int i = 0; i < 1000; ++i) {
    int id = semget(key, nsems, IPC_DIPC);
    if (id >= 0) return id;
    if (errno != ENOENT) bu_die("semget(%d, IPC_DIPC): %s", key, strerror(errno));
    usleep(10000);
  }
  bu_die("semaphore set %d never appeared", key);
  return -1;
}

static int make_set(int key, int nsems, int val, int dipc) {
  int id = semget(key, nsems, IPC_CREAT | IPC_EXCL | 0600 | (dipc ? IPC_DIPC : 0));
  if (id < 0) bu_die("semget(%d, IPC_CREAT|IPC_EXCL%s): %s", key, dipc ? "|IPC_DIPC" : "",
                     strerror(errno));
  for (int i = 0; i < nsems; ++i) {
    union semun u = {.val = val};
    if (semctl(id, i, SETVAL, u) != 0) bu_die("semctl SETVAL: %s", strerror(errno));
  }
  return id;
}

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const char* mode = argv[1];
  struct bu_opts o;
  bu_defaults(&o);
  int dipc = 0, existing = 0, key = 0x53420000, nsems = 1, val = 1;
  for (int i = 2; i < argc; ++i) {
    if (bu_common_opt(&o, argc, argv, &i)) continue;
    const char* a = argv[i];
    if (!strcmp(a, "--dipc")) dipc = 1;
    else if (!strcmp(a, "--open")) existing = 1;
    else if (i + 1 >= argc) usage();
    else if (!strcmp(a, "--key")) key = bu_int(argv[++i], a);
    else if (!strcmp(a, "--nsems")) nsems = bu_int(argv[++i], a);
    else if (!strcmp(a, "--val")) val = bu_int(argv[++i], a);
    else usage();
  }
  bu_check(&o);
  struct ctx c;

  if (!strcmp(mode, "make")) {
    make_set(key, nsems, val, 1);
    return 0;
  }
  if (!strcmp(mode, "rm")) {
    int id = semget(key, 0, IPC_DIPC);
    if (id < 0 || semctl(id, 0, IPC_RMID) != 0) bu_die("remove %d: %s", key, strerror(errno));
    return 0;
  }
  if (!strcmp(mode, "pv")) {
    c.id = existing ? open_set(key, 1) : make_set(key, 1, 1, dipc);
    bu_pin(o.cpu);
    /* One iteration is a P+V pair; scale by 1/2 to report one semop. */
    int rc = bu_measure_scaled(&o, pv_once, &c, 0.5);
    if (rc < 0) fprintf(stderr, "sembench pv: semop failed: %s\n", strerror(errno));
    if (!existing) semctl(c.id, 0, IPC_RMID);
    return rc < 0 ? 1 : 0;
  }
  if (!strcmp(mode, "ping")) {
    c.id = make_set(key, 2, 0, 1);
    bu_pin(o.cpu);
    int rc = bu_measure(&o, ping_once, &c);
    if (rc < 0) fprintf(stderr, "sembench ping: semop failed: %s\n", strerror(errno));
    semctl(c.id, 0, IPC_RMID);
    return rc < 0 ? 1 : 0;
  }
  if (!strcmp(mode, "pong")) {
    c.id = open_set(key, 2);
    bu_pin(o.cpu);
    struct sembuf ps0 = {0, -1, 0}, vs1 = {1, 1, 0};
    for (int step = 0;; step ^= 1) {
      while (semop(c.id, step ? &vs1 : &ps0, 1) != 0) {
        if (errno == EINTR) continue;
        if (errno == EIDRM || errno == EINVAL) return 0;
        fprintf(stderr, "sembench pong: semop: %s\n", strerror(errno));
        return 1;
      }
    }
  }
  usage();
  return 2;
}
