// The fault server's own state (src/dipcd/dsm/fault_server.h): the structures behind its
// private declarations and the few constants and userfaultfd calls its source files share
// (fault_server.cc, holder_side.cc, manager.cc, local_attach.cc: the rooms named in
// fault_server.h). Internal to those files; fault server's thread, or a thread holding its
// state lock.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "dipcd/dsm/fault_server.h"
#include "dipcd/dsm/uffd_compat.h"
#include "proto/dsm.h"

namespace dipc::daemon::dsm {

using proto::kDsmPage;

namespace internal {

constexpr uint8_t kStDefault = 0;  // owner: write; elsewhere: none
constexpr uint8_t kStLost = 4;     // could not be had: every access raises SIGBUS
constexpr uint64_t kNoPage = ~uint64_t(0);
constexpr uint64_t kTagListen = 1, kTagEvent = 2, kTagSession = 3, kTagUffd = 4;
constexpr size_t kMaxSessions = 65536;  // attachments on this node, all processes together
// Read-ahead: the pages asked for after a sequential read fault start at kReadAheadFirst and
// double with each window the reader goes on into, up to kReadAheadMax (one request and its
// answer, one 1 MiB frame, per window).
constexpr uint64_t kReadAheadFirst = 15;
constexpr uint64_t kReadAheadMax = proto::kDsmMaxAhead - 1;

inline uint64_t tag(uint64_t t, int fd) { return (t << 32) | uint32_t(fd); }

inline Access to_access(proto::DsmAccess a) {
  return a == proto::DsmAccess::kWrite ? Access::kWrite : Access::kRead;
}

// userfaultfd operations on one process's uffd; errors other than "gone" are logged.
// uffd_protect_err: 0 or the errno (ENOENT: a part of the range is not registered there).
inline int uffd_protect_err(int uffd, uint64_t addr, uint64_t len, bool wp, bool wake) {
  uffdio_writeprotect w{};
  w.range.start = addr;
  w.range.len = len;
  // The kernel refuses DONTWAKE with WP (protecting wakes nobody anyway).
  w.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : (wake ? 0 : UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
  return ioctl(uffd, UFFDIO_WRITEPROTECT, &w) == 0 ? 0 : errno;
}
inline bool uffd_protect(int uffd, uint64_t addr, uint64_t len, bool wp, bool wake) {
  int e = uffd_protect_err(uffd, addr, len, wp, wake);
  return e == 0 || e == ESRCH || e == ENOENT;  // the process is gone or unmapped it
}
inline void uffd_wake(int uffd, uint64_t addr, uint64_t len) {
  uffdio_range r{addr, len};
  ioctl(uffd, UFFDIO_WAKE, &r);
}

}  // namespace internal

using namespace internal;

struct FaultServer::Process {
  pid_t pid = 0;
  int uffd = -1;
  std::vector<Session*> sessions;  // its registered attachments
};

struct FaultServer::Session {
  int fd = -1;
  ucred cred{};
  std::vector<gid_t> groups;
  std::shared_ptr<Segment> seg;
  std::shared_ptr<Process> proc;
  bool rdonly = false;
  bool registered = false;
  uint64_t base = 0, len = 0;
  // The parts of [base, base+len) still mapped, in rising order (at most kDsmMaxPieces):
  // the whole range once registered, until SHM_REMAP cuts some away (kUnmap); a forked
  // child's copy names them (kPiece) before its kInherit.
  std::vector<proto::DsmPiece> pieces;
  bool contains(uint64_t addr) const {
    for (auto& p : pieces)
      if (addr >= p.lo && addr < p.hi) return true;
    return false;
  }
  // What it counts in shm_nattch: one per mapped piece, as Linux counts vmas.
  int nattch() const { return std::max(1, int(pieces.size())); }
  // A whole attachment (Options::attach_whole): no process uffd; the segment's pages are
  // held with the access it needs (pin_need) from the kAttach (or kInherit) until the
  // session ends. pinned: counted in the segment's pins; pin_ready: every page is held (the
  // answer went out); pin_next: the pages before it were found held; pin_attach: a
  // kAttach (answered with the memfd) rather than a kInherit; pin_deadline: when waiting
  // for the pages gives up (peer_timeout after the last page that came).
  bool whole = false, pinned = false, pin_ready = false, pin_attach = false;
  Access pin_need = Access::kNone;
  uint64_t pin_next = 0;
  Time pin_deadline{};
};

struct FaultServer::Waiter {
  Process* proc = nullptr;
  int uffd = -1;
  uint64_t addr = 0;  // the page's address in that process
  bool write = false;
  bool missing = false;
  bool rdonly = false;
  int seg_fd = -1;    // the segment's memfd
  uint64_t page = 0;  // the page's index in the segment
};

struct FaultServer::Pending {
  uint64_t reqid = 0;
  Access want = Access::kNone;
  Time deadline{};
  std::vector<Waiter> waiters;  // one per faulting thread: bounded by threads
};

struct FaultServer::Segment {
  int32_t local_id = 0;
  std::string owner;
  int32_t owner_id = 0;
  bool owned = false;
  uint64_t size = 0, pages = 0;
  int memfd = -1;
  // Owns memfd: frames that send pages from it (OutFrame::file) keep it open after the
  // segment has gone here, until the link has taken them.
  std::shared_ptr<const SharedFd> memfd_ref;
  // The sources of frames still sending pages of the memfd (one per grant sent by file;
  // those all sent, expired, are dropped at the next grant or punch); punch() saves those
  // it would change.
  std::vector<std::weak_ptr<FileSource>> sending;
  // Frames carrying n pages send them from the memfd (a source) rather than copied into
  // the frame: from 64 KiB on (for fewer, one sendmsg costs less than sendmsg and sendfile).
  bool by_file(uint64_t n) const { return memfd_ref && n * kDsmPage >= 64 * 1024; }
  void prune_sending() {
    std::erase_if(sending, [](const std::weak_ptr<FileSource>& w) { return w.expired(); });
  }
  std::shared_ptr<FileSource> source(uint64_t first, uint64_t n) {
    prune_sending();
    auto src = std::make_shared<FileSource>(memfd_ref, first * kDsmPage, n * kDsmPage);
    sending.push_back(src);
    return src;
  }
  ino_t ino = 0;
  dev_t dev = 0;
  uint8_t* state = nullptr;  // one byte per page (calloc: untouched pages cost nothing)
  std::unordered_map<uint64_t, Pending> pending;  // by page
  std::set<Session*> attachments;
  void* sysv = nullptr;  // dipcd's own attachment of the System V segment
  uint64_t last_read = ~uint64_t(0) - 1;  // the page of the last read fault (read-ahead)
  uint64_t ahead = kReadAheadFirst;       // the next read-ahead window, in pages
  // The first page of a window read ahead, valid here but held back from the memfd until a
  // process touches it (FaultServer::read_ahead), and its bytes; kNoPage: none.
  uint64_t trip_page = kNoPage;
  bool trip_held = false;  // its bytes are in trip_data (the window's grant came)
  // The request whose grant is arriving in data frames (holder_early), or 0: read faults
  // meanwhile wait on it rather than ask again. It may name a request already answered or
  // failed; request() checks it against by_reqid_ and clears it then.
  uint64_t early_reqid = 0;
  std::vector<uint8_t> trip_data;
  void trip_clear_in(uint64_t first, uint64_t n) {
    if (trip_page >= first && trip_page < first + n) {
      trip_page = kNoPage;
      trip_held = false;
    }
  }
  // Whole attachments of this node (Session::whole): how many need write, how many only
  // read; those still waiting for their pages; and the recalls held back meanwhile
  // (bounded: at most one outstanding per unit from the owner, docs/design.md).
  int pins_write = 0, pins_read = 0;
  std::vector<Session*> pin_waiting;
  struct Deferred {
    uint64_t first, n;
    RecallMode mode;
    bool with_data;
  };
  std::vector<Deferred> deferred;
  bool pin_busy = false, pin_again = false;  // pin_progress() running, and called again
  // A recall in this mode would take away access a whole attachment holds.
  bool pin_blocks(RecallMode m) const {
    return pins_write > 0 || (pins_read > 0 && m == RecallMode::kInvalidate);
  }
  bool owner_dead = false;
  bool removed = false;  // the System V object is gone or marked for destruction
  // Owned here:
  std::unique_ptr<PageDirectory> dir;
  uint64_t unit_pages = 1;
  std::map<NodeId, uint32_t> remote_nattch;  // holders that have it attached
  std::set<NodeId> holders;                  // every node that ever asked for pages

