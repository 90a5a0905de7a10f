// The fault server's local socket (RUN_DIR/dipcd-dsm.sock): one connection per
// attachment, through which a process gets the segment's memfd and /dev/userfaultfd and
// hands its userfaultfd back; the connection's end is the detach. Also the whole
// attachments of a node that attaches without userfaultfd (Options::attach_whole): the
// pages held from the attach to the detach, and the recalls held back meanwhile. Fault
// server's thread (or a thread holding its state lock).
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <climits>
#include <cstring>

#include "dipcd/conn.h"
#include "dipcd/dsm/fault_server_state.h"
#include "proto/fd_pass.h"

namespace dipc::daemon::dsm {

using proto::FrameType;

// ---------------------------------------------------------------------------------------
// Local attachments

void FaultServer::on_accept() {
  for (;;) {
    int fd = accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    auto s = std::make_unique<Session>();
    s->fd = fd;
    socklen_t len = sizeof s->cred;
    gid_t groups[NGROUPS_MAX > 65536 ? 65536 : NGROUPS_MAX];
    socklen_t glen = sizeof groups;
    if (sessions_.size() >= kMaxSessions ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &s->cred, &len) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) != 0) {
      close(fd);
      continue;
    }
    s->groups.assign(groups, groups + glen / sizeof(gid_t));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = tag(kTagSession, fd);
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    sessions_[fd] = std::move(s);
  }
}

