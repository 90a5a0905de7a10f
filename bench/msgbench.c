/* msgbench: System V message-queue ping-pong round trip, with or without DIPC.
 *
 * A plain libc program: run it with the shim (dipc run, dipc cluster exec, LD_PRELOAD) or
 * without; IPC_DIPC is the only DIPC-specific thing in it.
 *
 *   msgbench pair [--dipc] [--size N] [--key K] [timing]
 *       One node, two processes: the program creates queues K (ping) and K+1 (pong)
 *       (with IPC_DIPC when --dipc), forks an echoing child (pinned to --cpu2), and times
 *       msgsnd(ping) + msgrcv(pong) in the parent (pinned to --cpu). Removes both queues.
 *
 *   msgbench self [--dipc] [--size N] [--key K] [timing]
 *       One process, no wake-up: msgsnd to queue K then msgrcv of that message from it,
 *       the bare cost of the two calls (and of the shim's check on each, when loaded).
 *
 *   msgbench ping --tx K --rx K [--create rx|tx|both|none] [--size N] [timing]
 *   msgbench pong --tx K --rx K [--create rx|tx|both|none] [--size N] [--limit S]
 *       Two processes, usually on two nodes. Each sends on tx and receives on rx. Queues
 *       named by --create are made here (IPC_CREAT|IPC_EXCL|IPC_DIPC, so this node owns
 *       them); the others are looked up by key (msgget(K, IPC_DIPC)), retried for up to
 *       10 s until the peer has made them. ping times msgsnd(tx) + msgrcv(rx); pong echoes
 *       until it gets the stop message (mtype 2) or its queues go away. Each removes what
 *       it created (ping after sending the stop message).
 *
 * Timing options (benchutil.h): --warm MS --dur MS --reps R --cpu C --cpu2 C --limit S,
 * --turn-in FIFO --turn-out FIFO (take turns with another benchmark).
 * Output: "median_us X min_us Y max_us Z reps R iters N" (time of one round trip). */
#include "benchutil.h"

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>

#include <dipc/dipc.h>

#define MAX_SIZE 65536

struct msg {
  long mtype;
  char mtext[MAX_SIZE];
};

struct pp {
  int tx, rx;
  size_t size;
  struct msg out, in;
};

static int self_once(void* v) {
  struct pp* p = v;
  if (msgsnd(p->tx, &p->out, p->size, 0) != 0) return -1;
  ssize_t n = msgrcv(p->tx, &p->in, sizeof p->in.mtext, 0, 0);
  return n < 0 ? -1 : 0;
}

static int ping_once(void* v) {
  struct pp* p = v;
  if (msgsnd(p->tx, &p->out, p->size, 0) != 0) return -1;
  ssize_t n = msgrcv(p->rx, &p->in, sizeof p->in.mtext, 0, 0);
  if (n < 0) return -1;
  if ((size_t)n != p->size) {
    errno = EPROTO;
    return -1;
  }
  return 0;
}

/* Echoes every message from rx to tx until mtype 2 arrives. Returns 0 on the stop message
 * or when a queue is removed (EIDRM/EINVAL), -1 on any other error. */
static int echo_loop(struct pp* p) {
  for (;;) {
    ssize_t n = msgrcv(p->rx, &p->in, sizeof p->in.mtext, 0, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return (errno == EIDRM || errno == EINVAL) ? 0 : -1;
    }
    if (p->in.mtype == 2) return 0;
    p->in.mtype = 1;
    if (msgsnd(p->tx, &p->in, (size_t)n, 0) != 0)
      return (errno == EIDRM || errno == EINVAL) ? 0 : -1;
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: msgbench pair|self [--dipc] [--size N] [--key K] [timing]\n"
          "       msgbench ping|pong --tx K --rx K [--create rx|tx|both|none] [--size N] "
          "[timing]\n"
          "timing: --warm MS --dur MS --reps R --cpu C --cpu2 C --limit S --turn-in F --turn-out F\n");
  exit(2);
}

/* Opens a queue made by the peer: msgget(key, IPC_DIPC), retried until it exists. */
static int open_peer_queue(int key) {
  for (int i = 0; i < 1000; ++i) {
    int q = msgget(key, IPC_DIPC);
    if (q >= 0) return q;
    if (errno != ENOENT) bu_die("msgget(%d, IPC_DIPC): %s", key, strerror(errno));
    usleep(10000);
  }
  bu_die("queue %d never appeared", key);
  return -1;
}

