/* rawsend: a hostile peer. Connects to a dipcd (TCP "HOST:PORT" or a Unix socket path),
 * sends the bytes given in hex on the command line, and reports how the daemon answered:
 * "CLOSED N" when it closed the connection after sending N bytes back, or "OPEN N" when the
 * connection was still open after the time limit. Never blocks longer than 3 s, or than
 * RAWSEND_HOLD_MS milliseconds when that is set (a peer that keeps its link). With
 * RAWSEND_TYPES=FILE, the type of every whole frame received is appended to FILE, one
 * decimal number a line, as it arrives (a test waits on it for an answer). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int connect_to(const char* where) {
  const char* colon = strrchr(where, ':');
  if (where[0] != '/' && colon != NULL) {
    struct sockaddr_in sa = {0};
    char host[64];
    size_t n = (size_t)(colon - where);
    if (n >= sizeof host) return -1;
    memcpy(host, where, n);
    host[n] = 0;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr*)&sa, sizeof sa) < 0) return -1;
    return fd;
  }
  struct sockaddr_un su = {0};
  su.sun_family = AF_UNIX;
  if (strlen(where) >= sizeof su.sun_path) return -1;
  strcpy(su.sun_path, where);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&su, sizeof su) < 0) return -1;
  return fd;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: rawsend HOST:PORT|SOCKET HEXBYTES\n");
    return 2;
  }
  int fd = connect_to(argv[1]);
  if (fd < 0) {
    printf("CONNECT %s\n", strerror(errno));
    return 0;
  }
  const char* hex = argv[2];
  size_t len = strlen(hex) / 2;
  unsigned char* buf = malloc(len + 1);
  for (size_t i = 0; i < len; i++) sscanf(hex + 2 * i, "%2hhx", &buf[i]);
  if (len && send(fd, buf, len, MSG_NOSIGNAL) < 0) {
    printf("CLOSED 0\n");
    return 0;
  }
  long got = 0;
  long hold = getenv("RAWSEND_HOLD_MS") ? atol(getenv("RAWSEND_HOLD_MS")) : 3000;
  if (hold <= 0 || hold > 600000) hold = 3000;
  const char* types = getenv("RAWSEND_TYPES");
  /* Frame headers: magic(4) version(2) type(2) request id(8) length(4), big-endian. */
  unsigned char head[20];
  size_t have = 0;
  unsigned long skip = 0;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int round = 0; round < 100000; round++) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms > hold) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)(hold - ms)) <= 0) break;
    unsigned char tmp[4096];
    ssize_t r = recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) {
      printf("CLOSED %ld\n", got);
      return 0;
    }
    got += r;
    for (ssize_t i = 0; types && i < r; i++) {
      if (skip) {
        skip--;
        continue;
      }
      head[have++] = tmp[i];
      if (have < sizeof head) continue;
      have = 0;
      skip = ((unsigned long)head[16] << 24) | ((unsigned long)head[17] << 16) |
             ((unsigned long)head[18] << 8) | head[19];
      FILE* f = fopen(types, "a");
      if (f) {
        fprintf(f, "%u\n", (unsigned)((head[6] << 8) | head[7]));
        fclose(f);
      }
    }
  }
  printf("OPEN %ld\n", got);
  return 0;
}
