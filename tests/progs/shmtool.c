/* shmtool: one shared-memory action per run, for the DSM scenarios (tests/cluster/shm_*.sh).
 * Plain System V calls with IPC_DIPC; runs without DIPC too. Each prints one result line.
 *
 *   shmtool mk KEY SIZE [MODE]          shmget(IPC_CREAT|IPC_DIPC): "OK" or the errno name
 *   shmtool get KEY SIZE                shmget(IPC_DIPC) without IPC_CREAT
 *   shmtool put KEY OFF VALUE           attach, store the 64-bit VALUE at byte OFF, detach
 *   shmtool store KEY OFF VALUE         the same, "SIGBUS" if the store raised it
 *   shmtool peek KEY OFF                attach, print the 64-bit value at OFF ("SIGBUS" if the
 *                                       access raised it), detach
 *   shmtool peekro KEY OFF              the same through an SHM_RDONLY attachment
 *   shmtool storero KEY OFF             store through SHM_RDONLY: "SIGSEGV" expected
 *   shmtool add KEY SEMKEY N            N times: P(semaphore 0 of SEMKEY), counter at 0 += 1
 *                                       (read, pause, write), V; prints "DONE N"
 *   shmtool seqwrite KEY N [US]         stores 1..N in every word of page 0 in order (word 0
 *                                       first), pausing US microseconds after each value;
 *                                       then prints "DONE N"
 *   shmtool seqread KEY N               reads page 0 until it shows N; every read must find
 *                                       all words equal and never smaller than before:
 *                                       "OK reads" or "TORN"/"BACKWARDS"
 *   shmtool pages KEY WHO NWHO PAGES R [US]  R rounds (pausing US microseconds after each):
 *                                       adds 1 to word 0 of each page p with p % NWHO == WHO;
 *                                       then checks them: "DONE"
 *   shmtool sumpages KEY PAGES          sum of word 0 over PAGES pages
 *   shmtool fillpat KEY PAGES SEED      fills every word of PAGES pages with a value of its
 *                                       page, word and SEED: "OK"
 *   shmtool checkpat KEY PAGES SEED N   N threads (1..64) check fillpat's pattern, thread t
 *                                       the pages p with p % N == t, in order, all at once:
 *                                       "OK", or "BAD page P word W" for the first wrong word
 *   shmtool upgrade KEY PAGES SEED      reads page 0, then stores fillpat's own value into
 *                                       the last page (a write while the rest of a large
 *                                       grant may still be on its way), then checks every
 *                                       page as checkpat does
 *   shmtool sys KEY                     write(2) from the segment into a pipe and read(2)
 *                                       from it into another place of the segment:
 *                                       "OK" when the bytes arrived
 *   shmtool syscheck KEY                the bytes sys copied are there (another node)
 *   shmtool msg KEY QKEY                msgsnd of a message that lies in the segment (page 10
 *                                       on) to queue QKEY (IPC_DIPC|IPC_CREAT), msgrcv of it
 *                                       into the segment (page 12 on): "OK" when it arrived
 *   shmtool fork KEY OFF                fork; the child reads OFF, stores it + 1 at OFF+8
 *                                       and exits; the parent prints the child's value
 *   shmtool threads KEY N               N threads each add 1000 to their own page's word,
 *                                       under no lock; prints the sum
 *   shmtool hold KEY OFF VALUE FILE     store VALUE at OFF, write FILE, then wait forever
 *   shmtool rmid KEY                    shmctl(IPC_RMID) of the segment with KEY
 *   shmtool stat KEY                    "nattch=N dest=0|1 size=S" from IPC_STAT
 *   shmtool setmode KEY MODE            IPC_SET of the mode (octal), then IPC_STAT: the new
 *                                       mode in octal, or the errno name of the failing call
 *   shmtool attwait KEY FILE            attach, write FILE, wait until FILE disappears, read
 *                                       word 0 and print it, detach
 *   shmtool attwaitro KEY FILE          the same through an SHM_RDONLY attachment
 *   shmtool addr KEY                    attach at a chosen address, SHM_RND, SHM_REMAP rules
 *   shmtool pieces KEY SMALLKEY         attach KEY (at least 64 KiB) at a free place, then
 *                                       SMALLKEY (one page) with SHM_REMAP 16 KiB into it,
 *                                       which cuts KEY's attachment in two; a forked child
 *                                       reads KEY's word at 32 KiB and stores it + 1 at
 *                                       40 KiB, and SMALLKEY's word 0 + 1 at its word 1;
 *                                       prints shm_nattch of both (before, in the child,
 *                                       after it), both stores, and shmdt's effects; then
 *                                       the same cut by a plain segment's SHM_REMAP
 *   shmtool execsleep KEY FILE          attach, write FILE, wait until FILE disappears, then
 *                                       exec sleep 20 (which attaches nothing): the exec must
 *                                       detach
 *   shmtool pipeout KEY OFF             write(2) of the 8 bytes at OFF into a pipe: "OK" or the
 *                                       errno name (EFAULT for a page that cannot be had)
 *   shmtool survive KEY FILE            attach, read page 0, write FILE, wait until FILE
 *                                       disappears, then read page 0 and page 1: prints
 *                                       "VALUE0 VALUE1", SIGBUS in place of a value that
 *                                       could not be had
 *   shmtool turns KEY WHO N [P]         N times: wait until word 1 is WHO, add 1 to word 0,
 *                                       pass the turn to (WHO+1) % P (P players, default 2;
 *                                       no lock but DSM)
 */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

