// FaultServer: dipcd's distributed shared memory, on a thread of its own.
//
// It owns, for every distributed segment this node knows (owned here or a placeholder of
// a remote one): the memfd that backs it on this node, the node's access to each 4 KiB
// page (one byte per page: none, read, write, lost), the requests in flight to the owner
// with the faults waiting on them, and for segments owned here the PageDirectory (the
// manager). It also owns every attached process's userfaultfd and the local socket
// RUN_DIR/dipcd-dsm.sock through which the shim gets the memfd and /dev/userfaultfd and
// hands its userfaultfd back (docs/design.md, "Distributed shared memory"). Its rooms, each
// a source file: the loop, the segments' lifecycle and the frames' way in (fault_server.cc);
// this node as a holder: faults, requests, grants, recalls (holder_side.cc); this node as an
// owner: carrying out the directory's decisions and the holders' frames (manager.cc); the
// local socket and whole attachments (local_attach.cc); their shared structures in
// fault_server_state.h.
//
// One thread runs an epoll loop over that socket, the attachment connections, the uffds
// and an eventfd for posted tasks; it never blocks on anything but epoll, and a fault never
// waits behind name service or file I/O (only memfd reads and writes). Its state is
// guarded by one mutex, which that thread holds except while it waits in epoll: the io
// thread hands peer frames in through peer_frame(), which handles them at once under the
// mutex (no second thread wakes for a grant or a request), and everything else through the
// posting methods below. The fault server talks back only through SendFn: the frames a
// locked section makes wait in an outbox and are handed to SendFn after the state mutex
// is let go (so that the thread they wake, on this node, never waits for it), under a
// second mutex taken before the first is let go, so they leave in the order they were
// made. SendFn must not call back into the fault server.
//
// Every DSM frame between a holder and an owner travels on the holder's link to the owner
// (the frame's type says which way: DsmRoom), so that grants and recalls keep one order.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "dipcd/conn.h"
#include "dipcd/dsm/page_directory.h"
#include "proto/wire.h"

namespace dipc::daemon::dsm {

struct Options {
  std::string node_name;
  std::string run_dir;
  bool segment_mode = false;         // [dsm] mode = "segment" (for segments owned here)
  Duration quantum{};                // [dsm] quantum
  Duration fault_timeout{std::chrono::seconds(5)};  // a page not had by then raises SIGBUS
  // Runs a task on the io thread: the fault server's log lines are written there, so that
  // no fault waits behind a write to the log file. Empty: log in place (tests).
  std::function<void(std::function<void()>)> post_io;
  // Processes of this node attach whole segments: no userfaultfd; dipcd takes the access an
  // attachment needs to every page at shmat and holds it until shmdt ([dsm] attach =
  // "whole", and on a node without a usable userfaultfd such as qemu-user: docs/hetero.md).
  bool attach_whole = false;
};

class FaultServer {
 public:
  // Sends a DSM frame to node, on the one link with it.
  using SendFn = std::function<void(const std::string& node, OutFrame frame)>;
  FaultServer(Options opt, SendFn send);
  ~FaultServer();
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  // Checks the kernel offers what DSM needs; on failure err names the missing feature.
  static bool kernel_check(std::string& err);
  // What even a node without userfaultfd needs to own and serve segments: 4 KiB pages.
  static bool serve_check(std::string& err);
  // What to warn of when shmem transparent huge pages are on (memfds may hold 2 MiB
  // pages, which DSM cannot give away 4 KiB at a time), or "".
  static std::string huge_page_warning();
  static std::string huge_page_warning(const char* shmem_enabled);  // from that file's line
  // Opens the socket and starts the thread.
  bool start(std::string& err);
  void stop();

  // Any thread: these post to the fault server's thread.
  // A distributed segment is known on this node as local_id (owned here when owner is
  // this node, then owner_id == local_id). dipcd's own System V attachment of it is made
  // before this returns, on the calling thread (the io thread, where IPC_STAT is made).
  void segment_known(int32_t local_id, const std::string& owner, int32_t owner_id,
                     uint64_t size);
  // The System V object local_id was removed (IPC_RMID here, at the owner, or its owner is
  // dead). It stays usable for the processes that have it attached; once none has (and,
  // for a segment owned here, no process of any node), dipcd lets go of it. Done on the
  // calling thread under the state lock, so that a segment nothing had attached is gone
  // from the kernel when this returns. Not on the fault server's thread.
  void segment_removed(int32_t local_id);
  // A DSM frame (is_dsm_frame_type) from node; on_our_link: it came on our link to node.
  void peer_frame(const std::string& node, bool on_our_link, proto::FrameType type,
                  uint64_t reqid, std::vector<uint8_t> payload);
  void node_dead(const std::string& node);
  // Counters since start (any thread may read them): faults taken for this node's
  // processes; requests sent to owners (kDsmAcquire) and the answers that came back
  // (grants, with or without their pages, data and failures), recalls received; DSM frames
  // of any kind and the pages they carried. On a node that only holds, the messages of a
  // remote fault are (requests + answers) / faults.
  struct Counters {
    std::atomic<uint64_t> read_faults{0}, write_faults{0};
    std::atomic<uint64_t> requests{0}, answers{0}, recalls{0};
    std::atomic<uint64_t> frames_out{0}, frames_in{0};
    std::atomic<uint64_t> pages_out{0}, pages_in{0};
  };
  const Counters& counters() const { return counters_; }

