/* connrace: a signal handler that makes a distributed call while the interrupted code is
 * opening the thread's connection to dipcd (the test stops the program inside the shim's
 * connection set-up with gdb and delivers SIGUSR1 there). The handler's connection and the
 * interrupted one must not both stay open: the shim keeps the handler's and closes its own.
 * Usage: connrace MSGKEY. Prints "MAIN OK HANDLER OK SOCKETS N", N being the number of
 * sockets the process holds at the end (it opens none itself). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dipc/dipc.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <unistd.h>

#include "errname.h"

static key_t key;
static volatile int handler_err = -1;

static void on_usr1(int sig) {
  (void)sig;
  int q = msgget(key, IPC_DIPC);
  struct {
    long mtype;
    char text[8];
  } m = {2, "handler"};
  handler_err = q < 0 ? errno : msgsnd(q, &m, 7, IPC_NOWAIT) == 0 ? 0 : errno;
}

static int count_sockets(void) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent* e;
  char path[300], target[64];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len < 0) continue;
    target[len] = 0;
    if (strncmp(target, "socket:", 7) == 0) ++n;
  }
  closedir(d);
  return n;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: connrace MSGKEY\n");
    return 2;
  }
  key = (key_t)strtol(argv[1], NULL, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL) != 0) return 4;
  /* The thread's first distributed call: it opens the connection (where the test stops). */
  int q = msgget(key, IPC_DIPC);
  struct {
    long mtype;
    char text[8];
  } m = {1, "main"};
  int main_err = q < 0 ? errno : msgsnd(q, &m, 4, IPC_NOWAIT) == 0 ? 0 : errno;
  printf("MAIN %s HANDLER %s SOCKETS %d\n", main_err ? errname(main_err) : "OK",
         handler_err < 0 ? "NOTRUN" : handler_err ? errname(handler_err) : "OK", count_sockets());
  return 0;
}
