// The fault server as a holder (src/dipcd/dsm/fault_server.h): this node's access to the
// pages of every distributed segment it knows, the faults of its processes (resolved here,
// sent to the owner as requests, or poisoned into SIGBUS), the grants, failures and recalls
// that come back, and the time-outs of requests in flight. The owner node is a holder of
// its own segments too: its requests go to its own directory (manager.cc) without the
// network. Fault server's thread, or a thread holding its state lock.
#include <errno.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "dipcd/conn.h"
#include "dipcd/dsm/fault_server_state.h"
#include "proto/dsm.h"

namespace dipc::daemon::dsm {

using proto::FrameType;
using proto::kDsmPage;

// ---------------------------------------------------------------------------------------
// Faults

void FaultServer::on_uffd(Process* p) {
  uffd_msg msgs[16];
  for (;;) {
    ssize_t n = read(p->uffd, msgs, sizeof msgs);
    if (n <= 0) return;  // EAGAIN: poll may say readable with nothing to read
    for (ssize_t i = 0; i < n / ssize_t(sizeof(uffd_msg)); ++i)
      if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
        fault(p, msgs[i].arg.pagefault.address, msgs[i].arg.pagefault.flags);
    // A short read took every message there was; one that came since makes the descriptor
    // readable again (epoll is level-triggered here), so no read is made to hear EAGAIN.
    if (size_t(n) < sizeof msgs) return;
  }
}

void FaultServer::fault(Process* p, uint64_t addr, uint64_t flags) {
  Session* at = nullptr;
  for (Session* s : p->sessions)
    if (s->contains(addr)) at = s;
  uint64_t pa = addr & ~uint64_t(kDsmPage - 1);
  if (!at) return uffd_wake(p->uffd, pa, kDsmPage);  // detached meanwhile
  Segment& seg = *at->seg;
  uint64_t page = (pa - at->base) / kDsmPage;
  (flags & UFFD_PAGEFAULT_FLAG_WRITE ? counters_.write_faults : counters_.read_faults)
      .fetch_add(1, std::memory_order_relaxed);
  log_(spdlog::level::debug, "fault pid {} seg {} page {} flags {:x} state {}", p->pid, seg.local_id,
       page, flags, int(seg.state[page]));
  Waiter w{p,        p->uffd,    pa, (flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0,
           !(flags & UFFD_PAGEFAULT_FLAG_WP), at->rdonly, seg.memfd, page};
  if (seg.state[page] == kStLost) return poison(w, seg, page);
  if (seg.trip_held && page == seg.trip_page && seg.access(page) != Access::kNone) {
    // The reader reached the window read ahead for it: its first page, held back, goes in
    // now (no network), and the window after it is asked for.
    seg.trip_clear_in(page, 1);
    if (pwrite(seg.memfd, seg.trip_data.data(), kDsmPage, off_t(page * kDsmPage)) == ssize_t(kDsmPage))
      w.missing = false;
    read_ahead(seg);
  }
  Access a = seg.access(page);
  if ((w.write && a == Access::kWrite) || (!w.write && a != Access::kNone)) return resolve(w, a);
  request(seg, page, w.write ? Access::kWrite : Access::kRead, w);
}

// The process may go on: the page is valid here with access a.
void FaultServer::resolve(const Waiter& w, Access a) {
  if (w.missing) {
    // Valid but absent: the owner's never-written page, which is zero. fallocate fills a
    // hole with a zero page and leaves a present page alone, so it never overwrites data,
    // and the page is in the memfd, where every process maps it and a recall reaches it.
    fallocate(w.seg_fd, 0, off_t(w.page * kDsmPage), kDsmPage);
  }
  if (a == Access::kWrite && !w.rdonly && uffd_protect(w.uffd, w.addr, kDsmPage, false, true))
    return;
  uffd_wake(w.uffd, w.addr, kDsmPage);
}

// The page cannot be had: the access raises SIGBUS in that process (and later ones too).
void FaultServer::poison(const Waiter& w, Segment& s, uint64_t page) {
  // On the owner the page, when present, is the copy its directory serves other nodes from
  // (a write of its own that timed out waiting for recalls, say): it stays, and only this
  // process is poisoned, which needs the page absent for a moment: kept aside, punched, put
  // back. The owner marks nothing lost; its directory knows what is.
  // So on a holder that reads the page and asked to write it: its copy may be the one the
  // owner still counts on (the write grant it asked for comes later, without data, once
  // whatever held it up lets go), so it stays, readable, rather than being lost.
  std::vector<uint8_t> keep;
  off_t off = off_t(page * kDsmPage);
  bool present = lseek(s.memfd, off, SEEK_DATA) == off;
  if (s.owned || (present && s.access(page) == Access::kRead)) {
    if (present) {
      keep.resize(kDsmPage);
      if (pread(s.memfd, keep.data(), kDsmPage, off) != ssize_t(kDsmPage)) keep.clear();
      drop_copy(s, page, 1);  // even unread: the poison needs the page absent
    }
  } else if (s.state[page] != kStLost) {
    // Drop this node's copy (if any): each process that touches the page is poisoned on its
    // own fault, which needs the page absent.
    drop_copy(s, page, 1);
    s.state[page] = kStLost;
  }
  if (!w.rdonly) uffd_protect(w.uffd, w.addr, kDsmPage, false, false);  // POISON needs no WP
  uffdio_poison p{};
  p.range.start = w.addr;
  p.range.len = kDsmPage;
  if (ioctl(w.uffd, UFFDIO_POISON, &p) < 0 && errno != ESRCH)
    log_(spdlog::level::warn, "UFFDIO_POISON: {} (pid {})", strerror(errno), w.proc ? w.proc->pid : 0);
  if (!keep.empty()) (void)!pwrite(s.memfd, keep.data(), kDsmPage, off_t(page * kDsmPage));
}

void FaultServer::request(Segment& s, uint64_t page, Access need, Waiter w) {
  if (s.owner_dead) return poison(w, s, page);
  auto it = s.pending.find(page);
  if (it != s.pending.end()) {
    it->second.waiters.push_back(w);  // a read request in flight serves a writer next
    return;
  }
  if (need == Access::kRead && s.early_reqid) {
    // A grant is arriving in data frames: this page comes with it (holder_early).
    auto r = by_reqid_.find(s.early_reqid);
    if (r != by_reqid_.end() && s.pending.count(r->second.second)) {
      s.pending[r->second.second].waiters.push_back(w);
      return;
    }
    s.early_reqid = 0;
  }
  // Read-ahead: a read fault right after one on the page before is sequential, and its
  // request also asks for the run of pages after it that this node lacks (no one waits on
  // them yet), so a sequential reader takes one round trip per window; the window doubles
  // while the run goes on.
  uint64_t n = 0;
  if (need == Access::kRead && !s.owned && page == s.last_read + 1) {
    while (n < s.ahead && page + 1 + n < s.pages) {
      uint64_t q = page + 1 + n;
      if (s.state[q] == kStLost || s.access(q) != Access::kNone || s.pending.count(q)) break;
      ++n;
    }
    s.ahead = std::min<uint64_t>(2 * s.ahead + 1, kReadAheadMax);
  } else if (need == Access::kRead) {
    s.ahead = kReadAheadFirst;
  }
  bool sequential = need == Access::kRead && !s.owned && page == s.last_read + 1;
  acquire(s, page, need, &w, 1 + n);
  // The next fault, on the page after the window, continues the run.
  if (need == Access::kRead) s.last_read = page + n;
  if (sequential) read_ahead(s);
}

// Asks, with no one waiting yet, for the window after the pages a sequential reader has
// (up to last_read), so that it arrives while the reader goes through the window before.
// That window's first page is held back when it comes (trip_page, trip_data): the
// reader's touch of it is then a fault, answered here at once, which asks for the next
// window. So a sequential reader waits for the network only at its start, and this node
// is at most one window ahead of it.
void FaultServer::read_ahead(Segment& s) {
  if (s.trip_held) {
    // A page held back that the reader went past: it goes in now, before another is.
    (void)!pwrite(s.memfd, s.trip_data.data(), kDsmPage, off_t(s.trip_page * kDsmPage));
    s.trip_clear_in(s.trip_page, 1);
  }
  uint64_t first = s.last_read + 1, n = 0;
  while (n < s.ahead && first + n < s.pages) {
    uint64_t q = first + n;
    if (s.state[q] == kStLost || s.access(q) != Access::kNone || s.pending.count(q)) break;
    ++n;
  }
  if (n < 2) return;  // the end of the segment, or pages here already: the run is over
  acquire(s, first, Access::kRead, nullptr, n);
  s.ahead = std::min<uint64_t>(2 * s.ahead + 1, kReadAheadMax);
  s.trip_page = first;
  s.last_read = first + n - 1;
}

// Asks for pages [page, page+n) (n > 1 only for reading) in one request.
void FaultServer::acquire(Segment& s, uint64_t page, Access need, const Waiter* w, uint64_t n) {
  uint64_t reqid = next_reqid_++;
  Time deadline = std::chrono::steady_clock::now() + opt_.fault_timeout;
  note_deadline(deadline);
  for (uint64_t q = page; q < page + n; ++q) {
    Pending& pd = s.pending[q];
    pd.reqid = reqid;
    pd.want = need;
    pd.deadline = deadline;
  }
  if (w) s.pending[page].waiters.push_back(*w);
  by_reqid_[reqid] = {ref(s), page};
  if (s.owned) {
    // Our own manager: no network.
    std::vector<Action> acts;
    s.dir->request(kOwner, s.unit_of(page), need, reqid, std::chrono::steady_clock::now(), acts);
    run_actions(s, acts);
    return;
  }
  proto::DsmAcquire q{s.owner_id, page,
                      need == Access::kWrite ? proto::DsmAccess::kWrite : proto::DsmAccess::kRead,
                      uint32_t(n)};
  send_(s.owner, make_frame(FrameType::kDsmAcquire, reqid, q, proto::DsmAcquire::kSize));
}

// Write-protects pages [first, first+n) in every process that has them attached.
void FaultServer::protect_all(Segment& s, uint64_t first, uint64_t n) {
  for (Session* at : s.attachments) {
    if (!at->proc || at->rdonly) continue;
    uint64_t lo = at->base + first * kDsmPage, hi = lo + n * kDsmPage;
    int uffd = at->proc->uffd;
    auto warn = [&] {
      log_(spdlog::level::warn, "UFFDIO_WRITEPROTECT for pid {}: {}", at->proc->pid, strerror(errno));
    };
    auto protect = [&](uint64_t a, uint64_t b) {
      if (a >= b) return;
      int e = uffd_protect_err(uffd, a, b - a, true, false);
      if (e != ENOENT || b - a == kDsmPage) {
        if (e != 0 && e != ESRCH && e != ENOENT) warn();
        return;
      }
      // The kernel stops at the first mapping not registered on the uffd: one that
      // SHM_REMAP put inside the range before the shim said so (kUnmap). Page by page,
      // every page of ours still mapped is protected.
      for (uint64_t q = a; q < b; q += kDsmPage)
        if (!uffd_protect(uffd, q, kDsmPage, true, false)) warn();
    };
    for (auto& [a, b] : at->pieces) protect(std::max(a, lo), std::min(b, hi));  // what is mapped
  }
}

// Drops this node's copy of pages [first, first+n): every local process takes a MISSING
// fault on its next access. Write-protected first: the hole punch keeps a protected page's
// marker, so the page refilled later still takes a WP fault on its first store.
void FaultServer::drop_copy(Segment& s, uint64_t first, uint64_t n) {
  protect_all(s, first, n);
  s.punch(first, n);
}

void FaultServer::holder_grant(Segment& s, uint64_t first, uint64_t n, Access a, bool filled) {
  // A window read ahead whose first page came some other way (not held back).
  if (!s.trip_held) s.trip_clear_in(first, n);
  log_(spdlog::level::debug, "grant seg {} pages {}+{} access {}", s.local_id, first, n, int(a));
  for (uint64_t p = first; p < first + n; ++p) s.set(p, a);
  std::vector<std::pair<uint64_t, std::vector<Waiter>>> done;
  for (auto it = s.pending.begin(); it != s.pending.end();) {
    if (it->first < first || it->first >= first + n) {
      ++it;
      continue;
    }
    by_reqid_.erase(it->second.reqid);
    done.push_back({it->first, std::move(it->second.waiters)});
    it = s.pending.erase(it);
  }
  for (auto& [page, ws] : done) {
    for (auto& w : ws) {
      // A writer that waited on a read grant asks again (the page may have moved since).
      if (w.write && a != Access::kWrite) {
        request(s, page, Access::kWrite, w);
      } else if (filled && w.missing) {
        Waiter present = w;  // the grant's pages were just written into the memfd
        present.missing = false;
        resolve(present, a);
      } else {
        resolve(w, a);
      }
    }
  }
  if (!s.pin_waiting.empty()) pin_progress(s);
}

// A grant larger than one chunk (a segment-mode unit) comes as data frames and then the
// grant. The pages of each data frame may be read as soon as it is in: the owner decided
// the grant before it sent them, and no write can take them from us before we answer a
// recall, which comes after the grant on the same link. So a reader goes through the first
// chunk while the next ones arrive, rather than waiting for the whole segment. Readers
// waiting on these pages go on now; a writer waiting on the request waits for the grant
// (one faulting elsewhere in the unit asks for write on its own, and the owner keeps the
// pages still to be sent: Segment::punch). (Only an owner's grant
// sends kDsmData, always followed by its kDsmGrant; a grant given up on is still taken.)
// Until the grant, a read fault on a page still to come joins the request being answered
// (request()), rather than ask for the unit again.
void FaultServer::holder_early(Segment& s, uint64_t first, uint64_t n, uint64_t reqid) {
  auto r = by_reqid_.find(reqid);
  if (reqid && r != by_reqid_.end() && r->second.first.lock().get() == &s) {
    s.early_reqid = reqid;
    // A grant still arriving is not late: its time-out counts from its latest chunk, so
    // that a large segment on a slow network is not given up on while it moves. Nor is any
    // other request of this segment: its answer comes behind the grant on the same link
    // (a store that asked to write while the read grant streamed in, say).
    Time deadline = std::chrono::steady_clock::now() + opt_.fault_timeout;
    for (auto& [page, pd] : s.pending) pd.deadline = std::max(pd.deadline, deadline);
    for (Session* at : s.pin_waiting) at->pin_deadline = std::max(at->pin_deadline, deadline);
  }
  for (uint64_t p = first; p < first + n; ++p)
    if (s.state[p] != kStLost && s.access(p) == Access::kNone) s.set(p, Access::kRead);
  for (auto& [page, pd] : s.pending) {
    if (pd.waiters.empty()) continue;
    std::vector<Waiter> keep;
    for (auto& w : pd.waiters) {
      if (w.write || w.page < first || w.page >= first + n) {
        keep.push_back(w);
        continue;
      }
      Waiter present = w;  // the page was just written into the memfd
      present.missing = false;
      resolve(present, Access::kRead);
    }
    pd.waiters = std::move(keep);
  }
}

void FaultServer::holder_fail(Segment& s, uint64_t first, uint64_t n) {
  s.trip_clear_in(first, n);
  for (auto it = s.pending.begin(); it != s.pending.end();) {
    if (it->first < first || it->first >= first + n) {
      ++it;
      continue;
    }
    by_reqid_.erase(it->second.reqid);
    auto ws = std::move(it->second.waiters);
    it = s.pending.erase(it);
    for (auto& w : ws) poison(w, s, w.page);  // a waiter that joined an arriving grant
                                              // waits for a page of its own
  }
  // A whole attachment waiting for these pages does not get them (lost, or a time-out).
  if (!s.pin_waiting.empty()) pin_fail(s, ENOLINK);
}

void FaultServer::expire(Time now) {
  // A copy: a failure may end a whole attachment, and with it a removed segment.
  std::vector<std::shared_ptr<Segment>> segs;
  for (auto& [id, s] : local_) segs.push_back(s);
  for (auto& s : segs) {
    int32_t id = s->local_id;
    std::vector<uint64_t> late;
    for (auto& [page, pd] : s->pending)
      if (pd.deadline <= now) late.push_back(page);
    for (uint64_t page : late) {
      log_(spdlog::level::warn, "shared memory id {} page {}: not had within {} ms: SIGBUS", id, page,
                   std::chrono::duration_cast<std::chrono::milliseconds>(opt_.fault_timeout).count());
      holder_fail(*s, page, 1);
    }
    bool late_pin = false;
    for (const Session* at : s->pin_waiting) late_pin = late_pin || at->pin_deadline <= now;
    if (late_pin) pin_fail(*s, ENOLINK);
  }
}

// A recall from the owner (or, on the owner, from its own directory).
void FaultServer::holder_recall(Segment& s, uint64_t first, uint64_t n, RecallMode mode,
                                bool with_data) {
  log_(spdlog::level::debug, "recall seg {} pages {}+{} mode {} data {}", s.local_id, first, n, int(mode),
                with_data);
  // No process of this node writes these pages from here on.
  protect_all(s, first, n);
  s.trip_clear_in(first, n);  // held back no more
  Access to = mode == RecallMode::kInvalidate ? Access::kNone : Access::kRead;
  if (s.owned) {
    // The owner's copy is the directory's data source: an invalidation drops it only once
    // the grant that needs it has been read (run_actions, which tells the directory).
    for (uint64_t p = first; p < first + n; ++p)
      if (s.state[p] != kStLost) s.set(p, to);
    return;
  }
  std::vector<OutFrame> frames;
  // Only pages this node holds for writing go back (the owner's copy of any other is as
  // new): a recall of pages never held costs nothing, whatever range it names. By file:
  // an invalidation's punch just below saves the pages first (the memory moves from the
  // memfd to the frames' source).
  for (uint64_t p = first; with_data && p < first + n;) {
    if (s.access(p) != Access::kWrite) {
      ++p;
      continue;
    }
    uint64_t q = p;
    while (q < first + n && s.access(q) == Access::kWrite) ++q;
    for (auto& f : data_frames(s, p, q - p, FrameType::kDsmDataToOwner, s.by_file(q - p)))
      frames.push_back(std::move(f));
    p = q;
  }
  if (mode == RecallMode::kInvalidate) drop_copy(s, first, n);
  for (uint64_t p = first; p < first + n; ++p)
    if (s.state[p] != kStLost && (to == Access::kNone || s.access(p) != Access::kNone))
      s.set(p, to);
  for (auto& f : frames) send_(s.owner, std::move(f));
  proto::DsmRange ack{s.owner_id, first, uint32_t(n)};
  send_(s.owner, make_frame(FrameType::kDsmRecallAck, 0, ack, proto::DsmRange::kSize));
}

// A frame from an owner to us as a holder: only about segments that node owns.
void FaultServer::on_holder_frame(const std::string& node, FrameType type, uint64_t reqid,
                                  const std::vector<uint8_t>& payload) {
  proto::Reader r(payload.data(), payload.size());
  auto bad = [&](const char* what) { refused(node, what); };
  auto find = [&](int32_t seg) -> Segment* {
    auto it = remote_.find({node, seg});
    return it == remote_.end() ? nullptr : it->second.get();
  };
  switch (type) {
    case FrameType::kDsmData: {
      proto::DsmData d;
      if (!d.decode(r)) return bad("malformed data");
      Segment* s = find(d.seg);
      if (!s || d.first_page + d.bytes.size() / kDsmPage > s->pages)
        return bad("data for an unknown segment");
      if (pwrite(s->memfd, d.bytes.data(), d.bytes.size(), off_t(d.first_page * kDsmPage)) ==
          ssize_t(d.bytes.size()))
        holder_early(*s, d.first_page, d.bytes.size() / kDsmPage, reqid);
      return;
    }
    case FrameType::kDsmGrantData: {
      proto::DsmGrantData gd;
      if (!gd.decode(r)) return bad("malformed grant");
      const proto::DsmRange& g = gd.grant.range;
      Segment* s = find(g.seg);
      if (!s || g.first + g.npages > s->pages) return bad("grant of an unknown segment");
      // The decode checked that the bytes are npages whole pages.
      const char* at = gd.bytes.data();
      uint64_t trip = s->trip_page;
      if (trip >= g.first && trip < g.first + g.npages) {
        auto pit = s->pending.find(trip);
        if (pit != s->pending.end() && pit->second.reqid == reqid && pit->second.waiters.empty()) {
          // A window read ahead: its first page waits here until the reader touches it.
          s->trip_data.assign(at + (trip - g.first) * kDsmPage, at + (trip - g.first + 1) * kDsmPage);
          s->trip_held = true;
          size_t before = size_t(trip - g.first) * kDsmPage;
          size_t after = gd.bytes.size() - before - kDsmPage;
          bool ok = pwrite(s->memfd, at, before, off_t(g.first * kDsmPage)) == ssize_t(before) &&
                    pwrite(s->memfd, at + before + kDsmPage, after, off_t((trip + 1) * kDsmPage)) ==
                        ssize_t(after);
          return holder_grant(*s, g.first, g.npages, to_access(gd.grant.access), ok);
        }
        s->trip_clear_in(trip, 1);  // the reader is there already: no page is held back
        ssize_t put = pwrite(s->memfd, at, gd.bytes.size(), off_t(g.first * kDsmPage));
        holder_grant(*s, g.first, g.npages, to_access(gd.grant.access), put == ssize_t(gd.bytes.size()));
        return read_ahead(*s);
      }
      ssize_t put = pwrite(s->memfd, at, gd.bytes.size(), off_t(g.first * kDsmPage));
      return holder_grant(*s, g.first, g.npages, to_access(gd.grant.access),
                          put == ssize_t(gd.bytes.size()));
    }
    case FrameType::kDsmGrant: {
      proto::DsmGrant g;
      if (!g.decode(r)) return bad("malformed grant");
      Segment* s = find(g.range.seg);
      if (!s || g.range.first + g.range.npages > s->pages) return bad("grant of an unknown segment");
      // Also a grant we gave up waiting for: the owner counts us as holder, so hold it.
      return holder_grant(*s, g.range.first, g.range.npages, to_access(g.access));
    }
    case FrameType::kDsmFail: {
      proto::DsmFail f;
      if (!f.decode(r)) return bad("malformed failure");
      Segment* s = find(f.range.seg);
      if (!s || f.range.first + f.range.npages > s->pages) return bad("failure of an unknown segment");
      return holder_fail(*s, f.range.first, f.range.npages);
    }
    case FrameType::kDsmRecall: {
      proto::DsmRecall c;
      if (!c.decode(r)) return bad("malformed recall");
      Segment* s = find(c.range.seg);
      if (!s || c.range.first + c.range.npages > s->pages) {
        // Gone here already: nothing to give back, but the owner must hear so.
        proto::DsmRange ack = c.range;
        send_(node, make_frame(FrameType::kDsmRecallAck, 0, ack, proto::DsmRange::kSize));
        return;
      }
      holder_recall_or_defer(*s, c.range.first, c.range.npages,
                             c.mode == proto::DsmRecallMode::kInvalidate ? RecallMode::kInvalidate
                                                                         : RecallMode::kDowngrade,
                             c.with_data != 0);
      return;
    }
    default: return bad("frame of a holder");
  }
}

}  // namespace dipc::daemon::dsm
