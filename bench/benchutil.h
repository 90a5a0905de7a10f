/* Shared helpers of the DIPC benchmark programs (bench/NAME.c): option parsing, CPU pinning,
 * time-bounded repetitions and the median.
 *
 * Every benchmark measures the same way: a warm-up of --warm ms, then --reps repetitions
 * of --dur ms each (the loop checks the clock every few iterations, so a repetition never
 * runs much past its time); each repetition gives the mean time of one iteration, and the
 * program prints the median of the repetitions on one line (below). With --turn-in F1
 * --turn-out F2 (two FIFOs) the program takes turns with another one started with the
 * FIFOs swapped: each waits for a token before its warm-up and before each repetition
 * and passes it on after, so the two are timed in alternating slices, never at once.
 *
 *     median_us 7.12 min_us 6.98 max_us 7.40 reps 5 iters 210345
 *
 * (iters: iterations timed over all repetitions). bench/run.sh reads median_us.
 * Header-only; plain C11 and libc. */
#ifndef DIPC_BENCHUTIL_H
#define DIPC_BENCHUTIL_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BU_MAX_REPS 64

struct bu_opts {
  int warm_ms;    /* warm-up */
  int dur_ms;     /* one repetition */
  int reps;       /* repetitions */
  int cpu;        /* pin the measuring process here (-1: leave as is) */
  int cpu2;       /* pin the second (forked or echoing) process here (-1: leave as is) */
  int limit_s;    /* hard limit on the program's life (alarm) */
  const char* turn_in;   /* FIFO: wait for a token here before each timed slice */
  const char* turn_out;  /* FIFO: pass the token on here after each slice */
  int in_fd, out_fd;
};

static inline void bu_defaults(struct bu_opts* o) {
  o->warm_ms = 200;
  o->dur_ms = 300;
  o->reps = 5;
  o->cpu = -1;
  o->cpu2 = -1;
  o->limit_s = 60;
  o->turn_in = o->turn_out = NULL;
  o->in_fd = o->out_fd = -1;
}

static inline void bu_die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static inline int bu_int(const char* s, const char* what) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 0);
  if (errno || *end || end == s || v < -2147483647L || v > 2147483647L)
    bu_die("bad %s: %s", what, s);
  return (int)v;
}

/* Parses the common timing options at argv[*i]; returns 1 when it took one (and its value). */
static inline int bu_common_opt(struct bu_opts* o, int argc, char** argv, int* i) {
  const char* a = argv[*i];
  int* dst = NULL;
  if (!strcmp(a, "--warm")) dst = &o->warm_ms;
  else if (!strcmp(a, "--dur")) dst = &o->dur_ms;
  else if (!strcmp(a, "--reps")) dst = &o->reps;
  else if (!strcmp(a, "--cpu")) dst = &o->cpu;
  else if (!strcmp(a, "--cpu2")) dst = &o->cpu2;
  else if (!strcmp(a, "--limit")) dst = &o->limit_s;
  if (!strcmp(a, "--turn-in") || !strcmp(a, "--turn-out")) {
    if (*i + 1 >= argc) bu_die("%s needs a value", a);
    if (a[7] == 'i') o->turn_in = argv[++*i];
    else o->turn_out = argv[++*i];
    return 1;
  }
  if (dst == NULL) return 0;
  if (*i + 1 >= argc) bu_die("%s needs a value", a);
  *dst = bu_int(argv[++*i], a);
  return 1;
}

static inline void bu_check(struct bu_opts* o) {
  if (o->reps < 1) o->reps = 1;
  if (o->reps > BU_MAX_REPS) o->reps = BU_MAX_REPS;
  if (o->dur_ms < 1) o->dur_ms = 1;
  if (o->warm_ms < 0) o->warm_ms = 0;
  if (o->limit_s > 0) alarm((unsigned)o->limit_s);
  if ((o->turn_in == NULL) != (o->turn_out == NULL)) bu_die("--turn-in needs --turn-out");
  if (o->turn_in) {
    /* O_RDWR: opening a FIFO so never blocks, and a token written stays buffered. */
    o->in_fd = open(o->turn_in, O_RDWR | O_CLOEXEC);
    o->out_fd = open(o->turn_out, O_RDWR | O_CLOEXEC);
    if (o->in_fd < 0 || o->out_fd < 0) bu_die("turn FIFOs: %s", strerror(errno));
  }
}

