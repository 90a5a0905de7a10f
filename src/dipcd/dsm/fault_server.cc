#include "dipcd/dsm/fault_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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
      send_([this](const std::string& node, OutFrame frame) {
        outbox_.emplace_back(node, std::move(frame));
      }),
      send_out_([this, send = std::move(send)](const std::string& node, OutFrame frame) {
        proto::Header h;
        if (frame.head.size() >= proto::kHeaderSize &&
            proto::decode_header(frame.head.data(), h) == proto::HeaderError::kNone) {
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

std::string FaultServer::huge_page_warning() {
  FILE* f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");
  if (!f) return {};
  char line[256] = {};
  bool got = fgets(line, sizeof line, f) != nullptr;
  fclose(f);
  return got ? huge_page_warning(line) : std::string();
}

std::string FaultServer::huge_page_warning(const char* line) {
  // "always within_size advise [never] deny force": the bracketed one is in force.
  const char* open = strchr(line, '[');
  const char* close = open ? strchr(open, ']') : nullptr;
  if (!open || !close) return {};
  std::string mode(open + 1, close);
  if (mode != "always" && mode != "within_size" && mode != "force") return {};
  return fmt::format("shmem transparent huge pages are on (shmem_enabled = {}): a segment's memfd "
                     "may then hold 2 MiB pages, which distributed shared memory, working in 4 KiB "
                     "pages, cannot give away one by one (a page may read as zeros after another "
                     "moved); set /sys/kernel/mm/transparent_hugepage/shmem_enabled to never or advise",
                     mode);
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
  // dipcd attaches the System V segment itself, so that IPC_RMID only marks it (the key
  // is freed, SHM_DEST shows) and the kernel destroys it when dipcd lets go. Here, on the
  // calling (io) thread, before the creation or look-up is answered, and not on the fault
  // server's thread: while a shmat runs, the kernel counts it twice (do_shmat holds a
  // count of its own around the mapping), and an IPC_STAT on the io thread meanwhile
  // (run_shmctl takes dipcd's one attachment from the kernel's count) would say 1 for a
  // segment nothing has attached. IPC_STAT is made on the io thread too, so it never
  // meets this attach half done.
  long a = syscall(SYS_shmat, local_id, nullptr, SHM_RDONLY);  // raw: never through a shim
  void* sysv = a != -1 ? reinterpret_cast<void*>(a) : nullptr;
  post([this, local_id, owner, owner_id, size, sysv] {
    if (local_.count(local_id)) {
      if (sysv) syscall(SYS_shmdt, sysv);  // known already: it has its attachment
      return;
    }
    auto s = std::make_shared<Segment>();
    s->sysv = sysv;  // let go with the Segment, also when it is not taken in below
    s->local_id = local_id;
    s->owner = owner;
    s->owner_id = owner_id;
    s->owned = owner == opt_.node_name;
    s->size = size;
    s->pages = (size + kDsmPage - 1) / kDsmPage;
    if (s->pages == 0 || s->pages >= proto::kDsmMaxPages) return;
    s->memfd = int(syscall(SYS_memfd_create, "dipc-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (s->memfd >= 0) s->memfd_ref = std::make_shared<const SharedFd>(s->memfd);
    s->state = static_cast<uint8_t*>(calloc(s->pages, 1));
    struct stat st;
    if (s->memfd < 0 || !s->state || ftruncate(s->memfd, off_t(s->pages * kDsmPage)) < 0 ||
        fstat(s->memfd, &st) < 0) {
      spdlog::error("shared memory id {}: cannot make its memfd: {}", local_id, strerror(errno));
      return;
    }
    // Its size is sealed: a process given the memfd to map cannot make it shorter (frames
    // send pages from it) or longer.
    // Without those seals, F_SEAL_SEAL alone at least stops a process from adding
    // F_SEAL_WRITE, which would stop dipcd's own writes.
    if (fcntl(s->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
      spdlog::warn("shared memory id {}: cannot seal its memfd's size: {}", local_id, strerror(errno));
      (void)fcntl(s->memfd, F_ADD_SEALS, F_SEAL_SEAL);
    }
    s->ino = st.st_ino;
    s->dev = st.st_dev;
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
  std::unique_lock<std::mutex> g(state_mu_);
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
  flush(g);
}

void FaultServer::flush(std::unique_lock<std::mutex>& lk) {
  if (outbox_.empty()) return lk.unlock();
  auto out = std::move(outbox_);
  outbox_.clear();
  std::lock_guard<std::mutex> order(send_mu_);
  lk.unlock();
  for (auto& [node, frame] : out) send_out_(node, std::move(frame));
}

std::shared_ptr<FaultServer::Segment> FaultServer::ref(Segment& s) {
  auto it = local_.find(s.local_id);
  return it != local_.end() && it->second.get() == &s ? it->second : nullptr;
}

void FaultServer::refused(const std::string& node, const char* what) {
  Time now = std::chrono::steady_clock::now();
  if (!refusals_.count(node) && refusals_.size() >= kMaxRefusalNodes) refusals_.clear();
  Refusals& r = refusals_[node];
  if (r.last != Time{} && now - r.last < std::chrono::seconds(1)) {
    ++r.since;
    return;
  }
  if (r.since)
    log_(spdlog::level::warn, "dsm: {} from {} refused ({} more refused since the last line)", what,
         node, r.since);
  else
    log_(spdlog::level::warn, "dsm: {} from {} refused", what, node);
  r.last = now;
  r.since = 0;
}

std::mutex FaultServer::nattch_mu_;
std::map<int32_t, FaultServer::Counts> FaultServer::nattch_;

int FaultServer::Counts::total() const {
  int64_t n = local;
  for (auto& [node, k] : remote) n += k;  // a node's count is its own word: bounded here
  return int(std::min<int64_t>(n, INT32_MAX));
}

template <typename Change>
void FaultServer::recount(int32_t local_id, Change change, bool reshaped, bool owned_only) {
  std::lock_guard<std::mutex> g(nattch_mu_);
  auto it = nattch_.find(local_id);
  if (it == nattch_.end() || (owned_only && !it->second.owned)) return;
  int before = it->second.total();
  change(it->second);
  int after = it->second.total();
  int64_t now = int64_t(time(nullptr));
  if (reshaped) {
    it->second.atime = it->second.dtime = now;
    return;
  }
  if (after == before) return;
  (after > before ? it->second.atime : it->second.dtime) = now;
}

bool FaultServer::attached(int32_t local_id, Attached& out) {
  std::lock_guard<std::mutex> g(nattch_mu_);
  auto it = nattch_.find(local_id);
  if (it == nattch_.end()) return false;
  out = {it->second.total(), it->second.atime, it->second.dtime};
  return true;
}

int FaultServer::local_nattch(const Segment& s) {
  int64_t n = 0;
  for (const Session* at : s.attachments) n += at->nattch();
  return int(std::min<int64_t>(n, INT32_MAX));
}

void FaultServer::count_attachments(Segment& s, bool reshaped) {
  if (!local_.count(s.local_id)) return;
  int n = local_nattch(s);
  recount(s.local_id, [n](Counts& c) { c.local = n; }, reshaped);
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
  // dipcd's own System V attachment goes first (the kernel then destroys the segment),
  // and its count after: IPC_STAT (run_shmctl) takes one from the kernel's shm_nattch
  // while the count is there, so it never sees dipcd's attachment without it. (~Segment
  // would detach too, but later when something else still holds the segment.)
  if (s->sysv) syscall(SYS_shmdt, s->sysv);  // raw: never through a preloaded shim
  s->sysv = nullptr;
  {
    std::lock_guard<std::mutex> g(nattch_mu_);
    nattch_.erase(local_id);
  }
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
      recount(
          j.seg,
          [&node, &j](Counts& c) {
            if (j.nattch) c.remote[node] = j.nattch;
            else c.remote.erase(node);
          },
          j.attach == proto::kDsmJoinReshape, true);  // only an owner takes other nodes' counts
  }
  // Handled here, on the calling (io) thread, under the state lock: a frame does not wait
  // for a second thread to wake (a remote fault costs one hop fewer on each node). Tasks
  // posted before it run first, so a segment announced before the frame is known to it.
  std::unique_lock<std::mutex> g(state_mu_);
  if (stopping_) return;
  drain_tasks();
  noted_ = Time::max();
  on_frame(node, on_our_link, type, reqid, payload);
  // The fault server's thread sleeps until the deadline it saw: wake it for an earlier one
  // that this frame made (a recall now waiting for the quantum, a request's time-out).
  bool wake = noted_ < sleeping_until_;
  flush(g);
  if (wake) {
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
  std::unique_lock<std::mutex> g(state_mu_);
  if (!thread_.joinable() || stopping_) return;
  drain_tasks();
  epoll_event evs[64];
  timespec zero{};
  int n = epoll_pwait2(epoll_, evs, 64, &zero, nullptr);
  if (n < 0 && errno == ENOSYS) n = epoll_wait(epoll_, evs, 64, 0);  // qemu-user 7.2
  noted_ = Time::max();
  if (n > 0) dispatch(evs, n);
  bool wake = noted_ < sleeping_until_;  // a fault or an attach taken here made an earlier one
  // The fault server's thread may have taken a detach just before (under the state lock,
  // which it left holding send_mu_ until its frames are sent): its notice to the owner must
  // be on the link before the call this sync is made for.
  if (outbox_.empty()) {
    std::lock_guard<std::mutex> order(send_mu_);
  }
  flush(g);
  if (wake) {
    uint64_t one = 1;
    (void)!write(event_, &one, sizeof one);
  }
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
    flush(lk);  // unlocked: the io thread handles peer frames meanwhile
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
    // Timers only once the earliest deadline seen before the wait has come: a wake-up for a
    // fault or an attach does not walk every segment. (One made earlier meanwhile woke the
    // thread, and the next turn waits for it.)
    Time now = std::chrono::steady_clock::now();
    if (now < due) continue;
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
// Frames from other nodes

void FaultServer::on_frame(const std::string& node, bool on_our_link, FrameType type,
                           uint64_t reqid, const std::vector<uint8_t>& payload) {
  counters_.frames_in.fetch_add(1, std::memory_order_relaxed);
  if (on_our_link)
    (type == FrameType::kDsmRecall ? counters_.recalls : counters_.answers)
        .fetch_add(1, std::memory_order_relaxed);
  counters_.pages_in.fetch_add(pages_in_frame(type, payload.size()), std::memory_order_relaxed);
  if (on_our_link) return on_holder_frame(node, type, reqid, payload);
  on_owner_frame(node, type, reqid, payload);
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
        for (auto& w : pd.waiters) poison(w, *s, w.page);
      }
      s->pending.clear();
      if (!s->pin_waiting.empty()) pin_fail(*s, EIDRM);
    }
  }
}

}  // namespace dipc::daemon::dsm
