/* sem_barrier: a barrier across nodes with one distributed semaphore.
 *
 *   sem_barrier init N    create the barrier for N processes (key 43, value N)
 *   sem_barrier wait NAME arrive (decrement) and wait until all N have arrived (value 0)
 *   sem_barrier rm        remove it
 *
 * Arriving and waiting are two semops: -1, then wait-for-zero. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#ifndef IPC_DIPC
#define IPC_DIPC 00010000
#endif

#define BARRIER_KEY 43

static int die(const char* what) {
  fprintf(stderr, "sem_barrier: %s: %s\n", what, strerror(errno));
  return 1;
}

int main(int argc, char** argv) {
  const char* cmd = argc > 1 ? argv[1] : "";
  if (strcmp(cmd, "init") == 0 && argc > 2) {
    int semid = semget(BARRIER_KEY, 1, IPC_DIPC | IPC_CREAT | IPC_EXCL | 0666);
    if (semid < 0) return die("semget");
    if (semctl(semid, 0, SETVAL, atoi(argv[2])) < 0) return die("semctl(SETVAL)");
    return 0;
  }
  int semid = semget(BARRIER_KEY, 1, IPC_DIPC | 0666);
  if (semid < 0) return die("semget (run 'sem_barrier init N' first)");
  if (strcmp(cmd, "wait") == 0 && argc > 2) {
    struct sembuf arrive = {0, -1, 0};
    struct sembuf all_here = {0, 0, 0};
    if (semop(semid, &arrive, 1) < 0) return die("semop(arrive)");
    printf("%s: arrived, waiting for the others\n", argv[2]);
    fflush(stdout);
    if (semop(semid, &all_here, 1) < 0) return die("semop(wait for zero)");
    printf("%s: passed the barrier\n", argv[2]);
    return 0;
  }
  if (strcmp(cmd, "rm") == 0) return semctl(semid, 0, IPC_RMID) < 0 ? die("semctl(IPC_RMID)") : 0;
  fprintf(stderr, "usage: sem_barrier init N | wait NAME | rm\n");
  return 2;
}
