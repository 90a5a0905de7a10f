/* shmints: an array of 32-bit integers in a distributed segment, shared between nodes of
 * different byte order (tests/cluster/hetero_shm.sh). DIPC moves memory as raw bytes, as
 * the original did: a program that shares numbers across architectures stores them in one
 * agreed byte order and converts, here big-endian (network order, htonl/ntohl).
 *
 *   shmints mk KEY N         shmget(KEY, 4*N, IPC_DIPC|IPC_CREAT|0666): OK or the errno name
 *   shmints write KEY N      attach; word i = htonl(i * 2654435761 + 7) for i < N; detach:
 *                            "WROTE N" or the errno name
 *   shmints zero KEY N       attach; words 0 .. N-1 = 0; detach: "ZEROED N"
 *   shmints read KEY N       attach; checks every word with ntohl: "OK N SUM" (SUM: the sum
 *                            of the values mod 2^32) or "BAD i VALUE"; detach
 *   shmints raw KEY          attach; word 1 as this machine reads it without conversion, in
 *                            hex: on a little-endian node the bytes a big-endian writer left
 *                            read swapped, which shows that memory is not converted
 *   shmints rm KEY           shmctl(IPC_RMID): OK or the errno name */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include <dipc/dipc.h>

#include "errname.h"

static uint32_t value(uint32_t i) { return i * 2654435761u + 7u; }

static int fail(const char* call) {
  printf("%s %s\n", call, errname(errno));
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: shmints mk|write|zero|read KEY N | raw|rm KEY\n");
    return 2;
  }
  const char* cmd = argv[1];
  key_t key = (key_t)strtol(argv[2], NULL, 0);
  long n = argc > 3 ? strtol(argv[3], NULL, 0) : 0;
  if (n < 0 || n > (1L << 20)) return 2;
  if (strcmp(cmd, "mk") == 0) {
    if (shmget(key, (size_t)n * 4, IPC_DIPC | IPC_CREAT | 0666) < 0) return fail("shmget");
    printf("OK\n");
    return 0;
  }
  int id = shmget(key, 0, IPC_DIPC);
  if (id < 0) return fail("shmget");
  if (strcmp(cmd, "rm") == 0) {
    if (shmctl(id, IPC_RMID, NULL) < 0) return fail("shmctl");
    printf("OK\n");
    return 0;
  }
  int writes = strcmp(cmd, "write") == 0 || strcmp(cmd, "zero") == 0;
  uint32_t* w = shmat(id, NULL, writes ? 0 : SHM_RDONLY);
  if (w == (void*)-1) return fail("shmat");
  int rc = 0;
  if (strcmp(cmd, "write") == 0) {
    for (long i = 0; i < n; i++) w[i] = htonl(value((uint32_t)i));
    printf("WROTE %ld\n", n);
  } else if (strcmp(cmd, "zero") == 0) {
    for (long i = 0; i < n; i++) w[i] = 0;
    printf("ZEROED %ld\n", n);
  } else if (strcmp(cmd, "read") == 0) {
    uint32_t sum = 0;
    for (long i = 0; i < n && rc == 0; i++) {
      uint32_t v = ntohl(w[i]);
      if (v != value((uint32_t)i)) {
        printf("BAD %ld %u\n", i, v);
        rc = 1;
      }
      sum += v;
    }
    if (rc == 0) printf("OK %ld %u\n", n, sum);
  } else if (strcmp(cmd, "raw") == 0) {
    printf("%08x\n", w[1]);
  } else {
    rc = 2;
  }
  shmdt(w);
  return rc;
}
