/* msgwait: one System V message-queue call per run, for the blocking and multi-node
 * scenarios in tests/cluster. Each command prints exactly one result line on stdout: OK,
 * a result, or the errno name of the call that failed (EIDRM, EINTR, EACCES, ...).
 *
 * A queue is named by its key (found with msgget(KEY, IPC_DIPC)) or, as "id:N", by an id
 * obtained earlier on the same node (to check what later calls on an old id return).
 *
 *   msgwait mkq KEY MODE          msgget(KEY, IPC_DIPC|IPC_CREAT|MODE): OK or ERRNO
 *   msgwait excl KEY [GO [READY]] msgget(KEY, IPC_DIPC|IPC_CREAT|IPC_EXCL|0666): WON or
 *                                 ERRNO. With GO: first creates READY (if given), then
 *                                 spins (bounded, 20 s) until the file GO exists, so that
 *                                 several nodes call at the same moment.
 *   msgwait get KEY [MODE]        msgget(KEY, IPC_DIPC|MODE), MODE default 0666: OK or ERRNO
 *   msgwait id KEY                msgget(KEY, IPC_DIPC): prints the id, or ERRNO
 *   msgwait recv Q TYPE [TIMEOUT_S [PIDFILE]]
 *                                 blocking msgrcv: "RECV TYPE TEXT" or ERRNO (EINTR after
 *                                 SIGUSR1, EIDRM, ...). Writes its pid to PIDFILE once its
 *                                 SIGUSR1 handler is installed, just before msgrcv.
 *   msgwait nbrecv Q TYPE         msgrcv with IPC_NOWAIT: "RECV TYPE TEXT" or ERRNO
 *   msgwait send Q TYPE TEXT      blocking msgsnd: OK or ERRNO
 *   msgwait sendsig Q TYPE TEXT PID DELAY_US
 *                                 msgsnd and SIGUSR1 to PID as close together as a test can
 *                                 make them: DELAY_US >= 0 sends, waits DELAY_US and signals;
 *                                 DELAY_US < 0 signals, waits -DELAY_US and sends. OK or the
 *                                 msgsnd ERRNO (a PID that is already gone is no error).
 *   msgwait count Q               IPC_STAT: msg_qnum, or ERRNO
 *   msgwait rmid Q                IPC_RMID: OK or ERRNO
 *   msgwait mkqs KEY N MODE       N queues, keys KEY..KEY+N-1 (at most 10000): OK, or the
 *                                 first failing key and ERRNO
 *
 * A failing msgget inside recv/nbrecv/send/count/rmid prints "msgget ERRNO".
 * SIGUSR1 has a handler WITHOUT SA_RESTART that only sets a flag, so a blocked call returns
 * EINTR exactly as on Linux. SIGALRM after TIMEOUT_S (default 20 s; every command is
 * bounded) prints TIMEOUT and exits 3. Exit status: 0 when a result line was printed
 * (whatever it says), 2 on bad usage, 3 on TIMEOUT, 4 when the test set-up itself failed. */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAXTEXT 8192

struct msgbuf_big {
  long mtype;
  char mtext[MAXTEXT + 1];
};

#include "testprog.h"

static void usage(void) {
  fprintf(stderr,
          "usage: msgwait mkq KEY MODE | excl KEY [GO [READY]] | get KEY [MODE] | id KEY\n"
          "       | recv Q TYPE [TIMEOUT_S [PIDFILE]] | nbrecv Q TYPE | send Q TYPE TEXT\n"
          "       | sendsig Q TYPE TEXT PID DELAY_US\n"
          "       | count Q | rmid Q        (Q is KEY or id:ID)\n");
  exit(2);
}

static int received(ssize_t n, const struct msgbuf_big* m) {
  char line[MAXTEXT + 64];
  snprintf(line, sizeof line, "RECV %ld %.*s", m->mtype, (int)n, m->mtext);
  return result(line);
}

static int cmd_recv(const char* q, long type, int flags, const char* pidfile) {
  static struct msgbuf_big m;
  int id = queue_of(q);
  if (id < 0) return 0;
  if (pidfile) {
    char pid[32];
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    write_file(pidfile, pid);
  }
  ssize_t n = msgrcv(id, &m, MAXTEXT, type, flags);
  if (n < 0) return result_errno(errno);
  return received(n, &m);
}

static int cmd_excl(long key, const char* go, const char* ready) {
  if (go) {
    if (ready) write_file(ready, "ready\n");
    /* Spin (bounded: 20 s) until the start file appears. */
    struct timespec pause = {0, 200 * 1000};
    for (long i = 0; access(go, F_OK) != 0; i++) {
      if (i >= 100000) {
        fprintf(stderr, "msgwait: start file %s never appeared\n", go);
        result("TIMEOUT");
        return 3;
      }
      nanosleep(&pause, NULL);
    }
  }
  if (msgget((key_t)key, IPC_DIPC | IPC_CREAT | IPC_EXCL | 0666) < 0) return result_errno(errno);
  return result("WON");
}

