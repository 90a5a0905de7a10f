#include "dipcd/dsm/fault_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <ctime>

#include "dipcd/conn.h"
#include "dipcd/dsm/fault_server_state.h"
#include "proto/dsm.h"

namespace dipc::daemon::dsm {

using proto::FrameType;
using proto::kDsmPage;


namespace {

// The pages a DSM frame carries (by its header's type and length).
uint64_t pages_in_frame(FrameType type, size_t payload) {
  size_t fixed = type == FrameType::kDsmGrantData                                  ? proto::DsmGrantData::kFixedSize
                 : type == FrameType::kDsmData || type == FrameType::kDsmDataToOwner ? proto::DsmData::kFixedSize
                                                                                     : payload;
  return payload > fixed ? (payload - fixed) / kDsmPage : 0;
}

}  // namespace

FaultServer::FaultServer(Options opt, SendFn send)
    : opt_(std::move(opt)),
      send_([this, send = std::move(send)](const std::string& node, std::vector<uint8_t> frame) {
        proto::Header h;
        if (frame.size() >= proto::kHeaderSize &&
            proto::decode_header(frame.data(), h) == proto::HeaderError::kNone) {
          counters_.frames_out.fetch_add(1, std::memory_order_relaxed);
          if (h.type == FrameType::kDsmAcquire)
            counters_.requests.fetch_add(1, std::memory_order_relaxed);
          counters_.pages_out.fetch_add(pages_in_frame(h.type, h.length), std::memory_order_relaxed);
        }
        send(node, std::move(frame));
      }) {}

FaultServer::~FaultServer() { stop(); }

bool FaultServer::serve_check(std::string& err) {
  if (sysconf(_SC_PAGESIZE) != long(kDsmPage)) {
    err = fmt::format("the page size is {} bytes; distributed shared memory needs 4096",
                      sysconf(_SC_PAGESIZE));
    return false;
  }
  return true;
}

bool FaultServer::kernel_check(std::string& err) {
  if (!serve_check(err)) return false;
  int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev < 0) {
    err = fmt::format("cannot open /dev/userfaultfd: {} (Linux 6.1 or later, CONFIG_USERFAULTFD, "
                      "and dipcd running as root)", strerror(errno));
    return false;
  }
  int uffd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
  close(dev);
  if (uffd < 0) {
    err = fmt::format("USERFAULTFD_IOC_NEW on /dev/userfaultfd: {}", strerror(errno));
    return false;
  }
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = 0;
  int rc = ioctl(uffd, UFFDIO_API, &api);
  close(uffd);
  if (rc < 0) {
    err = fmt::format("UFFDIO_API: {}", strerror(errno));
    return false;
  }
  struct Need {
    uint64_t bit;
    const char* name;
    const char* since;
  };
  const Need needs[] = {
      {UFFD_FEATURE_WP_HUGETLBFS_SHMEM, "UFFD_FEATURE_WP_HUGETLBFS_SHMEM", "6.1"},
      {UFFD_FEATURE_WP_UNPOPULATED, "UFFD_FEATURE_WP_UNPOPULATED", "6.4"},
      {UFFD_FEATURE_POISON, "UFFD_FEATURE_POISON", "6.6"},
      {UFFD_FEATURE_MISSING_SHMEM, "UFFD_FEATURE_MISSING_SHMEM", "4.11"},
  };
  std::string missing;
  for (auto& n : needs)
    if (!(api.features & n.bit))
      missing += fmt::format("{}{} (Linux {})", missing.empty() ? "" : ", ", n.name, n.since);
  if (!missing.empty()) {
    err = "the kernel's userfaultfd lacks " + missing;
    return false;
  }
  return true;
}

