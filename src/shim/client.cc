#include "shim/client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "proto/errno_wire.h"

namespace dipc::shim {
namespace {

using proto::FrameType;
using proto::Header;
using proto::kHeaderSize;

constexpr const char* kDefaultRunDir = "/run/dipc";
constexpr int kHighFd = 600;  // keep our descriptor out of the way of low-numbered ones

char g_run_dir[108];
std::atomic<const std::atomic<uint64_t>*> g_slots{nullptr};
std::atomic<const std::atomic<uint64_t>*> g_rules{nullptr};  // stored before g_slots
pthread_mutex_t g_map_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_key_t g_conn_key;
pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

struct Conn {
  int fd = -1;
  pid_t pid = 0;
  dev_t dev = 0;
  ino_t ino = 0;
  pid_t tid = 0;  // the thread that opened it (a thread's id does not change; a forked
                  // child, whose id differs, opens its own)
  uint64_t next_id = 1;
  bool busy = false;      // a call is between its request and its reply
  // A stack address inside that call's exchange, below every frame of the caller's: a
  // signal handler that calls while the thread waits runs deeper still (nesting), while a
  // call made after a siglongjmp out of the wait starts higher up (an abandoned call).
  uintptr_t busy_sp = 0;
  uint64_t busy_id = 0;   // that call's request id, once sent
  bool busy_rx = false;   // part of its reply has been read
  bool busy_takes = false;  // that call is a msgrcv that takes its message (not MSG_COPY)
  uid_t euid = 0;         // the thread's effective ids when it connected: dipcd knows the
  gid_t egid = 0;         // caller by them (SO_PEERCRED), so a change needs a new connection
};
__thread Conn t_conn __attribute__((tls_model("initial-exec")));

void build_path(char* out, size_t cap, const char* name) {
  size_t n = strlen(g_run_dir);
  if (n + 1 + strlen(name) + 1 > cap) {
    out[0] = 0;
    return;
  }
  memcpy(out, g_run_dir, n);
  out[n] = '/';
  strcpy(out + n + 1, name);
}

void map_table() {
  char path[160];
  build_path(path, sizeof path, idtable::kFileName);
  if (!path[0]) return;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  void* p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && size_t(st.st_size) >= idtable::kFileSize)
    p = mmap(nullptr, idtable::kFileSize, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return;
  auto* h = static_cast<const idtable::Header*>(p);
  if (h->magic != idtable::kMagic || h->slots != idtable::kSlots) {
    munmap(p, idtable::kFileSize);
    return;
  }
  auto* slots = reinterpret_cast<const std::atomic<uint64_t>*>(static_cast<const char*>(p) +
                                                                sizeof(idtable::Header));
  auto* rules = reinterpret_cast<const std::atomic<uint64_t>*>(static_cast<const char*>(p) +
                                                                idtable::kRulesOffset);
  g_rules.store(rules, std::memory_order_release);
  g_slots.store(slots, std::memory_order_release);
}

__attribute__((constructor)) void init_client() {
  const char* d = getenv("DIPC_RUNDIR");
  if (d == nullptr || !*d || strlen(d) >= sizeof g_run_dir - 16) d = kDefaultRunDir;
  strcpy(g_run_dir, d);
  map_table();
}

// Closes our socket only if the descriptor is still ours: the program may have closed it
// and reused the number (or a forked child may have), and its descriptor is not ours.
void close_conn(Conn& c) {
  struct stat st;
  if (c.fd >= 0 && fstat(c.fd, &st) == 0 && st.st_dev == c.dev && st.st_ino == c.ino) close(c.fd);
  c.fd = -1;
}

void thread_exit(void*) { close_conn(t_conn); }
void make_key() { pthread_key_create(&g_conn_key, thread_exit); }

// Opens a new connection to dipcd into c.
bool open_conn(Conn& c, pid_t pid) {
  char path[sizeof(sockaddr_un::sun_path)];
  build_path(path, sizeof path, "dipcd.sock");
  if (!path[0]) return false;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, path);
  uid_t euid = geteuid();
  gid_t egid = getegid();
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    close(fd);
    return false;
  }
  int high = fcntl(fd, F_DUPFD_CLOEXEC, kHighFd);
  if (high >= 0) {
    close(fd);
    fd = high;
  }
  // A receive timeout makes the kernel return EINTR after any signal handler instead of
  // restarting the wait, which is what a blocked msgrcv/semop must do.
  timeval tv{3600, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct stat st;
  fstat(fd, &st);
  // A signal handler that called in while this connection was being made has made one
  // of its own: keep that one (it may be in use), and this one goes.
  struct stat cur;
  if (c.fd >= 0 && c.pid == pid && fstat(c.fd, &cur) == 0 && cur.st_dev == c.dev &&
      cur.st_ino == c.ino) {
    close(fd);
    return true;
  }
  c.pid = pid;
  c.tid = pid_t(syscall(SYS_gettid));
  c.dev = st.st_dev;
  c.ino = st.st_ino;
  c.busy = false;
  c.euid = euid;
  c.egid = egid;
  // Published last: a handler that interrupts this sees a whole connection or none, never
  // a descriptor whose identity is not written yet (it took that for a stranger's and
  // opened two more).
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  c.fd = fd;
  return true;
}

// Returns true when t_conn is a live connection of this process to dipcd.
bool connect_dipcd() {
  Conn& c = t_conn;
  pid_t pid = getpid();
  if (c.fd >= 0 && c.pid == pid) {
    struct stat st;
    if (fstat(c.fd, &st) == 0 && st.st_dev == c.dev && st.st_ino == c.ino) {
      // Linux checks permissions with the ids of each call: a thread that changed its
      // effective ids since it connected gets a connection that carries the new ones.
      if (geteuid() == c.euid && getegid() == c.egid) return true;
      close_conn(c);
    } else {
      c.fd = -1;  // the program closed or replaced it: not ours to close any more
    }
  } else if (c.fd >= 0) {
    close_conn(c);  // inherited from the parent: the child needs its own
  }
  if (!open_conn(c, pid)) return false;
  pthread_once(&g_key_once, make_key);
  pthread_setspecific(g_conn_key, &c);
  return true;
}

bool send_all(int fd, iovec* iov, int cnt) {
  while (cnt > 0) {
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = size_t(cnt);
    ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    while (cnt > 0 && size_t(n) >= iov->iov_len) {
      n -= ssize_t(iov->iov_len);
      ++iov;
      --cnt;
    }
    if (cnt > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + n;
      iov->iov_len -= size_t(n);
    }
  }
  return true;
}

bool send_cancel(int fd, uint64_t id) {
  uint8_t hdr[kHeaderSize];
  Header h;
  h.type = FrameType::kCancel;
  h.request_id = id;
  proto::encode_header(h, hdr);
  iovec iov{hdr, kHeaderSize};
  return send_all(fd, &iov, 1);
}

// Reads exactly n bytes. An interrupted wait in an interruptible call sends the cancel
// (once) and goes on waiting for the final reply.
// The wait itself is a poll for POLLIN, then the recv: a task blocked in recv on a Unix
// stream socket is also woken when the peer reads what it sent (the kernel's write-space
// wake-up, which reaches every sleeper on the socket) and goes back to sleep, one needless
// pair of context switches per remote call; poll's wake-ups are filtered by event. Like the
// receive timeout, poll is never restarted after a signal handler (EINTR).
bool recv_all(int fd, void* buf, size_t n, CallMode mode, uint64_t id, bool* cancelled) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    pollfd pf{fd, POLLIN, 0};
    ssize_t r = poll(&pf, 1, -1);
    if (r > 0) r = recv(fd, p, n, MSG_DONTWAIT);
    if (r > 0) {
      p += r;
      n -= size_t(r);
      continue;
    }
    if (r == 0) return false;
    if (errno == EAGAIN || errno == EWOULDBLOCK) continue;  // receive timeout: keep waiting
    if (errno != EINTR) return false;
    if (mode == CallMode::kInterruptible && !*cancelled) {
      *cancelled = true;
      if (!send_cancel(fd, id)) return false;
    }
  }
  return true;
}

