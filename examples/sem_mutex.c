/* sem_mutex: mutual exclusion across nodes with a distributed binary semaphore.
 *
 *   sem_mutex init        create the semaphore (key 41, value 1) and the counter queue
 *                         (key 42, holding one message with the count 0)
 *   sem_mutex run N       N times: lock; take the count from the queue; put back count+1;
 *                         unlock. Run it on several nodes at once: no update is lost.
 *   sem_mutex result      print the count
 *   sem_mutex rm          remove both objects
 *
 * The lock uses SEM_UNDO, so a process killed while holding it releases it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>

#ifndef IPC_DIPC
#define IPC_DIPC 00010000
#endif

#define SEM_KEY 41
#define COUNT_KEY 42

struct count_msg {
  long mtype;
  long count;
};

static int die(const char* what) {
  fprintf(stderr, "sem_mutex: %s: %s\n", what, strerror(errno));
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
    int q = msgget(COUNT_KEY, IPC_DIPC | IPC_CREAT | IPC_EXCL | 0666);
    if (q < 0) return die("msgget");
    struct count_msg m = {1, 0};
    if (msgsnd(q, &m, sizeof m.count, 0) < 0) return die("msgsnd");
    return 0;
  }
  int semid = semget(SEM_KEY, 1, IPC_DIPC | 0666);
  int q = msgget(COUNT_KEY, IPC_DIPC | 0666);
  if (semid < 0 || q < 0) return die("semget/msgget (run 'sem_mutex init' first)");
  if (strcmp(cmd, "run") == 0 && argc > 2) {
    long n = atol(argv[2]);
    for (long i = 0; i < n; ++i) {
      if (lock_op(semid, -1) < 0) return die("semop(lock)");
      struct count_msg m;
      if (msgrcv(q, &m, sizeof m.count, 1, 0) < 0) return die("msgrcv");
      m.count++;
      if (msgsnd(q, &m, sizeof m.count, 0) < 0) return die("msgsnd");
      if (lock_op(semid, 1) < 0) return die("semop(unlock)");
    }
    return 0;
  }
  if (strcmp(cmd, "result") == 0) {
    struct count_msg m;
    if (lock_op(semid, -1) < 0) return die("semop(lock)");
    if (msgrcv(q, &m, sizeof m.count, 1, 0) < 0) return die("msgrcv");
    printf("count = %ld\n", m.count);
    if (msgsnd(q, &m, sizeof m.count, 0) < 0) return die("msgsnd");
    return lock_op(semid, 1) < 0 ? die("semop(unlock)") : 0;
  }
  if (strcmp(cmd, "rm") == 0) {
    if (semctl(semid, 0, IPC_RMID) < 0) return die("semctl(IPC_RMID)");
    if (msgctl(q, IPC_RMID, NULL) < 0) return die("msgctl(IPC_RMID)");
    return 0;
  }
  fprintf(stderr, "usage: sem_mutex init | run N | result | rm\n");
  return 2;
}
