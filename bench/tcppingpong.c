/* tcppingpong: the raw-socket baseline of the DIPC benchmarks: a round trip of an N-byte
 * message over TCP loopback (TCP_NODELAY, blocking sockets, one write and a read loop on
 * each side, as dipcd's links would do at best), or over a Unix stream socket.
 *
 *   tcppingpong serve --portfile F [--size N] [--cpu C] [--limit S]
 *       Listens on 127.0.0.1, an ephemeral port, writes the port number to F (atomically:
 *       F.tmp then rename), serves one connection: reads N bytes, writes them back, until
 *       the peer closes.
 *   tcppingpong ping --port P [--size N] [timing]
 *       Connects to 127.0.0.1:P and times write(N) + read(N).
 *   tcppingpong pair [--unix] [--poll] [--size N] [timing]
 *       Both ends in one program: forks the echoing child (pinned to --cpu2), the parent
 *       (pinned to --cpu) measures; TCP loopback, or a Unix stream socket pair with --unix
 *       (the hop between a process's shim and its dipcd). With --poll the measuring side
 *       waits for each answer in poll(POLLIN) before its read, as the shim does (a reader
 *       blocked in read on a Unix stream socket is also woken when its peer reads).
 *
 * Timing options (benchutil.h): --warm MS --dur MS --reps R --cpu C --cpu2 C --limit S,
 * --turn-in FIFO --turn-out FIFO (take turns with another benchmark).
 * Output: "median_us X min_us Y max_us Z reps R iters N" (time of one round trip). */
#include "benchutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define MAX_SIZE 65536

struct pp {
  int fd;
  size_t size;
  char out[MAX_SIZE], in[MAX_SIZE];
};

static int write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads exactly n bytes; returns 0, 1 at a clean end of stream before any byte, -1 on error. */
static int read_all(int fd, char* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) {
      if (got == 0) return 1;
      errno = EPIPE;
      return -1;
    }
    got += (size_t)r;
  }
  return 0;
}

static int g_poll; /* --poll: the measuring side waits in poll(POLLIN) before each read */

static int ping_once(void* v) {
  struct pp* p = v;
  if (write_all(p->fd, p->out, p->size) != 0) return -1;
  if (g_poll) {
    struct pollfd pf = {.fd = p->fd, .events = POLLIN};
    while (poll(&pf, 1, -1) < 0)
      if (errno != EINTR) return -1;
  }
  int r = read_all(p->fd, p->in, p->size);
  if (r == 1) errno = EPIPE;
  return r == 0 ? 0 : -1;
}

static int echo_loop(struct pp* p) {
  for (;;) {
    int r = read_all(p->fd, p->in, p->size);
    if (r == 1) return 0;
    if (r < 0 || write_all(p->fd, p->in, p->size) != 0) return -1;
  }
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void usage(void) {
  fprintf(stderr,
          "usage: tcppingpong serve --portfile F [--size N] [--cpu C] [--limit S]\n"
          "       tcppingpong ping --port P [--size N] [timing]\n"
          "       tcppingpong pair [--unix] [--poll] [--size N] [timing]\n"
          "timing: --warm MS --dur MS --reps R --cpu C --cpu2 C --limit S --turn-in F --turn-out F\n");
  exit(2);
}

static struct pp g_pp;

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const char* mode = argv[1];
  struct bu_opts o;
  bu_defaults(&o);
  const char* portfile = NULL;
  int port = -1, use_unix = 0;
  long size = 8;
  for (int i = 2; i < argc; ++i) {
    if (bu_common_opt(&o, argc, argv, &i)) continue;
    const char* a = argv[i];
    if (!strcmp(a, "--unix")) use_unix = 1;
    else if (!strcmp(a, "--poll")) g_poll = 1;
    else if (i + 1 >= argc) usage();
    else if (!strcmp(a, "--size")) size = bu_int(argv[++i], a);
    else if (!strcmp(a, "--port")) port = bu_int(argv[++i], a);
    else if (!strcmp(a, "--portfile")) portfile = argv[++i];
    else usage();
  }
  if (size < 1 || size > MAX_SIZE) bu_die("--size must be 1..%d", MAX_SIZE);
  bu_check(&o);
  signal(SIGPIPE, SIG_IGN);
  struct pp* p = &g_pp;
  p->size = (size_t)size;
  memset(p->out, 'x', p->size);

  if (!strcmp(mode, "serve")) {
    if (portfile == NULL) usage();
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (ls < 0 || bind(ls, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, (struct sockaddr*)&sa, &len) != 0)
      bu_die("listen: %s", strerror(errno));
    bu_write_portfile(portfile, ntohs(sa.sin_port));
    p->fd = accept(ls, NULL, NULL);
    if (p->fd < 0) bu_die("accept: %s", strerror(errno));
    close(ls);
    nodelay(p->fd);
    bu_pin(o.cpu);
    return echo_loop(p) == 0 ? 0 : 1;
  }
  if (!strcmp(mode, "ping")) {
    if (port <= 0) usage();
    p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (p->fd < 0 || connect(p->fd, (struct sockaddr*)&sa, sizeof sa) != 0)
      bu_die("connect 127.0.0.1:%d: %s", port, strerror(errno));
    nodelay(p->fd);
    bu_pin(o.cpu);
    int rc = bu_measure(&o, ping_once, p);
    if (rc < 0) fprintf(stderr, "tcppingpong: round trip failed: %s\n", strerror(errno));
    close(p->fd);
    return rc < 0 ? 1 : 0;
  }
  if (!strcmp(mode, "pair")) {
    int sv[2];
    if (use_unix) {
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        bu_die("socketpair: %s", strerror(errno));
    } else {
      int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof sa;
      if (ls < 0 || bind(ls, (struct sockaddr*)&sa, sizeof sa) != 0 || listen(ls, 1) != 0 ||
          getsockname(ls, (struct sockaddr*)&sa, &len) != 0)
        bu_die("listen: %s", strerror(errno));
      sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (sv[0] < 0 || connect(sv[0], (struct sockaddr*)&sa, sizeof sa) != 0)
        bu_die("connect: %s", strerror(errno));
      sv[1] = accept(ls, NULL, NULL);
      if (sv[1] < 0) bu_die("accept: %s", strerror(errno));
      close(ls);
      nodelay(sv[0]);
      nodelay(sv[1]);
    }
    pid_t child = fork();
    if (child < 0) bu_die("fork: %s", strerror(errno));
    if (child == 0) {
      close(sv[0]);
      bu_pin(o.cpu2);
      p->fd = sv[1];
      _exit(echo_loop(p) == 0 ? 0 : 1);
    }
    close(sv[1]);
    bu_pin(o.cpu);
    p->fd = sv[0];
    int rc = bu_measure(&o, ping_once, p);
    if (rc < 0) fprintf(stderr, "tcppingpong: round trip failed: %s\n", strerror(errno));
    close(p->fd);
    int st = 0;
    waitpid(child, &st, 0);
    return rc < 0 ? 1 : 0;
  }
  usage();
  return 2;
}