namespace {

// System V's permission rule (ipcperms) for the caller as SO_PEERCRED/SO_PEERGROUPS saw it:
// read, write unless SHM_RDONLY, execute with SHM_EXEC.
bool may_attach(const ucred& c, const std::vector<gid_t>& groups, const shmid_ds& ds, int shmflg) {
  if (c.uid == 0) return true;
  unsigned mode = ds.shm_perm.mode;
  unsigned granted;
  if (c.uid == ds.shm_perm.uid || c.uid == ds.shm_perm.cuid) {
    granted = mode >> 6;
  } else {
    bool in = c.gid == ds.shm_perm.gid || c.gid == ds.shm_perm.cgid;
    for (gid_t g : groups) in = in || g == ds.shm_perm.gid || g == ds.shm_perm.cgid;
    granted = in ? mode >> 3 : mode;
  }
  unsigned need = (shmflg & SHM_RDONLY) ? 4 : 6;
  if (shmflg & SHM_EXEC) need |= 1;
  return (need & ~granted & 7) == 0;
}

// The process really maps our memfd at [base, base+len): /proc/PID/map_files says so.
bool maps_memfd(pid_t pid, uint64_t base, uint64_t len, dev_t dev, ino_t ino) {
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/map_files/%lx-%lx", int(pid), (unsigned long)base,
           (unsigned long)(base + len));
  struct stat st;
  return stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

void reply(int fd, int err, uint64_t size, const int* fds, int nfds, bool whole = false) {
  uint8_t buf[proto::DsmLocalReply::kSize];
  proto::Writer w(buf, sizeof buf);
  proto::DsmLocalReply r{err, size, uint8_t(nfds), uint8_t(whole)};
  r.encode(w);
  iovec iov{buf, w.size()};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  proto::FdSpace space;
  proto::put_fds(mh, space, fds, nfds);
  // The shim waits for this answer; a full socket buffer would be a broken shim.
  sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

void FaultServer::on_session(Session* s) {
  uint8_t buf[64];
  iovec iov{buf, sizeof buf};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  proto::FdSpace space;
  proto::expect_fds(mh, space);
  ssize_t n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  int passed = -1;
  proto::take_fds(mh, &passed, 1);
  if (n <= 0) {
    if (passed >= 0) close(passed);
    return close_session(s);
  }
  proto::DsmLocalRequest req;
  proto::Reader r(buf, size_t(n));
  // A userfaultfd travels only with kRegister and kInherit, when the request says so (with
  // kAttach the flag says the process has one already); a descriptor with any other message
  // is refused, never left open here.
  bool decoded = req.decode(r);
  bool takes_uffd = decoded && req.uffd_attached &&
                    (req.op == proto::DsmLocalOp::kRegister || req.op == proto::DsmLocalOp::kInherit);
  if (!decoded || (passed >= 0) != takes_uffd) {
    if (passed >= 0) close(passed);
    reply(s->fd, EINVAL, 0, nullptr, 0);
    return close_session(s);
  }
  // A passed descriptor must be a userfaultfd.
  if (passed >= 0) {
    char link[64] = {};
    char p[48];
    snprintf(p, sizeof p, "/proc/self/fd/%d", passed);
    if (readlink(p, link, sizeof link - 1) < 0 || strcmp(link, "anon_inode:[userfaultfd]") != 0) {
      close(passed);
      reply(s->fd, EINVAL, 0, nullptr, 0);
      return close_session(s);
    }
  }
  auto fail = [&](int err) {
    if (passed >= 0) close(passed);
    reply(s->fd, err, 0, nullptr, 0);
    close_session(s);
  };
  if (req.op == proto::DsmLocalOp::kDetach) {
    if (!s->registered) return fail(EINVAL);
    return close_session(s, true);
  }
  if (req.op == proto::DsmLocalOp::kUnmap) {
    if (!s->registered) return fail(EINVAL);
    return unmap_piece(s, req.addr, req.size);
  }
  if (s->registered) return fail(EINVAL);  // one attachment per connection
  // A whole attachment waiting for its pages takes nothing more; once answered, only
  // its kRegister.
  if (s->whole && (!s->pin_ready || req.op != proto::DsmLocalOp::kRegister)) return fail(EINVAL);
  if (req.op == proto::DsmLocalOp::kPiece) {
    // A forked child's copy cut into pieces: named one by one, in rising order, before its
    // kInherit, which then checks each of them.
    uint64_t lo = req.addr, hi = req.addr + req.size;
    if (s->seg || s->pieces.size() >= proto::kDsmMaxPieces || req.size == 0 ||
        lo % kDsmPage != 0 || req.size % kDsmPage != 0 || hi < lo ||
        (!s->pieces.empty() && lo <= s->pieces.back().hi))
      return fail(EINVAL);
    s->pieces.push_back({lo, hi});
    return reply(s->fd, 0, 0, nullptr, 0);
  }
  if (req.op != proto::DsmLocalOp::kInherit && !s->pieces.empty()) return fail(EINVAL);
  if (req.op == proto::DsmLocalOp::kAttach) {
    auto it = local_.find(req.shmid);
    if (it == local_.end() || it->second->removed) return fail(EINVAL);
    shmid_ds ds{};
    if (syscall(SYS_shmctl, req.shmid, IPC_STAT, &ds) < 0) return fail(EINVAL);
    bool rdonly = (req.shmflg & SHM_RDONLY) != 0;
    if (!may_attach(s->cred, s->groups, ds, req.shmflg)) return fail(EACCES);
    s->seg = it->second;
    s->rdonly = rdonly;
    if (opt_.attach_whole) {
      // Answered with the memfd once every page is held (pin_ready).
      s->whole = true;
      s->pin_attach = true;
      return pin_start(s);
    }
    int fds[2];
    int nfds = 0;
    int mfd = -1;
    if (rdonly) {
      char p[48];
      snprintf(p, sizeof p, "/proc/self/fd/%d", s->seg->memfd);
      mfd = open(p, O_RDONLY | O_CLOEXEC);
      if (mfd < 0) return fail(ENOMEM);
      fds[nfds++] = mfd;
    } else {
      fds[nfds++] = s->seg->memfd;
    }
    if (!req.uffd_attached) fds[nfds++] = devfd_;  // the process has no userfaultfd yet
    reply(s->fd, 0, s->seg->size, fds, nfds);
    if (mfd >= 0) close(mfd);
    return;
  }
  // kRegister (after kAttach on this connection) or kInherit (a forked child's copy).
  if (req.op == proto::DsmLocalOp::kInherit) {
    auto it = local_.find(req.shmid);
    if (it == local_.end()) return fail(EINVAL);
    s->seg = it->second;
    s->rdonly = (req.shmflg & SHM_RDONLY) != 0;
  } else if (!s->seg) {
    return fail(EINVAL);
  }
  Segment& seg = *s->seg;
  uint64_t len = seg.pages * kDsmPage;
  bool mapped = req.size == len && req.addr % kDsmPage == 0;
  if (s->pieces.empty()) s->pieces.push_back({req.addr, req.addr + len});  // not cut
  for (auto& [lo, hi] : s->pieces)
    mapped = mapped && lo >= req.addr && hi <= req.addr + len &&
             maps_memfd(s->cred.pid, lo, hi - lo, seg.dev, seg.ino);
  if (!mapped) return fail(EINVAL);
  if (opt_.attach_whole) {
    if (passed >= 0) return fail(EINVAL);  // a whole attachment has no uffd
    s->base = req.addr;
    s->len = len;
    if (req.op == proto::DsmLocalOp::kRegister) return register_whole(s);
    // A forked child's copy: held on its own from now on (its parent's still holds the
    // pages, so this is answered at once).
    s->whole = true;
    return pin_start(s);
  }
  std::shared_ptr<Process> proc;
  if (passed >= 0) {
    proc = std::make_shared<Process>();
    proc->pid = s->cred.pid;
    proc->uffd = passed;
    passed = -1;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag(kTagUffd, proc->uffd);
    epoll_ctl(epoll_, EPOLL_CTL_ADD, proc->uffd, &ev);
    uffds_[proc->uffd] = proc;
    procs_[proc->pid] = proc;
  } else {
    auto it = procs_.find(s->cred.pid);
    if (it == procs_.end()) return fail(EINVAL);
    proc = it->second;
  }
  s->proc = proc;
  s->base = req.addr;
  s->len = len;
  s->registered = true;
  proc->sessions.push_back(s);
  seg.attachments.insert(s);
  count_attachments(seg);
  send_join(seg, s->cred.pid, proto::kDsmJoinAttach);
  reply(s->fd, 0, seg.size, nullptr, 0);
}

// kUnmap: [lo, lo+len) of a registered attachment is no longer mapped (the shim's SHM_REMAP
// put another mapping there). Each mapped piece counts in shm_nattch, as each of Linux's
// vmas does; a piece cut rather than dropped whole is a vma split, which Linux counts as an
// attach too (shm_atime), and the part gone is a detach (shm_dtime).
void FaultServer::unmap_piece(Session* s, uint64_t lo, uint64_t len) {
  uint64_t hi = lo + len;
  if (len == 0 || lo % kDsmPage != 0 || len % kDsmPage != 0 || hi < lo) {
    reply(s->fd, EINVAL, 0, nullptr, 0);
    return close_session(s);
  }
  std::vector<proto::DsmPiece> left(s->pieces.size() + 1);
  bool dropped, split;
  left.resize(proto::cut_pieces(s->pieces.data(), s->pieces.size(), lo, hi, left.data(), &dropped,
                                &split));
  if (!dropped) return reply(s->fd, 0, 0, nullptr, 0);
  if (left.empty()) return close_session(s, true);  // nothing of it is mapped: detached
  // What is left must really be our memfd, piece by piece (faults are served and recalls
  // write-protect by these ranges): the process's word is not enough.
  Segment& seg = *s->seg;
  bool mapped = left.size() <= proto::kDsmMaxPieces;
  for (auto& [a, b] : left) mapped = mapped && maps_memfd(s->cred.pid, a, b - a, seg.dev, seg.ino);
  if (!mapped) {
    reply(s->fd, left.size() > proto::kDsmMaxPieces ? ENOMEM : EINVAL, 0, nullptr, 0);
    return close_session(s);
  }
  // A thread of the process waiting on a page of the part that went would be answered at an
  // address that now maps something else: it is woken instead, and touches what is there.
  forget_waiters(s, std::max(lo, s->base), std::min(hi, s->base + s->len));
  s->pieces = std::move(left);
  count_attachments(seg, split);
  send_join(seg, s->cred.pid, split ? proto::kDsmJoinReshape : proto::kDsmJoinDetach);
  reply(s->fd, 0, 0, nullptr, 0);
}

// Drops the waits of s's process on s's segment at addresses in [lo, hi), and wakes those
// threads: the range is no longer that attachment (detached, or cut by SHM_REMAP).
void FaultServer::forget_waiters(Session* s, uint64_t lo, uint64_t hi) {
  if (!s->proc || !s->seg || lo >= hi) return;
  Process* p = s->proc.get();
  for (auto& [page, pd] : s->seg->pending)
    std::erase_if(pd.waiters, [&](const Waiter& w) {
      if (w.proc != p || w.addr < lo || w.addr >= hi) return false;
      uffd_wake(w.uffd, w.addr, kDsmPage);
      return true;
    });
}

void FaultServer::close_session(Session* s, bool answer) {
  int fd = s->fd;
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  if (s->whole) unpin(s);  // held until now, or waiting for its pages
  if (s->registered) {
    if (s->proc) {  // a whole attachment has no process uffd
      auto& v = s->proc->sessions;
      v.erase(std::remove(v.begin(), v.end(), s), v.end());
      if (!v.empty()) forget_waiters(s, s->base, s->base + s->len);  // the process goes on
      if (v.empty()) {
        // The process detached everything (or exited, or exec'd): its uffd goes.
        int u = s->proc->uffd;
        epoll_ctl(epoll_, EPOLL_CTL_DEL, u, nullptr);
        if (auto it = procs_.find(s->proc->pid); it != procs_.end() && it->second == s->proc)
          procs_.erase(it);
        // Faults of that process still waiting: nobody will touch those pages any more.
        for (auto& [id, seg] : local_)
          for (auto& [page, pd] : seg->pending)
            std::erase_if(pd.waiters, [&](const Waiter& w) { return w.proc == s->proc.get(); });
        close(u);
        uffds_.erase(u);
      }
    }
    Segment& seg = *s->seg;
    seg.attachments.erase(s);
    count_attachments(seg);
    send_join(seg, s->cred.pid, proto::kDsmJoinDetach);
    // kDetach: shmdt returns once the count (and the owner's notice) is on its way.
    if (answer) reply(fd, 0, 0, nullptr, 0);
    auto keep = s->seg;
    close(fd);
    sessions_.erase(fd);
    maybe_destroy(*keep);
    return;
  }
  close(fd);
  sessions_.erase(fd);
}

void FaultServer::send_join(Segment& s, int32_t pid, uint8_t how) {
  if (s.owned || s.owner_dead || pid <= 0) return;
  proto::DsmJoin j{s.owner_id, pid, how, uint32_t(local_nattch(s))};
  send_(s.owner, make_frame(FrameType::kDsmJoin, 0, j, proto::DsmJoin::kSize));
}

// ---------------------------------------------------------------------------------------
// Whole attachments (Options::attach_whole)
//
// A node that attaches without userfaultfd cannot see its processes' accesses, so it holds
// what any access could need for as long as a process has the segment attached: every page
// with write access (read access for SHM_RDONLY). The attach is answered once all of them
// are held; recalls that would take them away wait (Segment::deferred) until the last
// whole attachment that needs them detaches. Another node's access to such a page waits
// meanwhile, and fails as any fault does after peer_timeout (docs/hetero.md).

void FaultServer::pin_start(Session* s) {
  Segment& seg = *s->seg;
  if (!seg.owned && seg.owner_dead) {
    reply(s->fd, EIDRM, 0, nullptr, 0);
    return close_session(s);
  }
  s->pin_need = s->rdonly ? Access::kRead : Access::kWrite;
  s->pinned = true;
  (s->rdonly ? seg.pins_read : seg.pins_write)++;
  s->pin_next = 0;
  s->pin_deadline = std::chrono::steady_clock::now() + opt_.fault_timeout;
  note_deadline(s->pin_deadline);
  seg.pin_waiting.push_back(s);
  pin_progress(seg);
}

namespace {

// Pages asked for at once by the whole attachments of one segment (requests in flight).
constexpr size_t kPinInFlight = proto::kDsmMaxAhead;

}  // namespace

void FaultServer::pin_progress(Segment& s) {
  if (s.pin_busy) {  // called again from a grant made while asking (the owner's own)
    s.pin_again = true;
    return;
  }
  auto keep = s.pin_waiting.empty() ? nullptr : s.pin_waiting.front()->seg;
  s.pin_busy = true;
  // Bounded: a round either answers a session, or asks for pages and ends unless one of
  // its own requests was granted at once (a segment owned here).
  for (int round = 0; round < 16 && !s.pin_waiting.empty(); ++round) {
    s.pin_again = false;
    std::vector<Session*> ready;
    Access need = Access::kRead;
    uint64_t from = s.pages;
    Time now = std::chrono::steady_clock::now();
    for (Session* at : s.pin_waiting) {
      uint64_t before = at->pin_next;
      while (at->pin_next < s.pages && s.held(at->pin_next, at->pin_need)) ++at->pin_next;
      // Pages are coming: the wait gives up only after peer_timeout without any (a large
      // segment may take longer than that in all).
      if (at->pin_next != before) {
        at->pin_deadline = now + opt_.fault_timeout;
        note_deadline(at->pin_deadline);
      }
      if (at->pin_next == s.pages) {
        ready.push_back(at);
        continue;
      }
      from = std::min(from, at->pin_next);
      if (at->pin_need == Access::kWrite) need = Access::kWrite;
    }
    for (Session* at : ready) pin_ready(at);
    for (uint64_t p = from; p < s.pages && !s.pin_waiting.empty() && s.pending.size() < kPinInFlight;) {
      if (s.held(p, need) || s.pending.count(p)) {
        ++p;
        continue;
      }
      if (s.state[p] == kStLost) {
        pin_fail(s, ENOLINK);
        break;
      }
      uint64_t k = 1;
      if (s.owned) {
        k = s.first_of(s.unit_of(p)) + s.count_of(s.unit_of(p)) - p;  // one unit
      } else if (need == Access::kRead) {
        while (k < proto::kDsmMaxAhead && p + k < s.pages && !s.held(p + k, need) &&
               !s.pending.count(p + k) && s.state[p + k] != kStLost)
          ++k;
      }
      acquire(s, p, need, nullptr, k);
      p += k;
    }
    if (!s.pin_again) break;
  }
  s.pin_busy = false;
}

void FaultServer::pin_ready(Session* s) {
  Segment& seg = *s->seg;
  std::erase(seg.pin_waiting, s);
  s->pin_ready = true;
  if (!s->pin_attach) return register_whole(s);  // a forked child's copy
  int mfd = seg.memfd;
  if (s->rdonly) {
    char p[48];
    snprintf(p, sizeof p, "/proc/self/fd/%d", seg.memfd);
    mfd = open(p, O_RDONLY | O_CLOEXEC);
    if (mfd < 0) {
      reply(s->fd, ENOMEM, 0, nullptr, 0);
      return close_session(s);
    }
  }
  reply(s->fd, 0, seg.size, &mfd, 1, true);
  if (mfd != seg.memfd) close(mfd);
}

void FaultServer::register_whole(Session* s) {
  Segment& seg = *s->seg;
  s->registered = true;
  seg.attachments.insert(s);
  count_attachments(seg);
  send_join(seg, s->cred.pid, proto::kDsmJoinAttach);
  reply(s->fd, 0, seg.size, nullptr, 0);
}

void FaultServer::pin_fail(Segment& s, int err) {
  auto waiting = s.pin_waiting;
  for (Session* at : waiting) {
    log_(spdlog::level::warn, "shared memory id {}: attach of pid {} gave up: {}", s.local_id,
         at->cred.pid, strerror(err));
    reply(at->fd, err, 0, nullptr, 0);
    close_session(at);
  }
}

void FaultServer::unpin(Session* s) {
  if (!s->pinned) return;
  s->pinned = false;
  auto keep = s->seg;
  Segment& seg = *keep;
  (s->pin_need == Access::kWrite ? seg.pins_write : seg.pins_read)--;
  std::erase(seg.pin_waiting, s);
  // The recalls held back for it, unless another whole attachment still needs the pages.
  auto held_back = std::move(seg.deferred);
  seg.deferred.clear();
  for (auto& d : held_back) {
    if (!holder_recall_or_defer(seg, d.first, d.n, d.mode, d.with_data) || !seg.owned) continue;
    std::vector<Action> acts;
    seg.dir->recall_done(kOwner, seg.unit_of(d.first), std::chrono::steady_clock::now(), acts);
    run_actions(seg, acts);
  }
}

bool FaultServer::holder_recall_or_defer(Segment& s, uint64_t first, uint64_t n, RecallMode mode,
                                         bool with_data) {
  if (!s.pin_blocks(mode)) {
    holder_recall(s, first, n, mode, with_data);
    return true;
  }
  // At most one recall per unit is outstanding from an honest owner; more is refused.
  if (s.deferred.size() >= s.pages + 64) {
    log_(spdlog::level::warn, "dsm: recall of shared memory id {} refused: {} held back already",
         s.local_id, s.deferred.size());
    return false;
  }
  log_(spdlog::level::debug, "recall seg {} pages {}+{} held back for a whole attachment",
       s.local_id, first, n);
  s.deferred.push_back({first, n, mode, with_data});
  return false;
}

}  // namespace dipc::daemon::dsm