bool discard(int fd, size_t n) {
  char sink[512];
  bool dummy = true;
  while (n > 0) {
    size_t k = n < sizeof sink ? n : sizeof sink;
    if (!recv_all(fd, sink, k, CallMode::kPlain, 0, &dummy)) return false;
    n -= k;
  }
  return true;
}

}  // namespace

uint32_t id_flags(proto::Kind kind, int id) {
  const std::atomic<uint64_t>* slots = g_slots.load(std::memory_order_acquire);
  if (slots == nullptr) return 0;
  return idtable::lookup(slots, kind, id);
}

bool node_distributes(uint32_t key) {
  const std::atomic<uint64_t>* rules = g_rules.load(std::memory_order_acquire);
  return rules != nullptr && idtable::rules_match(rules, key);
}

namespace {

// process_vm_readv/writev on ourselves; false when some byte is not accessible. Where the
// calls are not allowed (a seccomp filter) the pointer is trusted, as it was before.
bool user_copy(bool write, void* local, void* remote, size_t n) {
  if (n == 0) return true;
  int saved = errno;
  iovec l{local, n}, r{remote, n};
  ssize_t k = write ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
                    : process_vm_readv(getpid(), &l, 1, &r, 1, 0);
  bool ok = k == ssize_t(n);
  if (k < 0 && (errno == ENOSYS || errno == EPERM)) {
    if (write)
      memcpy(remote, local, n);
    else
      memcpy(local, remote, n);
    ok = true;
  }
  errno = saved;
  return ok;
}

}  // namespace