/* Taking turns with another benchmark program (--turn-in/--turn-out): the two programs
 * time their slices alternately, so that a drift in the machine's load hits both. */
static inline void bu_turn_wait(const struct bu_opts* o) {
  char c;
  if (o->in_fd < 0) return;
  while (read(o->in_fd, &c, 1) != 1)
    if (errno != EINTR) bu_die("turn: %s", strerror(errno));
}

static inline void bu_turn_pass(const struct bu_opts* o) {
  char c = 't';
  if (o->out_fd < 0) return;
  while (write(o->out_fd, &c, 1) != 1)
    if (errno != EINTR) bu_die("turn: %s", strerror(errno));
}

/* Writes "PORT\n" to path atomically (path.tmp, then rename): a reader never sees half. */
static inline void bu_write_portfile(const char* path, int port) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE* f = fopen(tmp, "w");
  if (f == NULL) bu_die("%s: %s", tmp, strerror(errno));
  fprintf(f, "%d\n", port);
  if (fclose(f) != 0 || rename(tmp, path) != 0) bu_die("%s: %s", path, strerror(errno));
}

static inline void bu_pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) bu_die("sched_setaffinity(%d): %s", cpu, strerror(errno));
}

static inline uint64_t bu_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bu_cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

/* One iteration of the measured loop; returns 0, or -1 to abort (errno says why). */
typedef int (*bu_iter_fn)(void* ctx);

/* Runs fn for warm_ms, then reps x dur_ms; prints the result line on stdout, each time
 * multiplied by scale (0.5 when an iteration is two of the operations reported). Returns 0,
 * or -1 when an iteration failed. */
static inline int bu_measure_scaled(const struct bu_opts* o, bu_iter_fn fn, void* ctx,
                                    double scale) {
  double per[BU_MAX_REPS];
  uint64_t total = 0;
  bu_turn_wait(o);
  uint64_t end = bu_now_ns() + (uint64_t)o->warm_ms * 1000000ull;
  do {
    for (int k = 0; k < 16; ++k)
      if (fn(ctx) < 0) goto fail;
  } while (bu_now_ns() < end);
  for (int r = 0; r < o->reps; ++r) {
    if (o->in_fd >= 0) {
      bu_turn_pass(o);
      bu_turn_wait(o);
      /* a few untimed iterations: the peer processes were asleep during the other's turn */
      for (int k = 0; k < 16; ++k)
        if (fn(ctx) < 0) goto fail;
    }
    uint64_t t0 = bu_now_ns(), t1;
    uint64_t stop = t0 + (uint64_t)o->dur_ms * 1000000ull;
    uint64_t n = 0;
    do {
      for (int k = 0; k < 16; ++k)
        if (fn(ctx) < 0) goto fail;
      n += 16;
      t1 = bu_now_ns();
    } while (t1 < stop);
    per[r] = scale * (double)(t1 - t0) / 1000.0 / (double)n;
    total += n;
  }
  bu_turn_pass(o);
  double sorted[BU_MAX_REPS];
  memcpy(sorted, per, sizeof(double) * (size_t)o->reps);
  qsort(sorted, (size_t)o->reps, sizeof(double), bu_cmp_double);
  double med = (o->reps % 2) ? sorted[o->reps / 2]
                             : (sorted[o->reps / 2 - 1] + sorted[o->reps / 2]) / 2.0;
  printf("median_us %.2f min_us %.2f max_us %.2f reps %d iters %llu\n", med, sorted[0],
         sorted[o->reps - 1], o->reps, (unsigned long long)total);
  fflush(stdout);
  return 0;
fail:
  bu_turn_pass(o); /* let the other program go on alone */
  return -1;
}

static inline int bu_measure(const struct bu_opts* o, bu_iter_fn fn, void* ctx) {
  return bu_measure_scaled(o, fn, ctx, 1.0);
}

#endif