#define PAGE 4096

static sigjmp_buf jb;
static volatile sig_atomic_t caught;

static void on_fault(int sig) {
  caught = sig;
  siglongjmp(jb, 1);
}

static long num(const char* s) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 0);
  if (errno || end == s || *end) {
    fprintf(stderr, "shmtool: bad number %s\n", s);
    exit(2);
  }
  return v;
}

static int out(const char* s) {
  printf("%s\n", s);
  fflush(stdout);
  return 0;
}

static int fail_errno(const char* what) {
  int e = errno;
  fprintf(stderr, "shmtool: %s: %s\n", what, strerror(e));
  return out(errname(e)), 1;
}

static int seg(long key) {
  int id = shmget((key_t)key, 0, IPC_DIPC);
  if (id < 0) {
    fail_errno("shmget");
    exit(1);
  }
  return id;
}

static void* att(int id, int flags) {
  void* p = shmat(id, NULL, flags);
  if (p == (void*)-1) {
    fail_errno("shmat");
    exit(1);
  }
  return p;
}

static void catch_faults(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sigaction(SIGBUS, &sa, NULL);
  sigaction(SIGSEGV, &sa, NULL);
}

static void semop1(int sem, int op) {
  struct sembuf b = {0, (short)op, SEM_UNDO};
  while (semop(sem, &b, 1) < 0) {
    if (errno == EINTR) continue;
    fail_errno("semop");
    exit(1);
  }
}

struct thr {
  volatile uint64_t* p;
};
static void* thread_add(void* arg) {
  struct thr* t = arg;
  for (int i = 0; i < 1000; ++i) *t->p += 1;
  return NULL;
}