bool user_read(void* dst, const void* src, size_t n) {
  return user_copy(false, dst, const_cast<void*>(src), n);
}

bool user_write(void* dst, const void* src, size_t n) {
  return user_copy(true, const_cast<void*>(src), dst, n);
}

long kernel_limit(const char* name, int field, long fallback) {
  char path[64] = "/proc/sys/kernel/";
  size_t n = strlen(path);
  if (n + strlen(name) + 1 > sizeof path) return fallback;
  strcpy(path + n, name);
  int saved = errno;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    errno = saved;
    return fallback;
  }
  char b[128];
  ssize_t k = read(fd, b, sizeof b - 1);
  close(fd);
  errno = saved;
  if (k <= 0) return fallback;
  b[k] = 0;
  char* p = b;
  for (int i = 0; i < field; ++i) {
    while (*p && *p != ' ' && *p != '\t') ++p;
    while (*p == ' ' || *p == '\t') ++p;
  }
  char* end;
  long v = strtol(p, &end, 10);
  return end == p ? fallback : v;
}

bool user_readable(const void* p, size_t n) {
  char sink[4096];
  auto* c = static_cast<const char*>(p);
  while (n > 0) {
    size_t k = n < sizeof sink ? n : sizeof sink;
    if (!user_read(sink, c, k)) return false;
    c += k;
    n -= k;
  }
  return true;
}

void ensure_table() {
  if (g_slots.load(std::memory_order_acquire) != nullptr) return;
  pthread_mutex_lock(&g_map_lock);
  if (g_slots.load(std::memory_order_acquire) == nullptr) map_table();
  pthread_mutex_unlock(&g_map_lock);
}

namespace {

// One request and its reply on connection c. Not inlined: its frame lies below call()'s,
// which is what c.busy_sp relies on.
__attribute__((noinline)) int exchange(Conn& c, const proto::OpRequest& req, Reply* rep,
                                       void* out, size_t out_cap, CallMode mode, AuxOut aux) {
  char mark;
  c.busy_sp = reinterpret_cast<uintptr_t>(&mark);
  int saved = errno;
  uint64_t id = c.next_id++;
  uint8_t head[kHeaderSize + 512];
  proto::Writer w(head + kHeaderSize, sizeof head - kHeaderSize);
  // The calling thread, whose credentials of now dipcd makes the call with: this
  // connection's, kept from when it was opened (one system call fewer per call).
  proto::OpRequest sent = req;
  sent.pid = int32_t(c.tid);
  sent.encode_fixed(w);
  if (!w.ok()) {
    errno = EINVAL;
    return -1;
  }
  Header h;
  h.type = FrameType::kOp;
  h.request_id = id;
  h.length = uint32_t(w.size() + req.data.size());
  proto::encode_header(h, head);
  iovec iov[2] = {{head, kHeaderSize + w.size()},
                  {const_cast<char*>(req.data.data()), req.data.size()}};
  // Before the request leaves: a handler that leaves the call with siglongjmp from here on
  // finds it said.
  c.busy_takes = req.op == proto::Op::kMsgRcv && !(req.flags & MSG_COPY);
  if (!send_all(c.fd, iov, req.data.empty() ? 1 : 2)) {
    close_conn(c);
    errno = ENOLINK;
    return -1;
  }
  c.busy_id = id;
  c.busy_rx = false;
  bool cancelled = false;
  uint8_t rh[kHeaderSize + proto::OpReply::kFixedSize];
  Header got;
  if (!recv_all(c.fd, rh, sizeof rh, mode, id, &cancelled) ||
      proto::decode_header(rh, got) != proto::HeaderError::kNone ||
      got.type != FrameType::kOpReply || got.request_id != id ||
      got.length < proto::OpReply::kFixedSize) {
    close_conn(c);
    errno = ECOMM;
    return -1;
  }
  c.busy_rx = true;
  proto::Reader r(rh + kHeaderSize, proto::OpReply::kFixedSize);
  rep->ret = r.i64();
  rep->err = proto::errno_from_wire(r.i32());  // OpReply::decode's, inlined here
  rep->aux = r.i64();
  uint32_t dlen = r.u32();
  if (dlen != got.length - proto::OpReply::kFixedSize) {
    close_conn(c);
    errno = ECOMM;
    return -1;
  }
  if (dlen > out_cap) {  // dipcd never sends more than asked for; treat it as a broken link
    close_conn(c);
    errno = ECOMM;
    return -1;
  }
  rep->fault = false;
  // A message type that does not fit this node's long (a 32-bit node receiving a type
  // a 64-bit node sent; never on a 64-bit node): the message is dropped and the call fails
  // with EOVERFLOW (docs/hetero.md).
  bool overflow = aux.wanted && rep->ret >= 0 && int64_t(long(rep->aux)) != rep->aux;
  if (aux.wanted && rep->ret >= 0 && !overflow) {
    long v = long(rep->aux);
    rep->fault = !user_write(aux.to, &v, sizeof v);
  }
  rep->fault = rep->fault || overflow;  // the text is read and dropped
  // The data goes straight into out, which may be the caller's memory: recv reports a
  // part it cannot write with EFAULT (what it could write stays written, as with the
  // kernel's copy), and the rest is read and dropped.
  size_t done_len = 0;
  auto* o = static_cast<char*>(out);
  while (!rep->fault && done_len < dlen) {
    ssize_t k = recv(c.fd, o + done_len, dlen - done_len, 0);
    if (k > 0) {
      done_len += size_t(k);
    } else if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
      continue;
    } else if (k < 0 && errno == EFAULT) {
      rep->fault = true;
    } else {
      close_conn(c);
      errno = ECOMM;
      return -1;
    }
  }
  if (done_len < dlen && !discard(c.fd, dlen - done_len)) {
    close_conn(c);
    errno = ECOMM;
    return -1;
  }
  rep->data_len = done_len;
  // A message taken off its queue has reached this process: say so, so that dipcd stops
  // keeping it to give back should the process die before it read the answer. Before the
  // caller sees it: a process killed before this line never had the message.
  if (req.op == proto::Op::kMsgRcv && !(req.flags & MSG_COPY) && rep->ret >= 0) {
    uint8_t th[kHeaderSize];
    Header t;
    t.type = FrameType::kTaken;
    t.request_id = id;
    t.length = 0;
    proto::encode_header(t, th);
    iovec tv[1] = {{th, sizeof th}};
    if (!send_all(c.fd, tv, 1)) {
      close_conn(c);  // the message is ours; the connection is not
    }
  }
  if (overflow) {
    rep->fault = false;
    rep->ret = -1;
    rep->err = EOVERFLOW;
  }
  errno = saved;
  return 0;
}

