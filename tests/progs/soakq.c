/* soakq: the sender and receivers of the fault soaks (tests/soak/fault_soak.sh,
 * tests/cluster/soak_short.sh). Every message is a decimal sequence number.
 *
 *   soakq send KEY N [GAP_US]   msgget(KEY, IPC_DIPC|IPC_CREAT|0666), then sends 1..N, one
 *                               line "S SEQ" on stdout after each msgsnd that returned 0
 *                               (acknowledged), GAP_US microseconds apart (default 0);
 *                               a failed msgsnd is retried after 10 ms (it was not
 *                               acknowledged). Stops after N, or at SIGTERM. Ends with
 *                               "DONE".
 *   soakq recv KEY              blocking msgrcv in a loop; one line "R SEQ" on stdout right
 *                               after each message (write(2), no buffering). EIDRM, EINVAL
 *                               or ENOLINK (the owner or the link was lost): msgget again,
 *                               10 ms later. SIGTERM: a handler without SA_RESTART sets a
 *                               flag; the loop ends after writing what it received, so a
 *                               SIGTERM never loses a message on one machine.
 *   soakq drain KEY             msgrcv(IPC_NOWAIT) until ENOMSG: "R SEQ" lines, then the
 *                               queue is removed.
 * With SOAKQ_PIDFILE set, each command first writes its pid there (for the soak to kill it).
 * Exit status 0, 2 on bad usage, 4 when msgget fails for good (20 s). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <time.h>
#include <unistd.h>

#include <dipc/dipc.h>

struct seqmsg {
  long mtype;
  char mtext[32];
};

static volatile sig_atomic_t stop;
static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int open_queue(key_t key, int create) {
  for (int i = 0; i < 2000 && !stop; ++i) {
    int id = msgget(key, IPC_DIPC | (create ? IPC_CREAT | 0666 : 0));
    if (id >= 0) return id;
    nap_ms(10);
  }
  return -1;
}

static void say(char tag, long seq) {
  char line[48];
  int n = snprintf(line, sizeof line, "%c %ld\n", tag, seq);
  if (write(STDOUT_FILENO, line, (size_t)n) != n) _exit(4);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: soakq send KEY N [GAP_US] | recv KEY | drain KEY\n");
    return 2;
  }
  key_t key = (key_t)strtol(argv[2], NULL, 0);
  const char* pidfile = getenv("SOAKQ_PIDFILE");
  if (pidfile != NULL && *pidfile != '\0') {
    FILE* f = fopen(pidfile, "w");
    if (f == NULL || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) return 4;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  struct seqmsg m;
  if (strcmp(argv[1], "send") == 0 && argc >= 4) {
    long n = strtol(argv[3], NULL, 10);
    long gap = argc > 4 ? strtol(argv[4], NULL, 10) : 0;
    int id = open_queue(key, 1);
    if (id < 0) return 4;
    for (long seq = 1; seq <= n && !stop;) {
      m.mtype = 1;
      int len = snprintf(m.mtext, sizeof m.mtext, "%ld", seq);
      if (msgsnd(id, &m, (size_t)len + 1, 0) == 0) {
        say('S', seq);
        ++seq;
        if (gap > 0) {
          struct timespec ts = {gap / 1000000, (gap % 1000000) * 1000L};
          nanosleep(&ts, NULL);
        }
      } else {
        nap_ms(10);
        if (errno == EIDRM || errno == EINVAL) {
          id = open_queue(key, 1);
          if (id < 0) return 4;
        }
      }
    }
    if (write(STDOUT_FILENO, "DONE\n", 5) != 5) return 4;
    return 0;
  }
  if (strcmp(argv[1], "recv") == 0) {
    int id = open_queue(key, 0);
    if (id < 0) return stop ? 0 : 4;
    while (!stop) {
      ssize_t r = msgrcv(id, &m, sizeof m.mtext, 0, 0);
      if (r > 0) {
        say('R', strtol(m.mtext, NULL, 10));
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EIDRM || errno == EINVAL || errno == ENOLINK || errno == ECOMM) {
        nap_ms(10);
        id = open_queue(key, 0);
        if (id < 0) return stop ? 0 : 4;
      }
    }
    return 0;
  }
  if (strcmp(argv[1], "drain") == 0) {
    int id = open_queue(key, 0);
    if (id < 0) return 4;
    while (msgrcv(id, &m, sizeof m.mtext, 0, IPC_NOWAIT) > 0) say('R', strtol(m.mtext, NULL, 10));
    msgctl(id, IPC_RMID, NULL);
    return 0;
  }
  fprintf(stderr, "soakq: unknown command %s\n", argv[1]);
  return 2;
}