bool FaultServer::start(std::string& err) {
  devfd_ = opt_.attach_whole ? -1 : open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (!opt_.attach_whole && devfd_ < 0) {
    err = fmt::format("cannot open /dev/userfaultfd: {}", strerror(errno));
    return false;
  }
  std::string path = opt_.run_dir + "/dipcd-dsm.sock";
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    err = "run_dir is too long for " + path;
    return false;
  }
  strcpy(sa.sun_path, path.c_str());
  listen_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  ::unlink(path.c_str());
  if (listen_ < 0 || bind(listen_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 ||
      listen(listen_, 128) < 0) {
    err = fmt::format("cannot create the shared-memory socket {}: {}", path, strerror(errno));
    return false;
  }
  ::chmod(path.c_str(), 0666);  // any local user may attach; the kernel says who it is
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  event_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_ < 0 || event_ < 0) {
    err = fmt::format("epoll/eventfd: {}", strerror(errno));
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag(kTagListen, listen_);
  epoll_ctl(epoll_, EPOLL_CTL_ADD, listen_, &ev);
  ev.data.u64 = tag(kTagEvent, event_);
  epoll_ctl(epoll_, EPOLL_CTL_ADD, event_, &ev);
  thread_ = std::thread([this] { run(); });
  spdlog::info("distributed shared memory: {} mode, quantum {} ms, attach {}, on {}",
               opt_.segment_mode ? "segment" : "page",
               std::chrono::duration_cast<std::chrono::milliseconds>(opt_.quantum).count(),
               opt_.attach_whole ? "whole" : "fault", path);
  return true;
}

void FaultServer::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  uint64_t one = 1;
  (void)!write(event_, &one, sizeof one);
  thread_.join();
  {
    std::lock_guard<std::mutex> g(nattch_mu_);
    for (auto& [id, s] : local_) nattch_.erase(id);
  }
  sessions_.clear();
  uffds_.clear();
  procs_.clear();
  local_.clear();
  remote_.clear();
  for (int* fd : {&listen_, &event_, &epoll_, &devfd_})
    if (*fd >= 0) close(std::exchange(*fd, -1));
  ::unlink((opt_.run_dir + "/dipcd-dsm.sock").c_str());
}

void FaultServer::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> g(tasks_mu_);
    tasks_.push_back(std::move(task));
  }
  uint64_t one = 1;
  (void)!write(event_, &one, sizeof one);
}

void FaultServer::segment_known(int32_t local_id, const std::string& owner, int32_t owner_id,
                                uint64_t size) {
  {
    // Counted from now on, on the caller's thread: another node's attach notice may come
    // before the fault server's thread has taken the segment in.
    std::lock_guard<std::mutex> g(nattch_mu_);
    if (!nattch_.count(local_id)) {
      nattch_[local_id] = Counts{};
      nattch_[local_id].owned = owner == opt_.node_name;
    }
  }
  post([this, local_id, owner, owner_id, size] {
    if (local_.count(local_id)) return;
    auto s = std::make_shared<Segment>();
    s->local_id = local_id;
    s->owner = owner;
    s->owner_id = owner_id;
    s->owned = owner == opt_.node_name;
    s->size = size;
    s->pages = (size + kDsmPage - 1) / kDsmPage;
    if (s->pages == 0 || s->pages >= proto::kDsmMaxPages) return;
    s->memfd = int(syscall(SYS_memfd_create, "dipc-shm", MFD_CLOEXEC));
    s->state = static_cast<uint8_t*>(calloc(s->pages, 1));
    struct stat st;
    if (s->memfd < 0 || !s->state || ftruncate(s->memfd, off_t(s->pages * kDsmPage)) < 0 ||
        fstat(s->memfd, &st) < 0) {
      spdlog::error("shared memory id {}: cannot make its memfd: {}", local_id, strerror(errno));
      return;
    }
    s->ino = st.st_ino;
    s->dev = st.st_dev;
    // dipcd attaches the System V segment itself, so that IPC_RMID only marks it (the key
    // is freed, SHM_DEST shows) and the kernel destroys it when dipcd lets go.
    long a = syscall(SYS_shmat, local_id, nullptr, SHM_RDONLY);
    if (a != -1) s->sysv = reinterpret_cast<void*>(a);
    if (s->owned) {
      s->unit_pages = opt_.segment_mode ? s->pages : 1;
      s->dir = std::make_unique<PageDirectory>((s->pages + s->unit_pages - 1) / s->unit_pages,
                                               opt_.quantum);
    } else {
      remote_[{owner, owner_id}] = s;
    }
    local_[local_id] = s;
  });
}