  // Attachments through the shim of segment local_id: on every node when it is owned here,
  // on this node otherwise, and the wall-clock times of the last attach and detach among
  // them (for IPC_STAT's shm_nattch, shm_atime, shm_dtime). The counts of other nodes are
  // taken from their kDsmJoin notices on the io thread as the frames arrive, so that an
  // IPC_STAT that follows a notice on the same link sees it. False when local_id is not a
  // distributed segment of the running fault server. Any thread: counters under a lock.
  struct Attached {
    int nattch = 0;
    int64_t atime = 0, dtime = 0;
  };
  static bool attached(int32_t local_id, Attached& out);
  // Handles, on the calling thread under the state lock, what is ready now: the exit
  // of a process that held attachments (a forked child's, say) is then counted and told
  // to owners, before an IPC_STAT made after its parent's waitpid leaves this node. Not on
  // the fault server's thread.
  void sync();

 private:
  struct Process;
  struct Session;
  struct Segment;
  struct Waiter;
  struct Pending;

  void post(std::function<void()> task);
  void dispatch(const epoll_event* evs, int n);
  // A log line from the fault server's thread, formatted only when its level is on and
  // written by the io thread.
  template <typename... Args>
  void log_(spdlog::level::level_enum level, fmt::format_string<Args...> f, Args&&... args) {
    if (!spdlog::should_log(level)) return;
    std::string line = fmt::format(f, std::forward<Args>(args)...);
    if (!opt_.post_io) return spdlog::log(level, line);
    opt_.post_io([level, line = std::move(line)] { spdlog::log(level, line); });
  }
  // A frame from node refused (what: why). Logged at most once a second per node, with
  // how many more were refused meanwhile: a peer cannot fill the log. Under the state lock.
  void refused(const std::string& node, const char* what);
  struct Refusals {
    Time last{};
    uint64_t since = 0;  // refused since the last line
  };
  std::map<std::string, Refusals> refusals_;  // by node name; at most kMaxRefusalNodes
  static constexpr size_t kMaxRefusalNodes = 256;
  void run();
  void drain_tasks();
  void on_accept();
  void on_session(Session* s);
  // answer: the process asked (kDetach), and hears once the detach is counted.
  void close_session(Session* s, bool answer = false);
  void on_uffd(Process* p);
  void fault(Process* p, uint64_t addr, uint64_t flags);
  void resolve(const Waiter& w, Access a);
  void poison(const Waiter& w, Segment& s, uint64_t page);
  void request(Segment& s, uint64_t page, Access need, Waiter w);
  void acquire(Segment& s, uint64_t page, Access need, const Waiter* w, uint64_t n);
  void read_ahead(Segment& s);
  // filled: the grant's pages were all just written into the memfd (no hole to fill).
  void holder_grant(Segment& s, uint64_t first, uint64_t n, Access a, bool filled = false);
  void holder_fail(Segment& s, uint64_t first, uint64_t n);
  // Pages [first, first+n) of the grant answering reqid, written into the memfd ahead of
  // the grant itself.
  void holder_early(Segment& s, uint64_t first, uint64_t n, uint64_t reqid);
  void holder_recall(Segment& s, uint64_t first, uint64_t n, RecallMode mode, bool with_data);
  void protect_all(Segment& s, uint64_t first, uint64_t n);
  void drop_copy(Segment& s, uint64_t first, uint64_t n);
  void run_actions(Segment& s, std::vector<Action>& acts);
  void on_frame(const std::string& node, bool on_our_link, proto::FrameType type, uint64_t reqid,
                const std::vector<uint8_t>& payload);
  void on_holder_frame(const std::string& node, proto::FrameType type, uint64_t reqid,
                       const std::vector<uint8_t>& payload);  // from an owner: holder_side.cc
  void on_owner_frame(const std::string& node, proto::FrameType type, uint64_t reqid,
                      const std::vector<uint8_t>& payload);   // from a holder: manager.cc
  void on_node_dead(const std::string& node);
  void expire(Time now);
  // Tells the owner this node's count of attachments after a change (how: kDsmJoin*).
  void send_join(Segment& s, int32_t pid, uint8_t how);
  void unmap_piece(Session* s, uint64_t lo, uint64_t len);  // kUnmap (local_attach.cc)
  void forget_waiters(Session* s, uint64_t lo, uint64_t hi);
  // Whole attachments (Options::attach_whole; local_attach.cc): start holding every page
  // of the session's segment; go on once grants came (answering the sessions whose pages
  // are all held); give up on the waiting ones (err for the process); let go of one.
  void pin_start(Session* s);
  void pin_progress(Segment& s);
  void pin_fail(Segment& s, int err);
  void unpin(Session* s);
  void pin_ready(Session* s);
  void register_whole(Session* s);  // counted as attached (kRegister, or a ready kInherit)
  // A recall of pages [first, first+n): carried out now (true), or held back while a
  // whole attachment here needs them (false; replayed by unpin).
  bool holder_recall_or_defer(Segment& s, uint64_t first, uint64_t n, RecallMode mode,
                              bool with_data);
  void maybe_destroy(Segment& s);
  void forget_segment(int32_t local_id);
  std::shared_ptr<Segment> ref(Segment& s);
  // Pages as data frames: kDsmData from the owner, kDsmDataToOwner given back to it. The
  // pages are read now (copied into the frames), or, by_file, sent from the memfd when the
  // link takes them (Conn's file part, no copy in dipcd): only for pages that cannot
  // change before the holder has read them (see grant_frames).
  // reqid: the request a grant's data answers (0 for data given back).
  std::vector<OutFrame> data_frames(Segment& s, uint64_t first, uint64_t n,
                                    proto::FrameType type, bool by_file = false,
                                    uint64_t reqid = 0);
  // A grant of pages [first, first+n) to a holder, with their data if asked: one
  // kDsmGrantData when they fit one chunk, else kDsmData chunks and then the kDsmGrant.
  std::vector<OutFrame> grant_frames(Segment& s, uint64_t first, uint64_t n, Access a,
                                     uint64_t reqid, bool with_data);
  template <typename Fill>
  OutFrame page_frame(Segment& s, proto::FrameType type, uint64_t reqid, size_t fixed, Fill fill,
                      uint64_t first, uint64_t n, const std::shared_ptr<FileSource>& src);
  NodeId node_id(const std::string& name);
  Time next_deadline() const;

