/* sigjump: signal handlers around blocked remote calls.
 *   sigjump longjmp KEY  a SIGALRM handler leaves a blocked msgrcv with siglongjmp; then the
 *                        program sends a message: prints "jumped", then "send OK" (or the
 *                        errno name). The abandoned msgrcv must not take later messages.
 *   sigjump nested KEY   while msgrcv (type 2) is blocked, a SIGALRM handler sends a type-1
 *                        message: prints "handler send OK", "msgrcv EINTR", and then the
 *                        type-1 message read back: "got from-handler".
 *   sigjump taken KEY FILE
 *                        writes its pid to FILE and blocks in msgrcv; a SIGUSR1 handler
 *                        leaves it with siglongjmp and the program writes "jumped" to FILE;
 *                        once FILE says "go" it makes one more call (IPC_STAT of the queue),
 *                        writes "called" to FILE and waits until FILE is gone (each wait
 *                        bounded, 30 s). A message the abandoned msgrcv took meanwhile must
 *                        be back in the queue while the program still runs. */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include "errname.h"

static sigjmp_buf jump;
static int queue;
static int handler_result = -2;
static int handler_errno;

struct msg {
  long mtype;
  char text[64];
};

static void on_alarm_jump(int sig) {
  (void)sig;
  siglongjmp(jump, 1);
}

static void on_alarm_send(int sig) {
  (void)sig;
  struct msg m = {1, "from-handler"};
  int saved = errno;
  handler_result = msgsnd(queue, &m, strlen(m.text), 0);
  handler_errno = errno;
  errno = saved;
}

static void put_file(const char* path, const char* text) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE* f = fopen(tmp, "w");
  if (!f) exit(3);
  fputs(text, f);
  fclose(f);
  if (rename(tmp, path) < 0) exit(3);
}

/* Waits (bounded: 30 s) until FILE holds want, or is gone when want is NULL. */
static int wait_file(const char* path, const char* want) {
  for (int i = 0; i < 3000; ++i) {
    FILE* f = fopen(path, "r");
    char buf[64] = "";
    if (f) {
      if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
      fclose(f);
    }
    if (want ? (f && strncmp(buf, want, strlen(want)) == 0) : !f) return 0;
    usleep(10000);
  }
  return -1;
}

int main(int argc, char** argv) {
  int taken = argc == 4 && strcmp(argv[1], "taken") == 0;
  if (argc != 3 && !taken) {
    fprintf(stderr, "usage: sigjump longjmp|nested KEY | sigjump taken KEY FILE\n");
    return 2;
  }
  queue = msgget(atoi(argv[2]), IPC_DIPC | 0666);
  if (queue < 0) {
    printf("msgget %s\n", errname(errno));
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  struct msg m;
  if (taken) {
    sa.sa_handler = on_alarm_jump;
    sigaction(SIGUSR1, &sa, NULL);
    if (sigsetjmp(jump, 1) == 0) {
      char pid[32];
      snprintf(pid, sizeof pid, "%d\n", (int)getpid());
      put_file(argv[3], pid);
      msgrcv(queue, &m, sizeof m.text, 0, 0);
      printf("msgrcv returned\n");
      return 1;
    }
    put_file(argv[3], "jumped\n");
    if (wait_file(argv[3], "go") < 0) return printf("no go\n"), 1;
    struct msqid_ds ds;
    if (msgctl(queue, IPC_STAT, &ds) < 0) return printf("IPC_STAT %s\n", errname(errno)), 1;
    put_file(argv[3], "called\n");
    if (wait_file(argv[3], NULL) < 0) return printf("FILE stays\n"), 1;
    printf("done\n");
    return 0;
  }
  if (strcmp(argv[1], "longjmp") == 0) {
    sa.sa_handler = on_alarm_jump;
    sigaction(SIGALRM, &sa, NULL);
    if (sigsetjmp(jump, 1) == 0) {
      alarm(1);
      msgrcv(queue, &m, sizeof m.text, 0, 0);
      printf("msgrcv returned\n");
      return 1;
    }
    printf("jumped\n");
    struct msg out = {5, "after-jump"};
    if (msgsnd(queue, &out, strlen(out.text), 0) < 0)
      printf("send %s\n", errname(errno));
    else
      printf("send OK\n");
    return 0;
  }
  sa.sa_handler = on_alarm_send;
  sigaction(SIGALRM, &sa, NULL);
  alarm(1);
  ssize_t n = msgrcv(queue, &m, sizeof m.text, 2, 0);
  printf("handler send %s\n", handler_result == 0 ? "OK" : errname(handler_errno));
  printf("msgrcv %s\n", n < 0 ? errname(errno) : "returned");
  n = msgrcv(queue, &m, sizeof m.text, 1, IPC_NOWAIT);
  if (n < 0)
    printf("read back %s\n", errname(errno));
  else
    printf("got %.*s\n", (int)n, m.text);
  return 0;
}