void FaultServer::segment_removed(int32_t local_id) {
  // Done now, under the state lock (after the tasks posted before it): a removed segment
  // that nothing has attached is gone (dipcd's own System V attachment let go) when the
  // removal returns, as on Linux, where a second IPC_RMID or any call on its id is then
  // EINVAL. Not on the fault server's thread.
  std::lock_guard<std::mutex> g(state_mu_);
  drain_tasks();
  auto it = local_.find(local_id);
  if (it != local_.end()) {
    // Attached processes keep it (and the owner keeps serving them) until they detach.
    auto s = it->second;
    s->removed = true;
    maybe_destroy(*s);
  } else {
    std::lock_guard<std::mutex> n(nattch_mu_);
    nattch_.erase(local_id);  // one the fault server could not take in
  }
}

std::shared_ptr<FaultServer::Segment> FaultServer::ref(Segment& s) {
  auto it = local_.find(s.local_id);
  return it != local_.end() && it->second.get() == &s ? it->second : nullptr;
}

std::mutex FaultServer::nattch_mu_;
std::map<int32_t, FaultServer::Counts> FaultServer::nattch_;

int FaultServer::Counts::total() const {
  int64_t n = local;
  for (auto& [node, k] : remote) n += k;  // a node's count is its own word: bounded here
  return int(std::min<int64_t>(n, INT32_MAX));
}

template <typename Change>
void FaultServer::recount(int32_t local_id, Change change) {
  std::lock_guard<std::mutex> g(nattch_mu_);
  auto it = nattch_.find(local_id);
  if (it == nattch_.end()) return;
  int before = it->second.total();
  change(it->second);
  int after = it->second.total();
  if (after == before) return;
  int64_t now = int64_t(time(nullptr));
  (after > before ? it->second.atime : it->second.dtime) = now;
}

bool FaultServer::attached(int32_t local_id, Attached& out) {
  std::lock_guard<std::mutex> g(nattch_mu_);
  auto it = nattch_.find(local_id);
  if (it == nattch_.end()) return false;
  out = {it->second.total(), it->second.atime, it->second.dtime};
  return true;
}

void FaultServer::count_attachments(Segment& s) {
  if (!local_.count(s.local_id)) return;
  int n = int(s.attachments.size());
  recount(s.local_id, [n](Counts& c) { c.local = n; });
}

// A removed segment goes once nothing uses it: no local attachment, and when owned here no
// attachment on any other node either (their faults still come here until then).
void FaultServer::maybe_destroy(Segment& s) {
  if (!s.removed || !s.attachments.empty()) return;
  if (s.owned && !s.remote_nattch.empty()) return;
  int32_t id = s.local_id;
  log_(spdlog::level::debug, "shared memory id {}: last attachment gone, destroyed", id);
  forget_segment(id);
}

void FaultServer::forget_segment(int32_t local_id) {
  auto it = local_.find(local_id);
  if (it == local_.end()) return;
  auto s = it->second;
  local_.erase(it);
  if (!s->owned) remote_.erase({s->owner, s->owner_id});
  for (auto& [page, pd] : s->pending) by_reqid_.erase(pd.reqid);
  {
    std::lock_guard<std::mutex> g(nattch_mu_);
    nattch_.erase(local_id);
  }
  // ~Segment detaches dipcd's own System V attachment: the kernel then destroys it.
}

void FaultServer::peer_frame(const std::string& node, bool on_our_link, FrameType type,
                             uint64_t reqid, std::vector<uint8_t> payload) {
  if (type == FrameType::kDsmJoin) {
    // Counted here, on the thread the frames arrive on, for IPC_STAT (see attached()); the
    // fault server's own count (for the last detach) follows on its thread. The segment is
    // named by its owner's id, which is the local id of a segment owned here.
    proto::DsmJoin j;
    proto::Reader r(payload.data(), payload.size());
    if (j.decode(r))
      recount(j.seg, [&node, &j](Counts& c) {
        if (!c.owned) return;
        if (j.nattch) c.remote[node] = j.nattch;
        else c.remote.erase(node);
      });
  }
  // Handled here, on the calling (io) thread, under the state lock: a frame does not wait
  // for a second thread to wake (a remote fault costs one hop fewer on each node). Tasks
  // posted before it run first, so a segment announced before the frame is known to it.
  std::lock_guard<std::mutex> g(state_mu_);
  if (stopping_) return;
  drain_tasks();
  on_frame(node, on_our_link, type, reqid, payload);
  // The fault server's thread sleeps until the deadline it saw: wake it for an earlier one
  // (a recall now waiting for the quantum, a request's time-out).
  if (next_deadline() < sleeping_until_) {
    uint64_t one = 1;
    (void)!write(event_, &one, sizeof one);
  }
}