  Options opt_;
  Counters counters_;
  SendFn send_;      // into the outbox (under state_mu_)
  SendFn send_out_;  // counts, then sends (under send_mu_, after state_mu_ was let go)
  // Lets go of lk (on state_mu_) and hands the outbox's frames to send_out_, in order.
  void flush(std::unique_lock<std::mutex>& lk);
  std::mutex send_mu_;  // taken while holding state_mu_, never the other way round
  std::vector<std::pair<std::string, OutFrame>> outbox_;  // under state_mu_;
                                                                      // one locked section's
  int epoll_ = -1, event_ = -1, listen_ = -1, devfd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex state_mu_;  // everything below but tasks_ (see the header)
  Time sleeping_until_ = Time::max();  // the deadline the thread waits in epoll for
  // The earliest deadline made since it was last reset (a request's time-out, a recall
  // held back for the quantum, a whole attach's wait): peer_frame() compares it with
  // sleeping_until_ instead of looking at every segment.
  Time noted_ = Time::max();
  void note_deadline(Time t) { noted_ = std::min(noted_, t); }
  std::mutex tasks_mu_;
  std::vector<std::function<void()>> tasks_;  // bounded by the io thread's own input

  std::map<int32_t, std::shared_ptr<Segment>> local_;                  // by local id
  std::map<std::pair<std::string, int32_t>, std::shared_ptr<Segment>> remote_;  // by owner
  std::map<int, std::unique_ptr<Session>> sessions_;                   // by descriptor
  std::map<pid_t, std::shared_ptr<Process>> procs_;                    // current uffd per pid
  std::map<int, std::shared_ptr<Process>> uffds_;                      // by uffd descriptor
  std::unordered_map<uint64_t, std::pair<std::weak_ptr<Segment>, uint64_t>> by_reqid_;
  std::map<std::string, NodeId> node_ids_;
  uint64_t next_reqid_ = 1;
  // Counts this node's attachments of s (one per mapped piece) for IPC_STAT; reshaped: a
  // piece was cut from one (both times are set, as Linux's split and unmap set them).
  void count_attachments(Segment& s, bool reshaped = false);
  static int local_nattch(const Segment& s);
  // Under nattch_mu_: local id -> this node's attachments, other nodes' (by name), times.
  struct Counts {
    bool owned = false;  // only an owner takes other nodes' counts
    int local = 0;
    std::map<std::string, uint32_t> remote;
    int64_t atime = 0, dtime = 0;
    int total() const;
  };
  // Changes the counts of local_id (if known; with owned_only, if owned here) with
  // change(Counts&), noting the time of an attach or detach (both for a reshape). Any thread.
  template <typename Change>
  static void recount(int32_t local_id, Change change, bool reshaped = false,
                      bool owned_only = false);
  static std::mutex nattch_mu_;
  static std::map<int32_t, Counts> nattch_;
};

}  // namespace dipc::daemon::dsm