int main(int argc, char** argv) {
  if (argc < 3) usage();
  const char* cmd = argv[1];
  unsigned timeout_s = 20;
  if (strcmp(cmd, "recv") == 0 && argc >= 5) {
    long t = num(argv[4], 10);
    if (t <= 0 || t > 3600) usage();
    timeout_s = (unsigned)t;
  }

  /* SIGUSR1: flag only, no SA_RESTART, so a blocked call returns EINTR. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  if (sigaction(SIGUSR1, &sa, NULL) < 0) return 4;
  sa.sa_handler = on_alarm;
  if (sigaction(SIGALRM, &sa, NULL) < 0) return 4;
  alarm(timeout_s);

  if (strcmp(cmd, "mkq") == 0 && argc == 4) {
    int mode = (int)num(argv[3], 8);
    if (msgget((key_t)num(argv[2], 0), IPC_DIPC | IPC_CREAT | mode) < 0)
      return result_errno(errno);
    return result("OK");
  }
  if (strcmp(cmd, "excl") == 0 && argc >= 3 && argc <= 5)
    return cmd_excl(num(argv[2], 0), argc >= 4 ? argv[3] : NULL, argc >= 5 ? argv[4] : NULL);
  if (strcmp(cmd, "get") == 0 && (argc == 3 || argc == 4)) {
    int mode = argc == 4 ? (int)num(argv[3], 8) : 0666;
    if (msgget((key_t)num(argv[2], 0), IPC_DIPC | mode) < 0) return result_errno(errno);
    return result("OK");
  }
  if (strcmp(cmd, "id") == 0 && argc == 3) {
    int id = msgget((key_t)num(argv[2], 0), IPC_DIPC);
    if (id < 0) return result_errno(errno);
    char line[32];
    snprintf(line, sizeof line, "%d", id);
    return result(line);
  }
  if (strcmp(cmd, "recv") == 0 && argc >= 4 && argc <= 6)
    return cmd_recv(argv[2], num(argv[3], 10), 0, argc == 6 ? argv[5] : NULL);
  if (strcmp(cmd, "nbrecv") == 0 && argc == 4)
    return cmd_recv(argv[2], num(argv[3], 10), IPC_NOWAIT, NULL);
  if (strcmp(cmd, "send") == 0 && argc == 5) {
    static struct msgbuf_big m;
    int id = queue_of(argv[2]);
    if (id < 0) return 0;
    size_t len = strlen(argv[4]);
    if (len > MAXTEXT) usage();
    m.mtype = num(argv[3], 10);
    memcpy(m.mtext, argv[4], len);
    if (msgsnd(id, &m, len, 0) < 0) return result_errno(errno);
    return result("OK");
  }
  if (strcmp(cmd, "sendsig") == 0 && argc == 7) {
    static struct msgbuf_big m;
    int id = queue_of(argv[2]);
    if (id < 0) return 0;
    size_t len = strlen(argv[4]);
    if (len > MAXTEXT) usage();
    m.mtype = num(argv[3], 10);
    memcpy(m.mtext, argv[4], len);
    pid_t pid = (pid_t)num(argv[5], 10);
    long delay_us = num(argv[6], 10);
    if (pid <= 0 || delay_us < -1000000 || delay_us > 1000000) usage();
    struct timespec d = {labs(delay_us) / 1000000, labs(delay_us) % 1000000 * 1000};
    int r, e = 0;
    if (delay_us < 0) {
      if (kill(pid, SIGUSR1) < 0 && errno != ESRCH) perror("msgwait: kill");
      nanosleep(&d, NULL);
      r = msgsnd(id, &m, len, 0);
      e = errno;
    } else {
      r = msgsnd(id, &m, len, 0);
      e = errno;
      if (delay_us > 0) nanosleep(&d, NULL);
      if (kill(pid, SIGUSR1) < 0 && errno != ESRCH) perror("msgwait: kill");
    }
    if (r < 0) return result_errno(e);
    return result("OK");
  }
  if (strcmp(cmd, "count") == 0 && argc == 3) {
    struct msqid_ds ds;
    int id = queue_of(argv[2]);
    if (id < 0) return 0;
    if (msgctl(id, IPC_STAT, &ds) < 0) return result_errno(errno);
    char line[32];
    snprintf(line, sizeof line, "%lu", (unsigned long)ds.msg_qnum);
    return result(line);
  }
  if (strcmp(cmd, "mkqs") == 0 && argc == 5) {
    long first = num(argv[2], 0), n = num(argv[3], 10);
    int mode = (int)num(argv[4], 8);
    if (n < 1 || n > 10000) usage();
    for (long i = 0; i < n; i++) {
      if (msgget((key_t)(first + i), IPC_DIPC | IPC_CREAT | mode) < 0) {
        char line[64];
        snprintf(line, sizeof line, "key %ld: %s", first + i, errname(errno));
        return result(line);
      }
    }
    return result("OK");
  }
  if (strcmp(cmd, "rmid") == 0 && argc == 3) {
    int id = queue_of(argv[2]);
    if (id < 0) return 0;
    if (msgctl(id, IPC_RMID, NULL) < 0) return result_errno(errno);
    return result("OK");
  }
  usage();
  return 2;
}
