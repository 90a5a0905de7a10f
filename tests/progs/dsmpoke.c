/* dsmpoke: a hostile local peer of dipcd's fault server (RUN_DIR/dipcd-dsm.sock).
 *   dsmpoke SOCKET N   N times: connects, sends one request (kPiece, kUnmap or kDetach, in
 *                      turn) that says a descriptor travels with it, with a userfaultfd
 *                      attached, reads the answer and hangs up. Prints "SENT N REFUSED R"
 *                      (R: requests answered with an error, or by a hang-up). The requests
 *                      are encoded here byte by byte, as the wire format says
 *                      (src/proto/dsm.h: op, shmid, shmflg, addr, size, uffd_attached;
 *                      big-endian), so that the program needs nothing of DIPC's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static void put_be(uint8_t* p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i, v >>= 8) p[i] = (uint8_t)v;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: dsmpoke SOCKET N\n");
    return 2;
  }
  int n = atoi(argv[2]), refused = 0;
  const uint8_t ops[3] = {6 /* kPiece */, 5 /* kUnmap */, 4 /* kDetach */};
  for (int i = 0; i < n; ++i) {
    int u = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    if (u < 0) {
      printf("userfaultfd %s\n", strerror(errno));
      return 1;
    }
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
    if (fd < 0 || connect(fd, (struct sockaddr*)&sa, sizeof sa) < 0) {
      printf("connect %s\n", strerror(errno));
      return 1;
    }
    uint8_t req[26] = {0};
    req[0] = ops[i % 3];
    put_be(req + 9, 0x10000000ull, 8);  /* addr */
    put_be(req + 17, 4096, 8);          /* size */
    req[25] = 1;                        /* a descriptor travels with it */
    struct iovec iov = {req, sizeof req};
    union {
      struct cmsghdr h;
      char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &u, sizeof u);
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
      printf("sendmsg %s\n", strerror(errno));
      return 1;
    }
    uint8_t rep[64];
    ssize_t k = recv(fd, rep, sizeof rep, 0);
    /* The answer: err (4 bytes, big-endian), size, fds, whole. */
    if (k < 4 || (rep[0] | rep[1] | rep[2] | rep[3]) != 0) ++refused;
    close(fd);
    close(u);
  }
  printf("SENT %d REFUSED %d\n", n, refused);
  return 0;
}
