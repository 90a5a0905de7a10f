/* forkwait: a process that forks a long-lived child (which never calls System V IPC) and
 * then blocks in msgrcv on a queue; the child keeps the parent's connection to dipcd open.
 *   forkwait KEY PIDFILE   writes "PARENT CHILD" to PIDFILE, then blocks in msgrcv.
 * Used to check that when the parent is killed its blocked call is cancelled at the owner
 * (no message is taken for a dead process) although the connection is still open. */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: forkwait KEY PIDFILE\n");
    return 2;
  }
  int q = msgget(atoi(argv[1]), IPC_DIPC | 0666);
  if (q < 0) {
    perror("msgget");
    return 1;
  }
  struct msqid_ds ds;
  msgctl(q, IPC_STAT, &ds); /* one remote call: the connection to dipcd now exists */
  pid_t child = fork();
  if (child == 0) {
    alarm(60);
    pause();
    _exit(0);
  }
  FILE* f = fopen(argv[2], "w");
  if (!f) return 1;
  fprintf(f, "%d %d\n", (int)getpid(), (int)child);
  fclose(f);
  alarm(60);
  struct {
    long mtype;
    char text[64];
  } m;
  ssize_t n = msgrcv(q, &m, sizeof m.text, 0, 0);
  printf("msgrcv -> %zd\n", n);
  kill(child, SIGKILL);
  return 0;
}
