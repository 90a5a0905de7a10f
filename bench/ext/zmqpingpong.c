/* zmqpingpong: the ZeroMQ side-by-side of the DIPC benchmarks: a REQ/REP round trip of an
 * N-byte message over TCP loopback (bench/run.sh, "side by side"; docs/benchmarks.md).
 *
 *   zmqpingpong serve --portfile F [--size N] [--limit S]
 *       A REP socket bound to tcp://127.0.0.1:* (the port written to F, atomically); echoes
 *       every request until one of 1 byte arrives (the stop request).
 *   zmqpingpong ping --port P [--size N] [timing]
 *       A REQ socket connected to it; times send(N) + recv(N), then sends the stop request.
 *
 * Timing options (benchutil.h): --warm MS --dur MS --reps R --cpu C --limit S, --turn-in
 * FIFO --turn-out FIFO. Output: "median_us X ..." (one round trip). Needs libzmq
 * (Debian: libzmq3-dev); built only when CMake finds it. */
#include "../benchutil.h"

#include <zmq.h>

#define MAX_SIZE 65536

struct pp {
  void* sock;
  size_t size;
  char out[MAX_SIZE], in[MAX_SIZE];
};
static struct pp g_pp;

static int ping_once(void* v) {
  struct pp* p = v;
  if (zmq_send(p->sock, p->out, p->size, 0) != (int)p->size) return -1;
  int n = zmq_recv(p->sock, p->in, sizeof p->in, 0);
  if (n != (int)p->size) {
    if (n >= 0) errno = EPROTO;
    return -1;
  }
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: zmqpingpong serve --portfile F [--size N] [--limit S]\n"
          "       zmqpingpong ping --port P [--size N] [timing]\n");
  exit(2);
}

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const char* mode = argv[1];
  struct bu_opts o;
  bu_defaults(&o);
  const char* portfile = NULL;
  int port = -1;
  long size = 8;
  for (int i = 2; i < argc; ++i) {
    if (bu_common_opt(&o, argc, argv, &i)) continue;
    if (i + 1 >= argc) usage();
    if (!strcmp(argv[i], "--size")) size = bu_int(argv[++i], "--size");
    else if (!strcmp(argv[i], "--port")) port = bu_int(argv[++i], "--port");
    else if (!strcmp(argv[i], "--portfile")) portfile = argv[++i];
    else usage();
  }
  if (size < 2 || size > MAX_SIZE) bu_die("--size must be 2..%d", MAX_SIZE);
  bu_check(&o);
  struct pp* p = &g_pp;
  p->size = (size_t)size;
  memset(p->out, 'x', p->size);
  /* Pinned before the context exists, so that its I/O thread inherits the CPU too. */
  bu_pin(o.cpu);
  void* ctx = zmq_ctx_new();
  if (ctx == NULL) bu_die("zmq_ctx_new: %s", zmq_strerror(errno));
  if (!strcmp(mode, "serve")) {
    if (portfile == NULL) usage();
    p->sock = zmq_socket(ctx, ZMQ_REP);
    if (p->sock == NULL || zmq_bind(p->sock, "tcp://127.0.0.1:*") != 0)
      bu_die("bind: %s", zmq_strerror(errno));
    char ep[256];
    size_t len = sizeof ep;
    if (zmq_getsockopt(p->sock, ZMQ_LAST_ENDPOINT, ep, &len) != 0) bu_die("endpoint");
    const char* colon = strrchr(ep, ':');
    if (colon == NULL) bu_die("endpoint %s", ep);
    bu_write_portfile(portfile, bu_int(colon + 1, "port"));
    for (;;) {
      int n = zmq_recv(p->sock, p->in, sizeof p->in, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        bu_die("recv: %s", zmq_strerror(errno));
      }
      if (zmq_send(p->sock, p->in, (size_t)n, 0) != n) bu_die("send: %s", zmq_strerror(errno));
      if (n == 1) break;
    }
  } else if (!strcmp(mode, "ping")) {
    if (port <= 0) usage();
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    p->sock = zmq_socket(ctx, ZMQ_REQ);
    if (p->sock == NULL || zmq_connect(p->sock, ep) != 0)
      bu_die("connect %s: %s", ep, zmq_strerror(errno));
    int rc = bu_measure(&o, ping_once, p);
    if (rc < 0) fprintf(stderr, "zmqpingpong: round trip failed: %s\n", zmq_strerror(errno));
    char stop = 's';
    if (rc == 0 && zmq_send(p->sock, &stop, 1, 0) == 1) zmq_recv(p->sock, p->in, sizeof p->in, 0);
    zmq_close(p->sock);
    zmq_ctx_term(ctx);
    return rc < 0 ? 1 : 0;
  } else {
    usage();
  }
  zmq_close(p->sock);
  zmq_ctx_term(ctx);
  return 0;
}