  ~Segment() {
    free(state);
    if (sysv) syscall(SYS_shmdt, sysv);  // raw: never through a preloaded shim
  }
  Access access(uint64_t p) const {
    uint8_t b = state[p];
    if (b == kStDefault) return owned ? Access::kWrite : Access::kNone;
    if (b == kStLost) return Access::kNone;
    return Access(b - 1);
  }
  void set(uint64_t p, Access a) { state[p] = uint8_t(a) + 1; }
  // This node may access page p as need asks.
  bool held(uint64_t p, Access need) const {
    Access a = access(p);
    return need == Access::kWrite ? a == Access::kWrite : a != Access::kNone;
  }
  uint64_t unit_of(uint64_t page) const { return page / unit_pages; }
  uint64_t first_of(uint64_t unit) const { return unit * unit_pages; }
  uint64_t count_of(uint64_t unit) const {
    return std::min(unit_pages, pages - unit * unit_pages);
  }
  void punch(uint64_t first, uint64_t n) {
    // Frames queued to send these pages from the memfd (a grant that a link has not sent
    // yet, to the node whose write grant is the reason for this punch, say) get their
    // bytes as they were: saved into memory first.
    uint64_t lo = first * kDsmPage, hi = (first + n) * kDsmPage;
    prune_sending();
    for (auto& w : sending)
      if (auto src = w.lock(); src && src->overlaps(lo, hi)) src->save(lo, hi);
    fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(first * kDsmPage),
              off_t(n * kDsmPage));
  }
};

}  // namespace dipc::daemon::dsm
