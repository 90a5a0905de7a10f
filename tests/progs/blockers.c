/* blockers: many callers blocked at once. Forks N children (N <= 3000), each of which
 * makes one blocking msgrcv(TYPE) on the distributed queue KEY and prints one line:
 * "RECV" when a message came, or the errno name (EAGAIN when the owner refused to queue
 * another waiting call, EIDRM, ...). The parent waits (bounded by TIMEOUT_S) for all of
 * them and prints "DONE". */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testprog.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: blockers KEY TYPE N TIMEOUT_S\n");
    return 2;
  }
  key_t key = (key_t)strtol(argv[1], NULL, 0);
  long type = atol(argv[2]), n = atol(argv[3]), timeout = atol(argv[4]);
  if (n < 1 || n > 3000 || timeout < 1 || timeout > 120) return 2;
  int q = msgget(key, IPC_DIPC);
  if (q < 0) {
    printf("msgget %s\n", errname(errno));
    return 0;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (long i = 0; i < n; i++) {
    pid_t p = fork();
    if (p < 0) {
      printf("fork %s\n", errname(errno));
      break;
    }
    if (p == 0) {
      alarm((unsigned)timeout);
      struct {
        long mtype;
        char text[16];
      } m;
      ssize_t r = msgrcv(q, &m, sizeof m.text, type, 0);
      printf("%s\n", r < 0 ? errname(errno) : "RECV");
      _exit(0);
    }
  }
  alarm((unsigned)timeout + 5);
  while (wait(NULL) > 0) {
  }
  printf("DONE\n");
  return 0;
}