// Cancels c's unfinished call and reads (drops) its reply. False if the connection broke,
// or must be closed: an abandoned msgrcv may have taken a message, which dipcd gives back to
// its queue when the connection closes (it would otherwise wait for the process to exit).
bool finish_abandoned(Conn& c) {
  if (c.busy_takes) return false;
  if (!send_cancel(c.fd, c.busy_id)) return false;
  bool cancelled = true;
  uint8_t rh[kHeaderSize];
  Header got;
  for (int frames = 0; frames < 4; ++frames) {
    if (!recv_all(c.fd, rh, sizeof rh, CallMode::kPlain, c.busy_id, &cancelled) ||
        proto::decode_header(rh, got) != proto::HeaderError::kNone ||
        !discard(c.fd, got.length))
      return false;
    if (got.type == FrameType::kOpReply && got.request_id == c.busy_id) return true;
  }
  return false;
}

}  // namespace

int call(const proto::OpRequest& req, Reply* rep, void* out, size_t out_cap, CallMode mode,
         AuxOut aux) {
  char here;
  uintptr_t sp = reinterpret_cast<uintptr_t>(&here);
  if (t_conn.busy && t_conn.pid == getpid()) {
    stack_t ss;
    bool alt = sigaltstack(nullptr, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
    if (alt || sp < t_conn.busy_sp) {
      // A signal handler calling while its thread is inside a call (deeper on the stack):
      // the thread's connection is mid-conversation, so this call gets one of its own.
      Conn tmp;
      if (!open_conn(tmp, getpid())) {
        errno = ENOLINK;
        return -1;
      }
      int rc = exchange(tmp, req, rep, out, out_cap, mode, aux);
      int e = errno;
      close_conn(tmp);
      errno = e;
      return rc;
    }
    // The last call never finished (a handler left it with siglongjmp): cancel it and wait
    // for its last word before anything else goes out, so that it cannot take what this
    // call sends. If its reply was half read, only closing the connection is safe.
    if (t_conn.busy_id == 0 || t_conn.busy_rx || !finish_abandoned(t_conn)) close_conn(t_conn);
  }
  if (!connect_dipcd()) {
    errno = ENOLINK;
    return -1;
  }
  t_conn.busy = true;
  t_conn.busy_id = 0;
  int rc = exchange(t_conn, req, rep, out, out_cap, mode, aux);
  t_conn.busy = false;
  return rc;
}

}  // namespace dipc::shim