void FaultServer::node_dead(const std::string& node) {
  post([this, node] { on_node_dead(node); });
}

NodeId FaultServer::node_id(const std::string& name) {
  if (name == opt_.node_name) return kOwner;
  auto it = node_ids_.find(name);
  if (it != node_ids_.end()) return it->second;
  if (node_ids_.size() + 1 >= kMaxNodes) return kMaxNodes;  // refused by the directory
  NodeId id = NodeId(node_ids_.size() + 1);
  node_ids_[name] = id;
  return id;
}

// ---------------------------------------------------------------------------------------
// The loop

void FaultServer::drain_tasks() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> g(tasks_mu_);
    tasks.swap(tasks_);
  }
  for (auto& t : tasks) t();
}

Time FaultServer::next_deadline() const {
  Time t = Time::max();
  for (auto& [id, s] : local_) {
    if (s->dir) t = std::min(t, s->dir->next_deadline());
    for (auto& [page, pd] : s->pending) t = std::min(t, pd.deadline);
    for (const Session* at : s->pin_waiting) t = std::min(t, at->pin_deadline);
  }
  return t;
}

void FaultServer::dispatch(const epoll_event* evs, int n) {
  for (int i = 0; i < n && !stopping_; ++i) {
    uint64_t t = evs[i].data.u64 >> 32;
    int fd = int(uint32_t(evs[i].data.u64));
    if (t == kTagEvent) {
      uint64_t v;
      (void)!read(event_, &v, sizeof v);
      drain_tasks();
    } else if (t == kTagListen) {
      on_accept();
    } else if (t == kTagSession) {
      auto it = sessions_.find(fd);
      if (it != sessions_.end()) on_session(it->second.get());
    } else if (t == kTagUffd) {
      auto it = uffds_.find(fd);
      if (it != uffds_.end()) on_uffd(it->second.get());
    }
  }
}

void FaultServer::sync() {
  // Under the state lock, on the calling thread: what the fault server's thread has not
  // yet taken from its descriptors (an attach, a detach) is taken now.
  std::lock_guard<std::mutex> g(state_mu_);
  if (!thread_.joinable() || stopping_) return;
  drain_tasks();
  epoll_event evs[64];
  timespec zero{};
  int n = epoll_pwait2(epoll_, evs, 64, &zero, nullptr);
  if (n < 0 && errno == ENOSYS) n = epoll_wait(epoll_, evs, 64, 0);  // qemu-user 7.2
  if (n > 0) dispatch(evs, n);
}

void FaultServer::run() {
  epoll_event evs[64];
  std::unique_lock<std::mutex> lk(state_mu_);
  bool pwait2 = true;  // epoll_pwait2 (Linux 5.11) is missing under qemu-user 7.2
  while (!stopping_) {
    Time due = next_deadline();
    sleeping_until_ = due;
    timespec ts{}, *tp = nullptr;
    if (due != Time::max()) {
      auto left = due - std::chrono::steady_clock::now();
      if (left < Duration::zero()) left = Duration::zero();
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts.tv_sec = ns / 1000000000;
      ts.tv_nsec = ns % 1000000000;
      tp = &ts;
    }
    lk.unlock();  // the io thread handles peer frames meanwhile
    int n = pwait2 ? epoll_pwait2(epoll_, evs, 64, tp, nullptr) : -1;
    if (!pwait2 || (n < 0 && errno == ENOSYS)) {
      pwait2 = false;  // milliseconds, rounded up so that a deadline is never early
      long long ms = tp ? (ts.tv_sec * 1000LL + (ts.tv_nsec + 999999) / 1000000) : -1;
      n = epoll_wait(epoll_, evs, 64, int(std::min<long long>(ms, 1 << 30)));
    }
    lk.lock();
    if (n < 0 && errno != EINTR) {
      spdlog::critical("fault server: epoll: {}", strerror(errno));
      return;
    }
    // Posted tasks first: a segment the io thread announced must be known before the
    // attach that learnt its id from the same announcement.
    drain_tasks();
    dispatch(evs, n);
    Time now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Segment>> due_segs;  // a copy: see expire()
    for (auto& [id, s] : local_)
      if (s->dir && s->dir->next_deadline() <= now) due_segs.push_back(s);
    for (auto& s : due_segs) {
      std::vector<Action> acts;
      s->dir->tick(now, acts);
      run_actions(*s, acts);
    }
    expire(now);
  }
}

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
  }
}

