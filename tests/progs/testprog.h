/* What the one-call test programs (msgwait, semtool) share: numbers from the command line,
 * the one result line they print, files they write for the scripts (pid files, ready
 * files), and the SIGUSR1/SIGALRM handlers of their blocking calls. */
#ifndef DIPC_TESTS_TESTPROG_H
#define DIPC_TESTS_TESTPROG_H
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
#include <unistd.h>

#include <dipc/dipc.h>

#include "errname.h"

static volatile sig_atomic_t got_usr1 __attribute__((unused));

static inline void on_usr1(int sig) {
  (void)sig;
  got_usr1 = 1;
}

/* The safety net of every blocking call: print TIMEOUT and leave with status 3. */
static inline void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "TIMEOUT\n";
  if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0) _exit(3);
  _exit(3);
}

static inline long num(const char* s, int base) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, base);
  if (errno || end == s || *end) {
    fprintf(stderr, "%s: bad number %s\n", program_invocation_short_name, s);
    exit(2);
  }
  return v;
}

/* Prints the one result line. */
static inline int result(const char* line) {
  printf("%s\n", line);
  fflush(stdout);
  return 0;
}

static inline int result_errno(int e) { return result(errname(e)); }

static inline int result_long(long v) {
  char line[32];
  snprintf(line, sizeof line, "%ld", v);
  return result(line);
}

/* Writes text to path atomically (a temporary file, then rename). */
static inline void write_file(const char* path, const char* text) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0 ||
      rename(tmp, path) < 0) {
    fprintf(stderr, "%s: writing %s: %s\n", program_invocation_short_name, path, strerror(errno));
    exit(4);
  }
}

static inline void write_pid(const char* pidfile) {
  char pid[32];
  snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  write_file(pidfile, pid);
}

/* Prints "CALL ERRNO" (a *get that failed) as the result line and returns -1. */
static inline int get_failed(const char* call) {
  char line[64];
  snprintf(line, sizeof line, "%s %s", call, errname(errno));
  result(line);
  return -1;
}

/* Q: "id:N" or a key: the queue's id, or -1 after printing "msgget ERRNO". */
static inline int queue_of(const char* q) {
  if (strncmp(q, "id:", 3) == 0) return (int)num(q + 3, 10);
  int id = msgget((key_t)num(q, 0), IPC_DIPC);
  return id < 0 ? get_failed("msgget") : id;
}
#endif
