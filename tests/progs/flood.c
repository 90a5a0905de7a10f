/* flood: a local user who asks and never reads. Connects to a dipcd's Unix socket, writes
 * up to N "status" admin requests without reading a byte of the answers (non-blocking: it
 * stops when dipcd stops taking them), prints "SENT K" (how many whole requests dipcd's
 * socket took), then holds the connection open for HOLD_S seconds so that the test can
 * look at dipcd's memory, and exits. Bounded: N <= 10^6, HOLD_S <= 30, 10 s of writing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const unsigned char kStatus[] = {
    0x44, 0x49, 0x50, 0x43, 0x00, 0x01, 0x00, 0x28,  /* magic, version 1, kAdmin (40) */
    0, 0, 0, 0, 0, 0, 0, 1,                          /* request id */
    0, 0, 0, 15,                                     /* payload length */
    0, 0, 0, 6, 's', 't', 'a', 't', 'u', 's', 0, 0, 0, 0, 0};

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: flood SOCKET N HOLD_S\n");
    return 2;
  }
  long n = atol(argv[2]), hold = atol(argv[3]);
  if (n < 1 || n > 1000000 || hold < 0 || hold > 30) return 2;
  struct sockaddr_un su = {0};
  su.sun_family = AF_UNIX;
  if (strlen(argv[1]) >= sizeof su.sun_path) return 2;
  strcpy(su.sun_path, argv[1]);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&su, sizeof su) < 0) {
    printf("CONNECT %s\n", strerror(errno));
    return 0;
  }
  fcntl(fd, F_SETFL, O_NONBLOCK);
  enum { kBatch = 256 };
  static unsigned char buf[sizeof kStatus * kBatch];
  for (int i = 0; i < kBatch; i++) memcpy(buf + i * sizeof kStatus, kStatus, sizeof kStatus);
  long sent_bytes = 0, total = n * (long)sizeof kStatus;
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (sent_bytes < total) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec > 10) break;
    size_t off = (size_t)(sent_bytes % (long)sizeof kStatus);
    size_t want = sizeof buf - off;
    if ((long)want > total - sent_bytes) want = (size_t)(total - sent_bytes);
    ssize_t w = send(fd, buf + off, want, MSG_NOSIGNAL);
    if (w > 0) {
      sent_bytes += w;
      continue;
    }
    if (w < 0 && errno != EAGAIN) break;
    /* Wait a little for dipcd to take more; it stops reading when we don't read. */
    struct pollfd p = {fd, POLLOUT, 0};
    if (poll(&p, 1, 500) <= 0) break;
  }
  printf("SENT %ld\n", sent_bytes / (long)sizeof kStatus);
  fflush(stdout);
  sleep((unsigned)hold);
  return 0;
}