static uint64_t pat(long page, long word, long seed) {
  return ((uint64_t)seed << 48) ^ ((uint64_t)page << 16) ^ (uint64_t)word;
}
struct chk {
  volatile uint64_t* base;
  long pages, seed, first, step, bad_page, bad_word;
};
static void* thread_check(void* arg) {
  struct chk* c = arg;
  for (long pg = c->first; pg < c->pages; pg += c->step)
    for (long w = 0; w < PAGE / 8; ++w)
      if (c->base[pg * (PAGE / 8) + w] != pat(pg, w, c->seed)) {
        c->bad_page = pg;
        c->bad_word = w;
        return NULL;
      }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: shmtool ACTION KEY ...\n");
    return 2;
  }
  const char* a = argv[1];
  long key = num(argv[2]);
  alarm(60);
  if (!strcmp(a, "mk") || !strcmp(a, "get")) {
    if (argc < 4) return 2;
    int mode = argc > 4 ? (int)num(argv[4]) : 0666;
    int fl = IPC_DIPC | (!strcmp(a, "mk") ? IPC_CREAT | mode : 0);
    if (shmget((key_t)key, (size_t)num(argv[3]), fl) < 0) return out(errname(errno));
    return out("OK");
  }
  if (!strcmp(a, "rmid")) {
    if (shmctl(seg(key), IPC_RMID, NULL) < 0) return fail_errno("shmctl");
    return out("OK");
  }
  if (!strcmp(a, "stat")) {
    struct shmid_ds ds;
    if (shmctl(seg(key), IPC_STAT, &ds) < 0) return fail_errno("shmctl");
    printf("nattch=%lu dest=%d size=%zu\n", (unsigned long)ds.shm_nattch,
           (ds.shm_perm.mode & SHM_DEST) ? 1 : 0, ds.shm_segsz);
    return 0;
  }
  if (!strcmp(a, "setmode") && argc == 4) {
    struct shmid_ds ds;
    int id = seg(key);
    if (shmctl(id, IPC_STAT, &ds) < 0) return out(errname(errno));
    ds.shm_perm.mode = (unsigned short)strtol(argv[3], NULL, 8);
    if (shmctl(id, IPC_SET, &ds) < 0) return out(errname(errno));
    if (shmctl(id, IPC_STAT, &ds) < 0) return out(errname(errno));
    printf("%o\n", ds.shm_perm.mode & 0777);
    return 0;
  }
  int id = seg(key);
  if (!strcmp(a, "put") && argc == 5) {
    char* p = att(id, 0);
    *(volatile uint64_t*)(p + num(argv[3])) = (uint64_t)num(argv[4]);
    shmdt(p);
    return out("OK");
  }
  if ((!strcmp(a, "peek") || !strcmp(a, "peekro")) && argc == 4) {
    char* p = att(id, !strcmp(a, "peekro") ? SHM_RDONLY : 0);
    catch_faults();
    if (sigsetjmp(jb, 1)) return out(caught == SIGBUS ? "SIGBUS" : "SIGSEGV");
    uint64_t v = *(volatile uint64_t*)(p + num(argv[3]));
    printf("%llu\n", (unsigned long long)v);
    shmdt(p);
    return 0;
  }
  if (!strcmp(a, "store") && argc == 5) {
    char* p = att(id, 0);
    catch_faults();
    if (sigsetjmp(jb, 1)) return out(caught == SIGBUS ? "SIGBUS" : "SIGSEGV");
    *(volatile uint64_t*)(p + num(argv[3])) = (uint64_t)num(argv[4]);
    shmdt(p);
    return out("OK");
  }
  if (!strcmp(a, "storero") && argc == 4) {
    char* p = att(id, SHM_RDONLY);
    catch_faults();
    if (sigsetjmp(jb, 1)) return out(caught == SIGBUS ? "SIGBUS" : "SIGSEGV");
    *(volatile uint64_t*)(p + num(argv[3])) = 1;
    return out("STORED");
  }
  if (!strcmp(a, "add") && argc == 5) {
    int sem = semget((key_t)num(argv[3]), 1, IPC_DIPC);
    if (sem < 0) return fail_errno("semget");
    long n = num(argv[4]);
    volatile uint64_t* c = att(id, 0);
    for (long i = 0; i < n; ++i) {
      semop1(sem, -1);
      uint64_t v = *c;
      sched_yield();
      *c = v + 1;
      semop1(sem, 1);
    }
    printf("DONE %ld\n", n);
    return 0;
  }
  if (!strcmp(a, "seqwrite") && (argc == 4 || argc == 5)) {
    long n = num(argv[3]);
    long us = argc == 5 ? num(argv[4]) : 0;
    volatile uint64_t* w = att(id, 0);
    for (long v = 1; v <= n; ++v) {
      for (int i = 0; i < PAGE / 8; ++i) w[i] = (uint64_t)v;
      if (us) usleep((useconds_t)us);
    }
    printf("DONE %ld\n", n);
    return 0;
  }
  if (!strcmp(a, "seqread") && argc == 4) {
    /* The writer stores v into words 0..511 in order, so any snapshot of the page has
     * word i >= word j for i < j; read from the top down (later reads of lower words), the
     * values must never decrease, and no word may ever go back in time. */
    uint64_t n = (uint64_t)num(argv[3]);
    static uint64_t last[PAGE / 8];
    long passes = 0;
    volatile uint64_t* w = att(id, SHM_RDONLY);
    for (;;) {
      uint64_t prev = 0;
      for (int i = PAGE / 8 - 1; i >= 0; --i) {
        uint64_t x = w[i];
        if (x < prev) {
          printf("TORN word %d %llu after %llu\n", i, (unsigned long long)x, (unsigned long long)prev);
          return 1;
        }
        if (x < last[i]) {
          printf("BACKWARDS word %d %llu after %llu\n", i, (unsigned long long)x,
                 (unsigned long long)last[i]);
          return 1;
        }
        prev = last[i] = x;
      }
      ++passes;
      if (last[PAGE / 8 - 1] >= n) break;
    }
    printf("OK %s\n", passes > 1 ? "many" : "one");
    return 0;
  }
  if (!strcmp(a, "pages") && (argc == 7 || argc == 8)) {
    long who = num(argv[3]), nwho = num(argv[4]), pages = num(argv[5]), rounds = num(argv[6]);
    long us = argc == 8 ? num(argv[7]) : 0;
    volatile char* p = att(id, 0);
    for (long r = 0; r < rounds; ++r) {
      for (long pg = who; pg < pages; pg += nwho) *(volatile uint64_t*)(p + pg * PAGE) += 1;
      if (us) usleep((useconds_t)us);
    }
    for (long pg = who; pg < pages; pg += nwho)
      if (*(volatile uint64_t*)(p + pg * PAGE) < (uint64_t)rounds) return out("SHORT");
    return out("DONE");
  }
  if (!strcmp(a, "sumpages") && argc == 4) {
    long pages = num(argv[3]);
    volatile char* p = att(id, 0);
    unsigned long long sum = 0;
    for (long pg = 0; pg < pages; ++pg) sum += *(volatile uint64_t*)(p + pg * PAGE);
    printf("%llu\n", sum);
    return 0;
  }
  if (!strcmp(a, "fillpat") && argc == 5) {
    long pages = num(argv[3]), seed = num(argv[4]);
    volatile uint64_t* p = (volatile uint64_t*)att(id, 0);
    for (long pg = 0; pg < pages; ++pg)
      for (long w = 0; w < PAGE / 8; ++w) p[pg * (PAGE / 8) + w] = pat(pg, w, seed);
    return out("OK");
  }
  if (!strcmp(a, "upgrade") && argc == 5) {
    long pages = num(argv[3]), seed = num(argv[4]);
    volatile uint64_t* p = (volatile uint64_t*)att(id, 0);
    if (p[0] != pat(0, 0, seed)) return out("BAD page 0 word 0");
    p[(pages - 1) * (PAGE / 8)] = pat(pages - 1, 0, seed);
    struct chk c = {p, pages, seed, 0, 1, -1, -1};
    thread_check(&c);
    if (c.bad_page >= 0) {
      printf("BAD page %ld word %ld\n", c.bad_page, c.bad_word);
      return 1;
    }
    return out("OK");
  }
  if (!strcmp(a, "checkpat") && argc == 6) {
    long pages = num(argv[3]), seed = num(argv[4]), n = num(argv[5]);
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    volatile uint64_t* p = (volatile uint64_t*)att(id, 0);
    pthread_t t[64];
    struct chk c[64];
    for (long i = 0; i < n; ++i) {
      c[i] = (struct chk){p, pages, seed, i, n, -1, -1};
      pthread_create(&t[i], NULL, thread_check, &c[i]);
    }
    long bad = -1, word = -1;
    for (long i = 0; i < n; ++i) {
      pthread_join(t[i], NULL);
      if (c[i].bad_page >= 0 && (bad < 0 || c[i].bad_page < bad)) {
        bad = c[i].bad_page;
        word = c[i].bad_word;
      }
    }
    if (bad >= 0) {
      printf("BAD page %ld word %ld\n", bad, word);
      return 1;
    }
    return out("OK");
  }
  if (!strcmp(a, "sys") || !strcmp(a, "syscheck")) {
    char* p = att(id, 0);
    char* src = p + 3 * PAGE + 100;
    char* dst = p + 7 * PAGE + 5;
    if (!strcmp(a, "syscheck")) return out(memcmp(src, dst, 2 * PAGE) == 0 && src[0] == 'A' ? "OK" : "DIFFERENT");
    for (int i = 0; i < 2 * PAGE; ++i) src[i] = (char)('A' + i % 26);
    int fds[2];
    if (pipe(fds) < 0) return fail_errno("pipe");
    if (fork() == 0) {  /* drains the pipe so that the two-page write never blocks */
      char buf[2 * PAGE];
      size_t got = 0;
      while (got < sizeof buf) {
        ssize_t k = read(fds[0], buf + got, sizeof buf - got);
        if (k <= 0) _exit(1);
        got += (size_t)k;
      }
      int back[2] = {-1, -1};
      (void)back;
      _exit(write(fds[1], buf, sizeof buf) == (ssize_t)sizeof buf ? 0 : 1);
    }
    /* write(2) from the segment: the kernel reads it for us. */
    if (write(fds[1], src, 2 * PAGE) != 2 * PAGE) return fail_errno("write");
    int st;
    wait(&st);
    /* read(2) into the segment: the kernel writes it for us. */
    size_t got = 0;
    while (got < 2 * PAGE) {
      ssize_t k = read(fds[0], dst + got, 2 * PAGE - got);
      if (k <= 0) return fail_errno("read");
      got += (size_t)k;
    }
    return out(memcmp(src, dst, 2 * PAGE) == 0 ? "OK" : "DIFFERENT");
  }
  if (!strcmp(a, "msg") && argc == 4) {
    int q = msgget((key_t)num(argv[3]), IPC_DIPC | IPC_CREAT | 0666);
    if (q < 0) return fail_errno("msgget");
    char* p = att(id, 0);
    long* snd = (long*)(p + 10 * PAGE);
    long* rcv = (long*)(p + 12 * PAGE);
    snd[0] = 7;
    for (int i = 0; i < 1000; ++i) ((char*)(snd + 1))[i] = (char)('a' + i % 23);
    if (msgsnd(q, snd, 1000, 0) < 0) return fail_errno("msgsnd");
    ssize_t got = msgrcv(q, rcv, 1000, 7, 0);
    if (got != 1000) return fail_errno("msgrcv");
    return out(rcv[0] == 7 && !memcmp(rcv + 1, snd + 1, 1000) ? "OK" : "DIFFERENT");
  }
  if (!strcmp(a, "fork") && argc == 4) {
    char* p = att(id, 0);
    long off = num(argv[3]);
    pid_t c = fork();
    if (c == 0) {
      uint64_t v = *(volatile uint64_t*)(p + off);
      *(volatile uint64_t*)(p + off + 8) = v + 1;
      _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return out("CHILD FAILED");
    printf("%llu\n", (unsigned long long)*(volatile uint64_t*)(p + off + 8));
    return 0;
  }
  if (!strcmp(a, "threads") && argc == 4) {
    int n = (int)num(argv[3]);
    char* p = att(id, 0);
    pthread_t t[64];
    struct thr th[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; ++i) {
      th[i].p = (volatile uint64_t*)(p + (size_t)i * PAGE);
      pthread_create(&t[i], NULL, thread_add, &th[i]);
    }
    unsigned long long sum = 0;
    for (int i = 0; i < n; ++i) {
      pthread_join(t[i], NULL);
      sum += *th[i].p;
    }
    printf("%llu\n", sum);
    return 0;
  }
  if (!strcmp(a, "hold") && argc == 6) {
    char* p = att(id, 0);
    *(volatile uint64_t*)(p + num(argv[3])) = (uint64_t)num(argv[4]);
    FILE* f = fopen(argv[5], "w");
    if (f) fclose(f);
    for (;;) pause();
  }
  if ((!strcmp(a, "attwait") || !strcmp(a, "attwaitro")) && argc == 4) {
    volatile uint64_t* p = (volatile uint64_t*)att(id, !strcmp(a, "attwaitro") ? SHM_RDONLY : 0);
    FILE* f = fopen(argv[3], "w");
    if (f) fclose(f);
    struct stat st;
    for (int i = 0; i < 3000 && stat(argv[3], &st) == 0; ++i) usleep(10000);
    printf("%llu\n", (unsigned long long)p[0]);
    shmdt((void*)p);
    return 0;
  }
  if (!strcmp(a, "turns") && (argc == 5 || argc == 6)) {
    uint64_t who = (uint64_t)num(argv[3]);
    uint64_t players = argc == 6 ? (uint64_t)num(argv[5]) : 2;
    long n = num(argv[4]);
    volatile uint64_t* w = att(id, 0);
    for (long i = 0; i < n; ++i) {
      while (w[1] != who) {
      }
      w[0] = w[0] + 1;
      w[1] = (who + 1) % players;
    }
    printf("DONE %ld\n", n);
    return 0;
  }
  if (!strcmp(a, "execsleep") && argc == 4) {
    volatile uint64_t* p = att(id, 0);
    (void)p[0];
    FILE* f = fopen(argv[3], "w");
    if (f) fclose(f);
    struct stat st;
    for (int i = 0; i < 3000 && stat(argv[3], &st) == 0; ++i) usleep(10000);
    execl("/bin/sleep", "sleep", "20", (char*)NULL);
    return fail_errno("execl");
  }
  if (!strcmp(a, "pipeout") && argc == 4) {
    char* p = att(id, 0);
    int fds[2];
    if (pipe(fds) < 0) return fail_errno("pipe");
    if (write(fds[1], p + num(argv[3]), 8) != 8) return out(errname(errno));
    return out("OK");
  }
  if (!strcmp(a, "survive") && argc == 4) {
    volatile char* p = att(id, 0);
    uint64_t v0 = *(volatile uint64_t*)p;
    FILE* f = fopen(argv[3], "w");
    if (f) fclose(f);
    struct stat st;
    for (int i = 0; i < 3000 && stat(argv[3], &st) == 0; ++i) usleep(10000);
    catch_faults();
    char r0[32], r1[32];
    if (sigsetjmp(jb, 1)) {
      snprintf(r0, sizeof r0, "%s", caught == SIGBUS ? "SIGBUS" : "SIGSEGV");
    } else {
      v0 = *(volatile uint64_t*)p;
      snprintf(r0, sizeof r0, "%llu", (unsigned long long)v0);
    }
    if (sigsetjmp(jb, 1)) {
      snprintf(r1, sizeof r1, "%s", caught == SIGBUS ? "SIGBUS" : "SIGSEGV");
    } else {
      uint64_t v1 = *(volatile uint64_t*)(p + PAGE);
      snprintf(r1, sizeof r1, "%llu", (unsigned long long)v1);
    }
    printf("%s %s\n", r0, r1);
    return 0;
  }
  if (!strcmp(a, "pieces") && argc == 4) {
    int small = seg(num(argv[3]));
    char* spot = mmap(NULL, 1024 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (spot == MAP_FAILED) return fail_errno("mmap");
    munmap(spot, 1024 * PAGE);
    char* big = shmat(id, spot, 0);
    if (big != spot) return fail_errno("shmat");
    char* hole = shmat(small, spot + 4 * PAGE, SHM_REMAP);
    if (hole != spot + 4 * PAGE) return fail_errno("shmat SHM_REMAP");
    struct shmid_ds db, ds;
    char res[512] = "", w[96];
#define NATTCH(tag)                                                                   \
  do {                                                                                \
    if (shmctl(id, IPC_STAT, &db) < 0 || shmctl(small, IPC_STAT, &ds) < 0)            \
      return fail_errno("shmctl");                                                    \
    snprintf(w, sizeof w, "%s%s=%lu/%lu", res[0] ? " " : "", tag,                     \
             (unsigned long)db.shm_nattch, (unsigned long)ds.shm_nattch);             \
    strcat(res, w);                                                                   \
  } while (0)
    NATTCH("cut");
    int fds[2];
    if (pipe(fds) < 0) return fail_errno("pipe");
    pid_t c = fork();
    if (c == 0) {
      close(fds[0]);
      uint64_t v = *(volatile uint64_t*)(big + 8 * PAGE);
      *(volatile uint64_t*)(big + 10 * PAGE) = v + 1;
      uint64_t h = *(volatile uint64_t*)hole;
      *(volatile uint64_t*)(hole + 8) = h + 1;
      if (shmctl(id, IPC_STAT, &db) < 0 || shmctl(small, IPC_STAT, &ds) < 0) _exit(1);
      char line[64];
      int n = snprintf(line, sizeof line, "child=%lu/%lu", (unsigned long)db.shm_nattch,
                       (unsigned long)ds.shm_nattch);
      if (write(fds[1], line, (size_t)n) != n) _exit(1);
      _exit(0);
    }
    close(fds[1]);
    char line[64] = "";
    ssize_t n = read(fds[0], line, sizeof line - 1);
    int st;
    waitpid(c, &st, 0);
    if (n <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return out("CHILD FAILED");
    line[n] = 0;
    strcat(res, " ");
    strcat(res, line);
    NATTCH("after");
    snprintf(w, sizeof w, " stores=%llu/%llu", (unsigned long long)*(volatile uint64_t*)(big + 10 * PAGE),
             (unsigned long long)*(volatile uint64_t*)(hole + 8));
    strcat(res, w);
    strcat(res, shmdt(spot) == 0 ? " DT" : " NODT");
    NATTCH("dt");
    strcat(res, shmdt(spot + 4 * PAGE) == 0 ? " DT" : " NODT");
    NATTCH("dt");
    /* A plain (not distributed) segment mapped with SHM_REMAP inside the attachment. */
    int plain = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
    if (plain < 0) return fail_errno("shmget IPC_PRIVATE");
    spot = mmap(NULL, 1024 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (spot == MAP_FAILED) return fail_errno("mmap");
    munmap(spot, 1024 * PAGE);
    if (shmat(id, spot, 0) != spot || shmat(plain, spot + 4 * PAGE, SHM_REMAP) != spot + 4 * PAGE)
      return fail_errno("shmat plain");
    shmctl(plain, IPC_RMID, NULL);  /* gone with its detach */
    NATTCH("plain");
    strcat(res, shmdt(spot) == 0 ? " DT" : " NODT");
    strcat(res, shmdt(spot + 4 * PAGE) == 0 ? " DT" : " NODT");
    NATTCH("dt");
#undef NATTCH
    return out(res);
  }
  if (!strcmp(a, "addr")) {
    /* A free, aligned place: reserve and release it. */
    char* spot = mmap(NULL, 1024 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(spot, 1024 * PAGE);
    char res[256] = "";
    void* p = shmat(id, spot + 1, 0);
    strcat(res, p == (void*)-1 ? errname(errno) : "ATTACHED");
    p = shmat(id, spot + 1, SHM_RND);
    strcat(res, p == spot ? " RND" : " NORND");
    void* q = shmat(id, spot, 0);
    strcat(res, q == (void*)-1 ? (errno == EINVAL ? " OVERLAP_EINVAL" : " OVERLAP_OTHER") : " OVERLAP_OK");
    q = shmat(id, spot, SHM_REMAP);
    strcat(res, q == spot ? " REMAP" : " NOREMAP");
    q = shmat(id, NULL, SHM_REMAP);
    strcat(res, q == (void*)-1 && errno == EINVAL ? " REMAPNULL_EINVAL" : " REMAPNULL_OTHER");
    *(volatile int*)spot = 42;
    strcat(res, shmdt(spot) == 0 ? " DT" : " NODT");
    strcat(res, shmdt(spot + 1) < 0 && errno == EINVAL ? " DT_EINVAL" : " DT_OTHER");
    return out(res);
  }
  fprintf(stderr, "shmtool: unknown action %s\n", a);
  return 2;
}
