/* shm_counter: a counter in distributed shared memory, guarded by a distributed semaphore.
 *
 *   shm_counter init      create the semaphore (key 51, value 1) and the segment (key 52)
 *   shm_counter run N     N times: lock; counter = counter + 1 (a plain load and store in
 *                         the segment); unlock. Run it on several nodes at once: no update
 *                         is lost, and no message carries the counter: the memory does.
 *   shm_counter result    print the counter
 *   shm_counter rm        remove both objects
 *
 * Runs unchanged without DIPC (on one machine). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

#ifndef IPC_DIPC
#define IPC_DIPC 00010000
#endif

#define SEM_KEY 51
#define SHM_KEY 52

static int die(const char* what) {
  fprintf(stderr, "shm_counter: %s: %s\n", what, strerror(errno));
  return 1;
}

static int lock_op(int semid, short op) {
  struct sembuf sb = {0, op, SEM_UNDO};
  return semop(semid, &sb, 1);
}

int main(int argc, char** argv) {
  const char* cmd = argc > 1 ? argv[1] : "";
  if (strcmp(cmd, "init") == 0) {
    int semid = semget(SEM_KEY, 1, IPC_DIPC | IPC_CREAT | IPC_EXCL | 0666);
    if (semid < 0) return die("semget");
    if (semctl(semid, 0, SETVAL, 1) < 0) return die("semctl(SETVAL)");
    if (shmget(SHM_KEY, sizeof(long), IPC_DIPC | IPC_CREAT | IPC_EXCL | 0666) < 0)
      return die("shmget");
    return 0;
  }
  int semid = semget(SEM_KEY, 0, IPC_DIPC);
  int shmid = shmget(SHM_KEY, 0, IPC_DIPC);
  if (semid < 0 || shmid < 0) return die("semget/shmget (run init first)");
  if (strcmp(cmd, "rm") == 0) {
    if (semctl(semid, 0, IPC_RMID) < 0) return die("semctl(IPC_RMID)");
    if (shmctl(shmid, IPC_RMID, NULL) < 0) return die("shmctl(IPC_RMID)");
    return 0;
  }
  volatile long* counter = shmat(shmid, NULL, 0);
  if (counter == (void*)-1) return die("shmat");
  if (strcmp(cmd, "run") == 0 && argc == 3) {
    long n = atol(argv[2]);
    for (long i = 0; i < n; ++i) {
      if (lock_op(semid, -1) < 0) return die("semop(lock)");
      *counter = *counter + 1;
      if (lock_op(semid, 1) < 0) return die("semop(unlock)");
    }
    return shmdt((void*)counter) < 0 ? die("shmdt") : 0;
  }
  if (strcmp(cmd, "result") == 0) {
    printf("%ld\n", *counter);
    return 0;
  }
  fprintf(stderr, "usage: shm_counter init | run N | result | rm\n");
  return 2;
}
