// Descriptors passed with SCM_RIGHTS on a Unix socket: putting them on a message and taking
// them off. Used by the shim and by dipcd's fault server (RUN_DIR/dipcd-dsm.sock). Header
// only, libc only, no allocation. Thread safety: none needed.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace dipc::proto {

inline constexpr int kMaxPassedFds = 4;

struct FdSpace {
  alignas(cmsghdr) char buf[CMSG_SPACE(kMaxPassedFds * sizeof(int))];
};

// Puts n (<= kMaxPassedFds) descriptors on mh, using space for the control data.
inline void put_fds(msghdr& mh, FdSpace& space, const int* fds, int n) {
  if (n <= 0) return;
  mh.msg_control = space.buf;
  mh.msg_controllen = CMSG_SPACE(size_t(n) * sizeof(int));
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(size_t(n) * sizeof(int));
  std::memcpy(CMSG_DATA(c), fds, size_t(n) * sizeof(int));
}

// Prepares mh to receive descriptors into space.
inline void expect_fds(msghdr& mh, FdSpace& space) {
  mh.msg_control = space.buf;
  mh.msg_controllen = sizeof space.buf;
}

// Takes the descriptors a received mh carries: the first max into out, the rest closed.
// Returns how many are in out.
inline int take_fds(msghdr& mh, int* out, int max) {
  int got = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int k = int((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < k; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + size_t(i) * sizeof(int), sizeof fd);
      if (got < max) out[got++] = fd;
      else close(fd);
    }
  }
  return got;
}

}  // namespace dipc::proto
