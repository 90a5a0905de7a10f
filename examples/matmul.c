/* matmul: C = A x B with the rows of C computed by processes on several nodes, in one
 * distributed segment, checked against a one-process product.
 *
 *   matmul init N         create the segment (key 61) for N x N matrices A, B, C and a
 *                         "done" word per worker, fill A and B
 *   matmul work W K       worker W of K (0 <= W < K): compute the rows r of C with
 *                         r % K == W, then mark itself done
 *   matmul check K        wait until the K workers are done, compare C with a product
 *                         computed here alone: prints "OK N x N, K workers" or the first
 *                         difference; also the time from init to the last worker
 *   matmul rm             remove the segment
 *
 * The matrices are doubles filled with small integers, so the products are exact and any
 * difference is an error, never rounding. Page mode lets workers on different nodes write
 * their rows at once. Runs unchanged without DIPC. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#ifndef IPC_DIPC
#define IPC_DIPC 00010000
#endif

#define SHM_KEY 61
#define MAX_WORKERS 64

struct head {
  long n;
  long start_ns;                     /* when init filled the matrices */
  volatile long done[MAX_WORKERS];   /* worker w's end time in ns, 0 until then */
  char pad[4096 - 2 * sizeof(long) - MAX_WORKERS * sizeof(long)];
};

static int die(const char* what) {
  fprintf(stderr, "matmul: %s: %s\n", what, strerror(errno));
  return 1;
}

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static double* mat(struct head* h, int which) {
  return (double*)((char*)h + sizeof *h) + (size_t)which * (size_t)h->n * (size_t)h->n;
}

int main(int argc, char** argv) {
  const char* cmd = argc > 1 ? argv[1] : "";
  if (strcmp(cmd, "init") == 0 && argc == 3) {
    long n = atol(argv[2]);
    if (n < 1 || n > 2048) return fprintf(stderr, "matmul: N in 1..2048\n"), 2;
    size_t size = sizeof(struct head) + 3 * (size_t)n * (size_t)n * sizeof(double);
    int id = shmget(SHM_KEY, size, IPC_DIPC | IPC_CREAT | IPC_EXCL | 0666);
    if (id < 0) return die("shmget");
    struct head* h = shmat(id, NULL, 0);
    if (h == (void*)-1) return die("shmat");
    h->n = n;
    double *a = mat(h, 0), *b = mat(h, 1);
    for (long i = 0; i < n * n; ++i) {
      a[i] = (double)(i % 7) - 3;
      b[i] = (double)((i * 5) % 11) - 5;
    }
    h->start_ns = now_ns();
    return shmdt(h) < 0 ? die("shmdt") : 0;
  }
  int id = shmget(SHM_KEY, 0, IPC_DIPC);
  if (id < 0) return die("shmget (run init first)");
  if (strcmp(cmd, "rm") == 0) return shmctl(id, IPC_RMID, NULL) < 0 ? die("shmctl") : 0;
  struct head* h = shmat(id, NULL, 0);
  if (h == (void*)-1) return die("shmat");
  long n = h->n;
  double *a = mat(h, 0), *b = mat(h, 1), *c = mat(h, 2);
  if (strcmp(cmd, "work") == 0 && argc == 4) {
    long w = atol(argv[2]), k = atol(argv[3]);
    if (k < 1 || k > MAX_WORKERS || w < 0 || w >= k) return fprintf(stderr, "matmul: bad W K\n"), 2;
    /* Each row of C is computed in a private buffer and stored at once. */
    double* row = malloc((size_t)n * sizeof(double));
    for (long r = w; r < n; r += k) {
      for (long j = 0; j < n; ++j) row[j] = 0;
      for (long x = 0; x < n; ++x) {
        double av = a[r * n + x];
        for (long j = 0; j < n; ++j) row[j] += av * b[x * n + j];
      }
      memcpy(&c[r * n], row, (size_t)n * sizeof(double));
    }
    free(row);
    h->done[w] = now_ns();
    return shmdt(h) < 0 ? die("shmdt") : 0;
  }
  if (strcmp(cmd, "check") == 0 && argc == 3) {
    long k = atol(argv[2]);
    if (k < 1 || k > MAX_WORKERS) return fprintf(stderr, "matmul: bad K\n"), 2;
    long last = 0;
    for (long w = 0; w < k; ++w) {
      for (int i = 0; h->done[w] == 0 && i < 60000; ++i) usleep(1000);
      if (h->done[w] == 0) return fprintf(stderr, "matmul: worker %ld never finished\n", w), 1;
      if (h->done[w] > last) last = h->done[w];
    }
    for (long r = 0; r < n; ++r)
      for (long j = 0; j < n; ++j) {
        double s = 0;
        for (long x = 0; x < n; ++x) s += a[r * n + x] * b[x * n + j];
        if (s != c[r * n + j]) {
          printf("DIFFERENT at row %ld column %ld: %g, one process says %g\n", r, j, c[r * n + j], s);
          return 1;
        }
      }
    printf("OK %ld x %ld, %ld workers, %.1f ms from init to the last worker\n", n, n, k,
           (double)(last - h->start_ns) / 1e6);
    return 0;
  }
  fprintf(stderr, "usage: matmul init N | work W K | check K | rm\n");
  return 2;
}
