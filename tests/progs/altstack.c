/* altstack: distributed calls from a signal handler that runs on a small alternate stack.
 * Sets up a 16 KiB sigaltstack with 64 KiB of inaccessible guard below it (an overflow
 * faults at once instead of writing over other memory), and from a SIGUSR1 handler
 * installed with SA_ONSTACK makes one semop (V) on the distributed set SEMKEY and one
 * msgsnd on the distributed queue MSGKEY. Prints "SEM RESULT MSG RESULT" (OK or the errno
 * name): a shim that needs more stack than a handler may have kills the program instead. */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>

#include "testprog.h"

static int semid, msqid;
static volatile int sem_err = -1, msg_err = -1;

static void on_handler_signal(int sig) {
  (void)sig;
  struct sembuf v = {0, 1, 0};
  sem_err = semop(semid, &v, 1) == 0 ? 0 : errno;
  struct {
    long mtype;
    char text[8];
  } m = {1, "handler"};
  msg_err = msgsnd(msqid, &m, 7, 0) == 0 ? 0 : errno;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: altstack SEMKEY MSGKEY\n");
    return 2;
  }
  semid = semget((key_t)strtol(argv[1], NULL, 0), 0, IPC_DIPC);
  msqid = msgget((key_t)strtol(argv[2], NULL, 0), IPC_DIPC);
  if (semid < 0 || msqid < 0) {
    printf("get %s\n", errname(errno));
    return 0;
  }
  const size_t guard = 64 * 1024, size = 16 * 1024;
  char* base = mmap(NULL, guard + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED || mprotect(base, guard, PROT_NONE) != 0) return 4;
  stack_t ss = {.ss_sp = base + guard, .ss_size = size, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) return 4;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_handler_signal;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL) != 0) return 4;
  raise(SIGUSR1);
  printf("SEM %s MSG %s\n", sem_err ? errname(sem_err) : "OK", msg_err ? errname(msg_err) : "OK");
  return 0;
}
