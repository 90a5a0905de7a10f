#include "shim/dsm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "dipcd/dsm/uffd_compat.h"
#include "proto/dsm.h"
#include "proto/fd_pass.h"

namespace dipc::shim {
namespace {

using proto::DsmLocalOp;
using proto::DsmLocalReply;
using proto::DsmLocalRequest;

constexpr int kMaxAttachments = 256;  // distributed attachments per process
constexpr int kHighFd = 600;
constexpr uintptr_t kShmLba = 4096;

constexpr int kMaxPieces = int(proto::kDsmMaxPieces);
using proto::DsmPiece;

struct Attachment {
  bool used;
  uintptr_t base;
  size_t len;
  int shmid;
  int shmflg;
  int fd;  // the connection that is the attachment
  bool whole;  // dipcd holds the whole segment for it: no userfaultfd registration
  // What is still mapped, in rising order: [base, base+len) until SHM_REMAP over part of
  // it cuts it into pieces (each counts in shm_nattch, as each of Linux's vmas does).
  int npieces;
  DsmPiece piece[kMaxPieces];
};

Attachment g_att[kMaxAttachments];
// Slots in use: a process with none (almost every shmdt) is answered without the lock or
// the scan. Changed under the lock; read without it.
std::atomic<int> g_in_use{0};
std::atomic<bool> g_lock{false};
int g_uffd = -1;     // this process's userfaultfd
pid_t g_uffd_pid = 0;
int g_devfd = -1;    // /dev/userfaultfd, as dipcd passed it
char g_sock[sizeof(sockaddr_un::sun_path)];
pthread_once_t g_once = PTHREAD_ONCE_INIT;

void lock() {
  while (g_lock.exchange(true, std::memory_order_acquire)) sched_yield();
}
void unlock() { g_lock.store(false, std::memory_order_release); }

int high(int fd) {
  if (fd < 0) return fd;
  int h = fcntl(fd, F_DUPFD_CLOEXEC, kHighFd);
  if (h < 0) return fd;
  close(fd);
  return h;
}

void on_fork_prepare() { lock(); }
void on_fork_parent() { unlock(); }
void on_fork_child();

void init_once() {
  const char* d = getenv("DIPC_RUNDIR");
  if (d == nullptr || !*d) d = "/run/dipc";
  const char* name = "/dipcd-dsm.sock";
  if (strlen(d) + strlen(name) < sizeof g_sock) {
    strcpy(g_sock, d);
    strcat(g_sock, name);
  }
  pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

int connect_server() {
  if (!g_sock[0]) return -1;
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, g_sock);
  while (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    if (errno == EINTR) continue;
    close(fd);
    return -1;
  }
  return high(fd);
}

// One request (with at most one descriptor) and its reply (with up to two). Returns false
// when the conversation broke (errno ECOMM).
bool exchange(int fd, const DsmLocalRequest& req, int send_fd, DsmLocalReply* rep, int* fds) {
  uint8_t buf[64];
  proto::Writer w(buf, sizeof buf);
  req.encode(w);
  iovec iov{buf, w.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  proto::FdSpace space;
  proto::put_fds(mh, space, &send_fd, send_fd >= 0 ? 1 : 0);
  ssize_t n;
  do n = sendmsg(fd, &mh, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    errno = ECOMM;
    return false;
  }
  iovec riov{buf, sizeof buf};
  msghdr rh{};
  rh.msg_iov = &riov;
  rh.msg_iovlen = 1;
  proto::expect_fds(rh, space);
  do n = recvmsg(fd, &rh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  fds[0] = fds[1] = -1;
  int got = n > 0 ? proto::take_fds(rh, fds, 2) : 0;
  proto::Reader r(buf, n > 0 ? size_t(n) : 0);
  if (n <= 0 || !rep->decode(r) || rep->fds != got) {
    for (int i = 0; i < got; ++i) close(fds[i]);
    errno = ECOMM;
    return false;
  }
  return true;
}

// This process's userfaultfd, made from /dev/userfaultfd (devfd from dipcd, or kept).
int make_uffd() {
  if (g_devfd < 0) return -1;
  int u = ioctl(g_devfd, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
  if (u < 0) return -1;
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = dsm::kUffdFeatures;
  if (ioctl(u, UFFDIO_API, &api) < 0) {
    close(u);
    return -1;
  }
  return high(u);
}

bool register_range(int uffd, uintptr_t base, size_t len, bool rdonly) {
  uffdio_register reg{};
  reg.range.start = base;
  reg.range.len = len;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING | (rdonly ? 0 : UFFDIO_REGISTER_MODE_WP);
  if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) return false;
  if (rdonly) return true;
  // Every page starts write-protected here; dipcd lifts it where this node may write.
  uffdio_writeprotect wp{};
  wp.range.start = base;
  wp.range.len = len;
  wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
  return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) == 0;
}

// Whether [a, a + n) meets a mapping of this process (/proc/self/maps). Linux's shmat looks
// for one (EINVAL) before it maps, where mmap would first say ENOMEM for a range that goes
// past the top of user space.
bool overlaps_mapping(uintptr_t a, size_t n) {
  if (a + n < a) return true;  // wraps: EINVAL too
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  size_t have = 0;
  bool hit = false;
  for (;;) {
    ssize_t k = read(fd, buf + have, sizeof buf - have);
    if (k <= 0) break;
    have += size_t(k);
    size_t start = 0;
    for (size_t i = 0; i < have; ++i) {
      if (buf[i] != '\n') continue;
      uintptr_t lo = 0, hi = 0;
      size_t j = start;
      auto hex = [&](uintptr_t& v) {
        for (; j < i; ++j) {
          char c = buf[j];
          int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
          if (d < 0) break;
          v = v * 16 + uintptr_t(d);
        }
      };
      hex(lo);
      ++j;  // '-'
      hex(hi);
      if (lo < a + n && a < hi) hit = true;
      start = i + 1;
    }
    memmove(buf, buf + start, have - start);
    have -= start;
    if (hit || have == sizeof buf) break;
  }
  close(fd);
  return hit;
}

// One request on an attachment's connection and its answer (which carries no descriptor):
// whether dipcd took it.
bool ask(const Attachment& a, DsmLocalOp op, uint64_t addr, uint64_t size) {
  DsmLocalRequest req{op, a.shmid, a.shmflg, addr, size, 0};
  DsmLocalReply rep;
  int fds[2];
  if (!exchange(a.fd, req, -1, &rep, fds)) return false;
  for (int f : fds)
    if (f >= 0) close(f);
  return rep.err == 0;
}

// The slot is free again (its connection closed: for dipcd, the detach).
void release(Attachment& a) {
  if (a.fd >= 0) close(a.fd);
  a.fd = -1;
  a.used = false;
  g_in_use.fetch_sub(1, std::memory_order_relaxed);
}

// The bookkeeping of a detach whose mapping is gone already (munmap, or replaced by
// SHM_REMAP): returns once dipcd has counted it (shm_nattch right after is exact, as on
// Linux); whatever the answer, closing the connection is the detach.
void forget_locked(Attachment& a) {
  ask(a, DsmLocalOp::kDetach, a.base, a.len);
  release(a);
}

// An attachment dipcd cannot serve (it let go of it, or a forked child's copy could not be
// registered): what is left of it is made inaccessible rather than left to fault for ever.
void abandon(Attachment& a) {
  for (int i = 0; i < a.npieces; ++i)
    mmap(reinterpret_cast<void*>(a.piece[i].lo), a.piece[i].hi - a.piece[i].lo, PROT_NONE,
         MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  release(a);
}

// Whether a new mapping over [lo, hi) would cut one of our attachments into more pieces
// than dipcd keeps (the shmat then fails with ENOMEM, as Linux's does at its map count).
bool too_many_pieces(uintptr_t lo, uintptr_t hi) {
  DsmPiece left[kMaxPieces + 1];
  bool cut, split;
  for (auto& a : g_att)
    if (a.used && proto::cut_pieces(a.piece, size_t(a.npieces), lo, hi, left, &cut, &split) >
                      size_t(kMaxPieces))
      return true;
  return false;
}

// A new mapping replaced [lo, hi) (SHM_REMAP): each of our attachments there loses that
// part. One with nothing left is detached; one cut is told to dipcd (kUnmap), which counts
// its pieces. Both return once counted, so shm_nattch right after is exact.
void cut_attachments(uintptr_t lo, uintptr_t hi) {
  for (auto& a : g_att) {
    if (!a.used) continue;
    DsmPiece left[kMaxPieces + 1];
    bool cut, split;
    size_t n = proto::cut_pieces(a.piece, size_t(a.npieces), lo, hi, left, &cut, &split);
    if (!cut) continue;
    if (n == 0) {
      forget_locked(a);
      continue;
    }
    if (n > size_t(kMaxPieces)) n = kMaxPieces;  // checked before the mapping was made
    for (size_t i = 0; i < n; ++i) a.piece[i] = left[i];
    a.npieces = int(n);
    if (!ask(a, DsmLocalOp::kUnmap, lo, hi - lo)) abandon(a);  // dipcd closed it
  }
}

// dipcd lets go of a process's userfaultfd with its last attachment: the next attach makes
// and sends a new one (without this it would name one dipcd no longer has).
void drop_uffd_if_unused() {
  if (g_in_use.load(std::memory_order_relaxed) == 0 && g_uffd >= 0) {
    close(g_uffd);
    g_uffd = -1;
  }
}

int free_slot() {
  for (int i = 0; i < kMaxAttachments; ++i)
    if (!g_att[i].used) return i;
  return -1;
}

void* attach_locked(int shmid, const void* shmaddr, int shmflg, bool* fallback) {
  bool rdonly = (shmflg & SHM_RDONLY) != 0;
  uintptr_t addr = reinterpret_cast<uintptr_t>(shmaddr);
  if (addr) {
    if (shmflg & SHM_RND) addr &= ~(kShmLba - 1);
    else if (addr & (kShmLba - 1)) {
      errno = EINVAL;
      return reinterpret_cast<void*>(-1);
    }
  } else if (shmflg & SHM_REMAP) {
    errno = EINVAL;
    return reinterpret_cast<void*>(-1);
  }
  int slot = free_slot();
  if (slot < 0) {
    errno = EMFILE;
    return reinterpret_cast<void*>(-1);
  }
  int fd = connect_server();
  if (fd < 0) {
    *fallback = true;
    return nullptr;
  }
  bool have_uffd = g_uffd >= 0 && g_uffd_pid == getpid();
  DsmLocalRequest req{DsmLocalOp::kAttach, shmid, shmflg, 0, 0, uint8_t(have_uffd)};
  DsmLocalReply rep;
  int fds[2];
  if (!exchange(fd, req, -1, &rep, fds)) {
    close(fd);
    return reinterpret_cast<void*>(-1);
  }
  bool whole = rep.whole != 0;
  if (rep.err || fds[0] < 0 || (!have_uffd && !whole && fds[1] < 0)) {
    for (int f : fds)
      if (f >= 0) close(f);
    close(fd);
    errno = rep.err ? rep.err : ECOMM;
    return reinterpret_cast<void*>(-1);
  }
  if (fds[1] >= 0) {
    if (g_devfd >= 0) close(g_devfd);
    g_devfd = high(fds[1]);
  }
  size_t len = (rep.size + 4095) & ~size_t(4095);
  int prot = PROT_READ | (rdonly ? 0 : PROT_WRITE) | ((shmflg & SHM_EXEC) ? PROT_EXEC : 0);
  // A read-only attachment is a private mapping of a read-only descriptor: userfaultfd
  // needs a mapping that may be made writable, and a private one can never write the
  // segment (a store raises SIGSEGV; after mprotect it would only change a private copy).
  int mflags = rdonly ? MAP_PRIVATE : MAP_SHARED;
  if (addr) mflags |= (shmflg & SHM_REMAP) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
  if (addr && (shmflg & SHM_REMAP) && too_many_pieces(addr, addr + len)) {
    close(fds[0]);
    close(fd);
    errno = ENOMEM;
    return reinterpret_cast<void*>(-1);
  }
  void* p = mmap(reinterpret_cast<void*>(addr), len, prot, mflags, fds[0], 0);
  int e = errno;
  close(fds[0]);
  if (p == MAP_FAILED || (addr && reinterpret_cast<uintptr_t>(p) != addr)) {
    if (p != MAP_FAILED) munmap(p, len);  // an old kernel ignoring MAP_FIXED_NOREPLACE
    close(fd);
    if (p == MAP_FAILED && e == ENOMEM && !(shmflg & SHM_REMAP) && overlaps_mapping(addr, rep.size))
      e = EEXIST;
    errno = (p == MAP_FAILED && e != EEXIST) ? e : EINVAL;
    return reinterpret_cast<void*>(-1);
  }
  if (addr && (shmflg & SHM_REMAP)) {
    // SHM_REMAP over this process's own attachments: the new mapping replaced what it
    // covers of them (one it covers whole is detached, as Linux's unmap of it is).
    cut_attachments(addr, addr + len);
    drop_uffd_if_unused();
    have_uffd = g_uffd >= 0 && g_uffd_pid == getpid();
  }
  uintptr_t base = reinterpret_cast<uintptr_t>(p);
  // On a node that attaches whole segments ([dsm] attach = "whole", or no userfaultfd) the
  // mapping is the memfd itself, coherent while dipcd holds every page for it: nothing is
  // registered. Otherwise the range goes on this process's userfaultfd.
  int send_uffd = -1;
  if (!whole && !have_uffd) {
    if (g_uffd >= 0) close(g_uffd);  // a parent's, inherited through a fork we missed
    g_uffd = make_uffd();
    g_uffd_pid = getpid();
    send_uffd = g_uffd;
  }
  DsmLocalRequest reg{DsmLocalOp::kRegister, shmid, shmflg, base, len, uint8_t(send_uffd >= 0)};
  if ((!whole && (g_uffd < 0 || !register_range(g_uffd, base, len, rdonly))) ||
      !exchange(fd, reg, send_uffd, &rep, fds) || rep.err) {
    e = rep.err ? rep.err : (!whole && g_uffd < 0 ? ENOSYS : errno);
    munmap(p, len);
    close(fd);
    errno = e;
    return reinterpret_cast<void*>(-1);
  }
  Attachment& a = g_att[slot];
  a = {true, base, len, shmid, shmflg, fd, whole, 1, {}};
  a.piece[0] = {base, base + len};
  g_in_use.fetch_add(1, std::memory_order_relaxed);
  return p;
}

// In a forked child, before fork() returns there: the mappings were inherited but not
// their registration, and the connections are the parent's. Each copy gets registered on
// the child's own userfaultfd over its own connection; one that cannot be is made
// inaccessible rather than left incoherent.
void on_fork_child() {
  bool any = false, faulting = false;
  for (auto& a : g_att) {
    any = any || a.used;
    faulting = faulting || (a.used && !a.whole);
  }
  if (!any) return unlock();
  if (g_uffd >= 0) close(g_uffd);  // the parent's
  g_uffd = faulting ? make_uffd() : -1;
  g_uffd_pid = getpid();
  bool sent = false;
  for (auto& a : g_att) {
    if (!a.used) continue;
    close(a.fd);  // our copy of the parent's connection
    a.fd = -1;
    bool rdonly = (a.shmflg & SHM_RDONLY) != 0;
    // A whole attachment needs no registration: the child holds it on its own connection.
    bool ok = a.whole || g_uffd >= 0;
    for (int i = 0; ok && !a.whole && i < a.npieces; ++i)
      ok = register_range(g_uffd, a.piece[i].lo, a.piece[i].hi - a.piece[i].lo, rdonly);
    a.fd = ok ? connect_server() : -1;
    ok = a.fd >= 0;
    // An attachment cut by SHM_REMAP names its pieces first: dipcd checks those.
    bool cut = !(a.npieces == 1 && a.piece[0] == DsmPiece{a.base, a.base + a.len});
    for (int i = 0; ok && cut && i < a.npieces; ++i)
      ok = ask(a, DsmLocalOp::kPiece, a.piece[i].lo, a.piece[i].hi - a.piece[i].lo);
    bool with_uffd = !a.whole && !sent;
    DsmLocalRequest req{DsmLocalOp::kInherit, a.shmid, a.shmflg, a.base, a.len, uint8_t(with_uffd)};
    DsmLocalReply rep;
    int fds[2];
    ok = ok && exchange(a.fd, req, with_uffd ? g_uffd : -1, &rep, fds) && rep.err == 0;
    if (ok && with_uffd) sent = true;
    if (!ok) abandon(a);
  }
  unlock();
}

}  // namespace

void* dsm_attach(int shmid, const void* shmaddr, int shmflg, bool* fallback) {
  pthread_once(&g_once, init_once);
  int saved = errno;
  lock();
  void* p = attach_locked(shmid, shmaddr, shmflg, fallback);
  int e = errno;
  unlock();
  errno = (*fallback || p != reinterpret_cast<void*>(-1)) ? saved : e;
  return p;
}

void* dsm_plain_remap(int shmid, const void* shmaddr, int shmflg,
                      void* (*plain_shmat)(int, const void*, int)) {
  if (g_in_use.load(std::memory_order_relaxed) == 0) return plain_shmat(shmid, shmaddr, shmflg);
  uintptr_t addr = reinterpret_cast<uintptr_t>(shmaddr);
  if (shmflg & SHM_RND) addr &= ~(kShmLba - 1);
  lock();
  // The segment's size tells what the mapping will cover; without it (no permission to
  // read it, so the attach fails too) nothing of ours is known to be cut.
  shmid_ds ds{};
  size_t len = 0;
  int saved = errno;
  if (syscall(SYS_shmctl, shmid, IPC_STAT, &ds) == 0) len = (ds.shm_segsz + 4095) & ~size_t(4095);
  errno = saved;
  if (len && addr + len > addr && too_many_pieces(addr, addr + len)) {
    unlock();
    errno = ENOMEM;
    return reinterpret_cast<void*>(-1);
  }
  void* p = plain_shmat(shmid, shmaddr, shmflg);
  int e = errno;
  if (p != reinterpret_cast<void*>(-1) && len) {
    uintptr_t at = reinterpret_cast<uintptr_t>(p);
    cut_attachments(at, at + len);
    drop_uffd_if_unused();
  }
  unlock();
  errno = e;
  return p;
}

int dsm_detach(const void* shmaddr) {
  // An address this thread got from a distributed attach was recorded before shmat
  // returned it, so a count of 0 means it is not one.
  if (g_in_use.load(std::memory_order_relaxed) == 0) return 0;
  uintptr_t addr = reinterpret_cast<uintptr_t>(shmaddr);
  lock();
  // As Linux's shmdt: the first mapping from shmaddr up that is a piece of an attachment
  // made at shmaddr names the attachment, and every piece of it goes. (Two attachments
  // start at shmaddr when SHM_REMAP put a smaller one over the start of another.)
  Attachment* at = nullptr;
  for (auto& a : g_att)
    if (a.used && a.base == addr && (!at || a.piece[0].lo < at->piece[0].lo)) at = &a;
  if (!at) {
    unlock();
    return 0;
  }
  for (int i = 0; i < at->npieces; ++i)
    munmap(reinterpret_cast<void*>(at->piece[i].lo), at->piece[i].hi - at->piece[i].lo);
  forget_locked(*at);
  drop_uffd_if_unused();
  unlock();
  return 1;
}

}  // namespace dipc::shim