static int make_queue(int key, int dipc) {
  int q = msgget(key, IPC_CREAT | IPC_EXCL | 0600 | (dipc ? IPC_DIPC : 0));
  if (q < 0) bu_die("msgget(%d, IPC_CREAT|IPC_EXCL%s): %s", key, dipc ? "|IPC_DIPC" : "",
                    strerror(errno));
  return q;
}

static struct pp g_pp;

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const char* mode = argv[1];
  struct bu_opts o;
  bu_defaults(&o);
  int dipc = 0, key = 0x4d420000, tx_key = -1, rx_key = -1;
  const char* create = "none";
  long size = 8;
  for (int i = 2; i < argc; ++i) {
    if (bu_common_opt(&o, argc, argv, &i)) continue;
    const char* a = argv[i];
    if (!strcmp(a, "--dipc")) {
      dipc = 1;
      continue;
    }
    if (i + 1 >= argc) usage();
    if (!strcmp(a, "--size")) size = bu_int(argv[++i], a);
    else if (!strcmp(a, "--key")) key = bu_int(argv[++i], a);
    else if (!strcmp(a, "--tx")) tx_key = bu_int(argv[++i], a);
    else if (!strcmp(a, "--rx")) rx_key = bu_int(argv[++i], a);
    else if (!strcmp(a, "--create")) create = argv[++i];
    else usage();
  }
  if (size < 1 || size > MAX_SIZE) bu_die("--size must be 1..%d", MAX_SIZE);
  bu_check(&o);
  struct pp* p = &g_pp;
  p->size = (size_t)size;
  p->out.mtype = 1;
  memset(p->out.mtext, 'x', p->size);

  if (!strcmp(mode, "self")) {
    p->tx = make_queue(key, dipc);
    bu_pin(o.cpu);
    int rc = bu_measure(&o, self_once, p);
    if (rc < 0) fprintf(stderr, "msgbench self: %s\n", strerror(errno));
    msgctl(p->tx, IPC_RMID, NULL);
    return rc < 0 ? 1 : 0;
  }
  if (!strcmp(mode, "pair")) {
    int qa = make_queue(key, dipc), qb = make_queue(key + 1, dipc);
    pid_t child = fork();
    if (child < 0) bu_die("fork: %s", strerror(errno));
    if (child == 0) {
      bu_pin(o.cpu2);
      p->rx = qa;
      p->tx = qb;
      _exit(echo_loop(p) == 0 ? 0 : 1);
    }
    bu_pin(o.cpu);
    p->tx = qa;
    p->rx = qb;
    int rc = bu_measure(&o, ping_once, p);
    if (rc < 0) fprintf(stderr, "msgbench: round trip failed: %s\n", strerror(errno));
    struct msg stop = {.mtype = 2};
    msgsnd(qa, &stop, 1, IPC_NOWAIT);
    int st = 0;
    waitpid(child, &st, 0);
    msgctl(qa, IPC_RMID, NULL);
    msgctl(qb, IPC_RMID, NULL);
    if (rc < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return 1;
    return 0;
  }

  int is_ping = !strcmp(mode, "ping");
  if (!is_ping && strcmp(mode, "pong")) usage();
  if (tx_key < 0 || rx_key < 0) usage();
  int c_rx = !strcmp(create, "rx") || !strcmp(create, "both");
  int c_tx = !strcmp(create, "tx") || !strcmp(create, "both");
  if (!c_rx && !c_tx && strcmp(create, "none")) usage();
  /* Make our own queues first, then look for the peer's. */
  if (c_rx) p->rx = make_queue(rx_key, 1);
  if (c_tx) p->tx = make_queue(tx_key, 1);
  if (!c_rx) p->rx = open_peer_queue(rx_key);
  if (!c_tx) p->tx = open_peer_queue(tx_key);
  int rc;
  if (is_ping) {
    bu_pin(o.cpu);
    rc = bu_measure(&o, ping_once, p);
    if (rc < 0) fprintf(stderr, "msgbench ping: round trip failed: %s\n", strerror(errno));
    struct msg stop = {.mtype = 2};
    msgsnd(p->tx, &stop, 1, 0);
  } else {
    bu_pin(o.cpu);
    rc = echo_loop(p);
    if (rc < 0) fprintf(stderr, "msgbench pong: %s\n", strerror(errno));
  }
  /* ping: give pong a moment to take the stop message before its queue goes. */
  if (is_ping && c_tx) usleep(100000);
  if (c_rx) msgctl(p->rx, IPC_RMID, NULL);
  if (c_tx) msgctl(p->tx, IPC_RMID, NULL);
  return rc < 0 ? 1 : 0;
}
