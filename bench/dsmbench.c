/* dsmbench: distributed shared memory figures (bench/dsm.sh runs them beside baselines).
 *
 *   dsmbench fill KEY PAGES          on the owner: make the segment (IPC_DIPC, PAGES 4 KiB
 *                                    pages) and store into every page, so the owner holds
 *                                    them all
 *   dsmbench read KEY PAGES [STRIDE] on another node: attach and read one word of every
 *                                    STRIDE-th page (default 1: every page, in order), once.
 *                                    With STRIDE 2 each page read is one remote read fault
 *                                    (no read-ahead: it follows sequential faults only); with
 *                                    1 it is a sequential read. Prints "us_per_page X
 *                                    mib_per_s Y" (per page read)
 *   dsmbench write KEY PAGES         attach and store one word into every page, in order,
 *                                    once (on the owner after two other nodes read them:
 *                                    each store is a write fault that must invalidate two
 *                                    readers). Prints "us_per_page X"
 *   dsmbench local KEY PAGES LOOPS   on the owner: after a first touch of every page, LOOPS
 *                                    passes reading one word per 64 bytes of the segment,
 *                                    then the same over a plain (IPC_PRIVATE) System V
 *                                    segment of the same size, taking turns 5 times.
 *                                    Prints "dsm_us X sysv_us Y ratio Z" (one pass, medians)
 *   dsmbench turns KEY WHO N         N times: wait (yielding) for word 1 == WHO, store, pass the turn
 *                                    to 1-WHO (two nodes writing one page alternately).
 *                                    WHO 0 prints "us_per_turn X"
 * Plain System V calls; runs without DIPC too (then nothing is remote). */
#include "benchutil.h"

#include <sys/ipc.h>
#include <sys/shm.h>

#ifndef IPC_DIPC
#define IPC_DIPC 00010000
#endif
#define PAGE 4096

static char* attach_key(long key, size_t size, int create) {
  int id = shmget((key_t)key, size, IPC_DIPC | (create ? IPC_CREAT | 0666 : 0));
  if (id < 0) bu_die("shmget: %s", strerror(errno));
  char* p = shmat(id, NULL, 0);
  if (p == (void*)-1) bu_die("shmat: %s", strerror(errno));
  return p;
}

static int cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

static uint64_t pass(volatile char* p, size_t size) {
  uint64_t t0 = bu_now_ns(), sum = 0;
  for (size_t off = 0; off < size; off += 64) sum += *(volatile uint64_t*)(p + off);
  if (sum == 42) fprintf(stderr, " ");  /* keeps the loop */
  return bu_now_ns() - t0;
}

int main(int argc, char** argv) {
  if (argc < 4) bu_die("usage: dsmbench fill|read|local|turns KEY ...");
  const char* cmd = argv[1];
  long key = bu_int(argv[2], "KEY");
  alarm(120);
  if (!strcmp(cmd, "fill")) {
    long pages = bu_int(argv[3], "PAGES");
    char* p = attach_key(key, (size_t)pages * PAGE, 1);
    for (long i = 0; i < pages; ++i) *(volatile uint64_t*)(p + i * PAGE) = (uint64_t)i;
    return shmdt(p);
  }
  if (!strcmp(cmd, "read")) {
    long pages = bu_int(argv[3], "PAGES");
    long stride = argc > 4 ? bu_int(argv[4], "STRIDE") : 1;
    if (stride < 1) stride = 1;
    char* p = attach_key(key, 0, 0);
    uint64_t t0 = bu_now_ns(), sum = 0, want = 0;
    long n = 0;
    for (long i = 0; i < pages; i += stride, ++n) {
      sum += *(volatile uint64_t*)(p + i * PAGE);
      want += (uint64_t)i;
    }
    uint64_t ns = bu_now_ns() - t0;
    if (sum != want) bu_die("wrong data: sum %llu, want %llu", (unsigned long long)sum, (unsigned long long)want);
    if (n == 0) n = 1;
    printf("us_per_page %.2f mib_per_s %.1f\n", (double)ns / 1e3 / (double)n,
           (double)n * PAGE / (1 << 20) / ((double)ns / 1e9));
    return 0;
  }
  if (!strcmp(cmd, "write")) {
    long pages = bu_int(argv[3], "PAGES");
    char* p = attach_key(key, 0, 0);
    uint64_t t0 = bu_now_ns();
    for (long i = 0; i < pages; ++i) *(volatile uint64_t*)(p + i * PAGE + 8) = (uint64_t)i;
    uint64_t ns = bu_now_ns() - t0;
    printf("us_per_page %.2f\n", (double)ns / 1e3 / (double)(pages > 0 ? pages : 1));
    return 0;
  }
  if (!strcmp(cmd, "local") && argc == 5) {
    long pages = bu_int(argv[3], "PAGES"), loops = bu_int(argv[4], "LOOPS");
    size_t size = (size_t)pages * PAGE;
    char* d = attach_key(key, size, 1);
    int pid = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
    if (pid < 0) bu_die("shmget(IPC_PRIVATE): %s", strerror(errno));
    char* s = shmat(pid, NULL, 0);
    shmctl(pid, IPC_RMID, NULL);
    if (s == (void*)-1) bu_die("shmat: %s", strerror(errno));
    for (size_t off = 0; off < size; off += PAGE) d[off] = s[off] = 1;  /* first touch */
    uint64_t dt[5], st[5];
    for (int r = 0; r < 5; ++r) {
      uint64_t a = 0, b = 0;
      for (long l = 0; l < loops; ++l) a += pass(d, size);
      for (long l = 0; l < loops; ++l) b += pass(s, size);
      dt[r] = a / (uint64_t)loops;
      st[r] = b / (uint64_t)loops;
    }
    qsort(dt, 5, sizeof dt[0], cmp_u64);
    qsort(st, 5, sizeof st[0], cmp_u64);
    printf("dsm_us %.1f sysv_us %.1f ratio %.3f\n", (double)dt[2] / 1e3, (double)st[2] / 1e3,
           (double)dt[2] / (double)st[2]);
    return 0;
  }
  if (!strcmp(cmd, "turns") && argc == 5) {
    uint64_t who = (uint64_t)bu_int(argv[3], "WHO");
    long n = bu_int(argv[4], "N");
    volatile uint64_t* w = (volatile uint64_t*)attach_key(key, PAGE, 1);
    uint64_t t0 = bu_now_ns();
    for (long i = 0; i < n; ++i) {
      while (w[1] != who) sched_yield();  /* the daemons may share this CPU */
      w[0] = w[0] + 1;
      w[1] = 1 - who;
    }
    if (who == 0) printf("us_per_turn %.2f\n", (double)(bu_now_ns() - t0) / 1e3 / (double)n);
    return 0;
  }
  bu_die("unknown command %s", cmd);
  return 2;
}