void FaultServer::fault(Process* p, uint64_t addr, uint64_t flags) {
  Session* at = nullptr;
  for (Session* s : p->sessions)
    if (addr >= s->base && addr < s->base + s->len) at = s;
  uint64_t pa = addr & ~uint64_t(kDsmPage - 1);
  if (!at) return uffd_wake(p->uffd, pa, kDsmPage);  // detached meanwhile
  Segment& seg = *at->seg;
  uint64_t page = (pa - at->base) / kDsmPage;
  (flags & UFFD_PAGEFAULT_FLAG_WRITE ? counters_.write_faults : counters_.read_faults)
      .fetch_add(1, std::memory_order_relaxed);
  log_(spdlog::level::debug, "fault pid {} seg {} page {} flags {:x} state {}", p->pid, seg.local_id,
                (pa - at->base) / kDsmPage, flags, int(seg.state[(pa - at->base) / kDsmPage]));
  Waiter w{p,        p->uffd,    pa, (flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0,
           !(flags & UFFD_PAGEFAULT_FLAG_WP), at->rdonly, seg.memfd, page};
  if (seg.state[page] == kStLost) return poison(w, seg, page);
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
  if (s.state[page] != kStLost) {
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
}

void FaultServer::request(Segment& s, uint64_t page, Access need, Waiter w) {
  if (s.owner_dead) return poison(w, s, page);
  auto it = s.pending.find(page);
  if (it != s.pending.end()) {
    it->second.waiters.push_back(w);  // a read request in flight serves a writer next
    return;
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
  acquire(s, page, need, &w, 1 + n);
  // The next fault, on the page after the window, continues the run.
  if (need == Access::kRead) s.last_read = page + n;
}

// Asks for pages [page, page+n) (n > 1 only for reading) in one request.
void FaultServer::acquire(Segment& s, uint64_t page, Access need, const Waiter* w, uint64_t n) {
  uint64_t reqid = next_reqid_++;
  Time deadline = std::chrono::steady_clock::now() + opt_.fault_timeout;
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
  for (Session* at : s.attachments)
    if (at->proc && !at->rdonly &&
        !uffd_protect(at->proc->uffd, at->base + first * kDsmPage, n * kDsmPage, true, false))
      log_(spdlog::level::warn, "UFFDIO_WRITEPROTECT for pid {}: {}", at->proc->pid, strerror(errno));
}

// Drops this node's copy of pages [first, first+n): every local process takes a MISSING
// fault on its next access. Write-protected first: the hole punch keeps a protected page's
// marker, so the page refilled later still takes a WP fault on its first store.
void FaultServer::drop_copy(Segment& s, uint64_t first, uint64_t n) {
  protect_all(s, first, n);
  s.punch(first, n);
}

void FaultServer::holder_grant(Segment& s, uint64_t first, uint64_t n, Access a) {
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
      if (w.write && a != Access::kWrite) request(s, page, Access::kWrite, w);
      else resolve(w, a);
    }
  }
  if (!s.pin_waiting.empty()) pin_progress(s);
}

void FaultServer::holder_fail(Segment& s, uint64_t first, uint64_t n) {
  for (auto it = s.pending.begin(); it != s.pending.end();) {
    if (it->first < first || it->first >= first + n) {
      ++it;
      continue;
    }
    by_reqid_.erase(it->second.reqid);
    uint64_t page = it->first;
    auto ws = std::move(it->second.waiters);
    it = s.pending.erase(it);
    for (auto& w : ws) poison(w, s, page);
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

namespace {

// Reads pages [first, first+n) of memfd into dst; what lies past the file's end is zero.
void read_pages(int memfd, uint64_t first, uint64_t n, uint8_t* dst) {
  size_t bytes = size_t(n * kDsmPage);
  ssize_t got = pread(memfd, dst, bytes, off_t(first * kDsmPage));
  if (got < 0) got = 0;
  if (size_t(got) < bytes) memset(dst + got, 0, bytes - size_t(got));
}

}  // namespace

std::vector<std::vector<uint8_t>> FaultServer::data_frames(Segment& s, uint64_t first,
                                                           uint64_t n, FrameType type) {
  std::vector<std::vector<uint8_t>> out;
  constexpr uint64_t kChunkPages = proto::kDsmMaxChunk / kDsmPage;
  for (uint64_t p = first; p < first + n; p += kChunkPages) {
    uint64_t k = std::min(kChunkPages, first + n - p);
    size_t bytes = size_t(k * kDsmPage);
    std::vector<uint8_t> f(proto::kHeaderSize + proto::DsmData::kFixedSize + bytes);
    proto::Writer w(f.data() + proto::kHeaderSize, proto::DsmData::kFixedSize);
    w.i32(s.owner_id);
    w.u64(p);
    w.u32(uint32_t(bytes));
    read_pages(s.memfd, p, k, f.data() + proto::kHeaderSize + proto::DsmData::kFixedSize);
    proto::Header h;
    h.type = type;
    h.length = uint32_t(proto::DsmData::kFixedSize + bytes);
    proto::encode_header(h, f.data());
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<std::vector<uint8_t>> FaultServer::grant_frames(Segment& s, uint64_t first, uint64_t n,
                                                            Access a, uint64_t reqid,
                                                            bool with_data) {
  proto::DsmGrant g{{s.owner_id, first, uint32_t(n)},
                    a == Access::kWrite ? proto::DsmAccess::kWrite : proto::DsmAccess::kRead};
  std::vector<std::vector<uint8_t>> out;
  if (with_data && n * kDsmPage <= proto::kDsmMaxChunk) {
    // The usual answer to a fault: one frame, the pages read straight into it.
    size_t bytes = size_t(n * kDsmPage);
    std::vector<uint8_t> f(proto::kHeaderSize + proto::DsmGrantData::kFixedSize + bytes);
    proto::Writer w(f.data() + proto::kHeaderSize, proto::DsmGrantData::kFixedSize);
    g.encode(w);
    w.u32(uint32_t(bytes));
    read_pages(s.memfd, first, n, f.data() + proto::kHeaderSize + proto::DsmGrantData::kFixedSize);
    proto::Header h;
    h.type = FrameType::kDsmGrantData;
    h.request_id = reqid;
    h.length = uint32_t(proto::DsmGrantData::kFixedSize + bytes);
    proto::encode_header(h, f.data());
    out.push_back(std::move(f));
    return out;
  }
  if (with_data) out = data_frames(s, first, n, FrameType::kDsmData);
  out.push_back(make_frame(FrameType::kDsmGrant, reqid, g, proto::DsmGrant::kSize));
  return out;
}

// A recall from the owner (or, on the owner, from its own directory).
void FaultServer::holder_recall(Segment& s, uint64_t first, uint64_t n, RecallMode mode,
                                bool with_data) {
  log_(spdlog::level::debug, "recall seg {} pages {}+{} mode {} data {}", s.local_id, first, n, int(mode),
                with_data);
  // No process of this node writes these pages from here on.
  protect_all(s, first, n);
  Access to = mode == RecallMode::kInvalidate ? Access::kNone : Access::kRead;
  if (s.owned) {
    // The owner's copy is the directory's data source: an invalidation drops it only once
    // the grant that needs it has been read (run_actions, which tells the directory).
    for (uint64_t p = first; p < first + n; ++p)
      if (s.state[p] != kStLost) s.set(p, to);
    return;
  }
  std::vector<std::vector<uint8_t>> frames;
  if (with_data) frames = data_frames(s, first, n, FrameType::kDsmDataToOwner);
  if (mode == RecallMode::kInvalidate) drop_copy(s, first, n);
  for (uint64_t p = first; p < first + n; ++p)
    if (s.state[p] != kStLost && (to == Access::kNone || s.access(p) != Access::kNone))
      s.set(p, to);
  for (auto& f : frames) send_(s.owner, std::move(f));
  proto::DsmRange ack{s.owner_id, first, uint32_t(n)};
  send_(s.owner, make_frame(FrameType::kDsmRecallAck, 0, ack, proto::DsmRange::kSize));
}

// The owner carries out its directory's decisions.
void FaultServer::run_actions(Segment& s, std::vector<Action>& acts) {
  auto keep = ref(s);  // a self-recall must not free the segment under us
  // Read grants of consecutive units to one node for one request (read-ahead) leave as one
  // run of data frames and one grant.
  struct Batch {
    std::string node;
    uint64_t first = 0, n = 0, reqid = 0;
    bool with_data = false;
  } batch;
  auto flush = [&] {
    if (batch.n == 0) return;
    for (auto& f : grant_frames(s, batch.first, batch.n, Access::kRead, batch.reqid, batch.with_data))
      send_(batch.node, std::move(f));
    batch.n = 0;
  };
  for (size_t i = 0; i < acts.size(); ++i) {
    Action a = acts[i];
    log_(spdlog::level::debug, "directory seg {}: action {} node {} unit {} access {} mode {} data {} req {}",
                  s.local_id, int(a.type), int(a.node), a.unit, int(a.access), int(a.mode),
                  a.with_data, a.reqid);
    uint64_t first = s.first_of(a.unit), n = s.count_of(a.unit);
    std::string node;
    if (a.node != kOwner) {
      for (auto& [name, id] : node_ids_)
        if (id == a.node) node = name;
      if (node.empty()) continue;
    }
    if (a.type == Action::Type::kGrant && a.node != kOwner && a.access == Access::kRead) {
      bool joins = batch.n && batch.node == node && batch.reqid == a.reqid &&
                   batch.with_data == a.with_data && batch.first + batch.n == first &&
                   batch.n + n <= proto::kDsmMaxChunk / kDsmPage;
      if (!joins) {
        flush();
        batch = {node, first, 0, a.reqid, a.with_data};
      }
      batch.n += n;
      continue;
    }
    flush();
    switch (a.type) {
      case Action::Type::kGrant: {
        if (a.node == kOwner) {
          holder_grant(s, first, n, a.access);
          break;
        }
        auto frames = grant_frames(s, first, n, a.access, a.reqid, a.with_data);
        if (a.access == Access::kWrite) {
          // The writer elsewhere has the only copy from now on; drop ours before the grant
          // leaves, so no local process reads past the new writer's first store.
          drop_copy(s, first, n);
          for (uint64_t p = first; p < first + n; ++p)
            if (s.state[p] != kStLost) s.set(p, Access::kNone);
        }
        for (auto& f : frames) send_(node, std::move(f));
        break;
      }
      case Action::Type::kRecall: {
        if (a.node == kOwner) {
          // Done at once; what the directory decides next joins this list, so that the
          // read grants of a read-ahead still leave together.
          if (holder_recall_or_defer(s, first, n, a.mode, a.with_data))
            s.dir->recall_done(kOwner, a.unit, std::chrono::steady_clock::now(), acts);
          break;
        }
        proto::DsmRecall r{{s.owner_id, first, uint32_t(n)},
                           a.mode == RecallMode::kInvalidate ? proto::DsmRecallMode::kInvalidate
                                                             : proto::DsmRecallMode::kDowngrade,
                           uint8_t(a.with_data)};
        send_(node, make_frame(FrameType::kDsmRecall, 0, r, proto::DsmRecall::kSize));
        break;
      }
      case Action::Type::kFail: {
        if (a.node == kOwner) {
          holder_fail(s, first, n);
          break;
        }
        proto::DsmFail f{{s.owner_id, first, uint32_t(n)}, EHOSTDOWN};
        send_(node, make_frame(FrameType::kDsmFail, a.reqid, f, proto::DsmFail::kSize));
        break;
      }
      case Action::Type::kFill:
        for (uint64_t p = first; p < first + n; ++p)
          if (s.state[p] != kStLost) s.set(p, Access::kRead);
        break;
    }
  }
  flush();
  acts.clear();
}

// ---------------------------------------------------------------------------------------
// Frames from other nodes

void FaultServer::on_frame(const std::string& node, bool on_our_link, FrameType type,
                           uint64_t reqid, const std::vector<uint8_t>& payload) {
  counters_.frames_in.fetch_add(1, std::memory_order_relaxed);
  if (on_our_link)
    (type == FrameType::kDsmRecall ? counters_.recalls : counters_.answers)
        .fetch_add(1, std::memory_order_relaxed);
  counters_.pages_in.fetch_add(pages_in_frame(type, payload.size()), std::memory_order_relaxed);
  proto::Reader r(payload.data(), payload.size());
  auto bad = [&](const char* what) {
    log_(spdlog::level::warn, "dsm: {} from {} refused", what, node);
  };
  Time now = std::chrono::steady_clock::now();
  if (on_our_link) {
    // From an owner to us as a holder: only about segments that node owns.
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
        (void)!pwrite(s->memfd, d.bytes.data(), d.bytes.size(), off_t(d.first_page * kDsmPage));
        return;
      }
      case FrameType::kDsmGrantData: {
        proto::DsmGrantData gd;
        if (!gd.decode(r)) return bad("malformed grant");
        const proto::DsmRange& g = gd.grant.range;
        Segment* s = find(g.seg);
        if (!s || g.first + g.npages > s->pages) return bad("grant of an unknown segment");
        (void)!pwrite(s->memfd, gd.bytes.data(), gd.bytes.size(), off_t(g.first * kDsmPage));
        return holder_grant(*s, g.first, g.npages, to_access(gd.grant.access));
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
  // From a holder to us as the owner: only about segments owned here.
  auto find = [&](int32_t seg) -> Segment* {
    auto it = local_.find(seg);
    return it == local_.end() || !it->second->owned ? nullptr : it->second.get();
  };
  NodeId id = node_id(node);
  switch (type) {
    case FrameType::kDsmAcquire: {
      proto::DsmAcquire q;
      if (!q.decode(r)) return bad("malformed acquire");
      Segment* s = find(q.seg);
      if (!s || q.page >= s->pages || id >= kMaxNodes) {
        proto::DsmFail f{{q.seg, q.page, 1}, s ? ENOSPC : EIDRM};
        send_(node, make_frame(FrameType::kDsmFail, reqid, f, proto::DsmFail::kSize));
        return;
      }
      s->holders.insert(id);
      std::vector<Action> acts;
      uint64_t last = q.page + q.npages;
      if (last > s->pages) last = s->pages;
      for (uint64_t p = q.page; p < last; p = s->first_of(s->unit_of(p)) + s->unit_pages)
        s->dir->request(id, s->unit_of(p), to_access(q.access), reqid, now, acts);
      return run_actions(*s, acts);
    }
    case FrameType::kDsmDataToOwner: {  // a page given back with a recall
      proto::DsmData d;
      if (!d.decode(r)) return bad("malformed data");
      Segment* s = find(d.seg);
      if (!s || d.first_page + d.bytes.size() / kDsmPage > s->pages) return bad("data for an unknown segment");
      (void)!pwrite(s->memfd, d.bytes.data(), d.bytes.size(), off_t(d.first_page * kDsmPage));
      return;
    }
    case FrameType::kDsmRecallAck: {
      proto::DsmRange a;
      if (!a.decode(r)) return bad("malformed recall answer");
      Segment* s = find(a.seg);
      if (!s || a.first >= s->pages) return;
      std::vector<Action> acts;
      if (!s->dir->recall_done(id, s->unit_of(a.first), now, acts)) return bad("unasked recall answer");
      return run_actions(*s, acts);
    }
    case FrameType::kDsmJoin: {
      proto::DsmJoin j;
      if (!j.decode(r)) return bad("malformed attach notice");
      Segment* s = find(j.seg);
      if (!s || id >= kMaxNodes) return;
      if (j.nattch) s->remote_nattch[id] = j.nattch;
      else s->remote_nattch.erase(id);
      count_attachments(*s);
      return maybe_destroy(*s);
    }
    default: return bad("frame of an owner");
  }
}

void FaultServer::on_node_dead(const std::string& node) {
  Time now = std::chrono::steady_clock::now();
  auto it = node_ids_.find(node);
  std::vector<std::shared_ptr<Segment>> segs;
  for (auto& [id, s] : local_) segs.push_back(s);
  for (auto& s : segs) {
    if (s->owned && it != node_ids_.end()) {
      std::vector<Action> acts;
      s->dir->node_dead(it->second, now, acts);
      run_actions(*s, acts);
      s->remote_nattch.erase(it->second);
      recount(s->local_id, [&node](Counts& c) { c.remote.erase(node); });
      maybe_destroy(*s);
    } else if (!s->owned && s->owner == node) {
      s->owner_dead = true;
      for (auto& [page, pd] : s->pending) {
        by_reqid_.erase(pd.reqid);
        for (auto& w : pd.waiters) poison(w, *s, page);
      }
      s->pending.clear();
      if (!s->pin_waiting.empty()) pin_fail(*s, EIDRM);
    }
  }
}

}  // namespace dipc::daemon::dsm
