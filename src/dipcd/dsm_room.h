// DsmRoom: distributed shared memory's place in the daemon.
//
// The DSM itself (src/dipcd/dsm/) runs on the fault server's own thread; this room starts
// it (after checking the kernel offers what it needs), carries its frames over the peer
// links and tells it what the other rooms learn: a distributed segment became known here
// (created, or a placeholder made), one was removed, a node died.
//
// Frames: both directions between two nodes share their one link, and each node may own
// segments the other holds, so a frame's direction (owner to holder, or holder to owner)
// comes from its type: kDsmGrant, kDsmGrantData, kDsmFail, kDsmRecall and kDsmData go from
// an owner to a holder; kDsmAcquire, kDsmRecallAck, kDsmJoin, kDsmGone and kDsmDataToOwner (a page
// given back) from a holder to its owner.
// Sending: the fault server hands frames from its thread, or from the io thread when the
// io thread runs its work (a peer frame, a sync before IPC_STAT). Once a peer's link is
// known and nothing is waiting for it, the frame is written by the calling thread itself
// (Conn::send_now), so a fault does not wait for the io thread. Otherwise (first frame to
// a node, a new link, an injected fault on it) the frame waits in the route's queue, in
// order: the io thread sends the queue when it gets to it, and a frame handed on the io
// thread is sent at once behind what waits, so that what the io thread sends next on the
// link (a forwarded IPC_STAT after the sync that made a detach notice) cannot overtake
// it. A queue holds at most Conn::kMaxQueuedFrames frames; past that the link is dropped
// (as Conn does when its own frames are not read) and the frames go with it.
// Thread safety: io thread, except send() (any thread).
#pragma once

#include <asio.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/config.h"
#include "dipcd/conn.h"
#include "proto/wire.h"

namespace dipc::daemon {

class PeerLinks;
struct Link;
class Conn;
namespace dsm {
class FaultServer;
}

class DsmRoom {
 public:
  DsmRoom(asio::io_context& io, const Config& cfg, PeerLinks& links);
  ~DsmRoom();
  // Starts the fault server; false (and a log line naming what is missing) when the kernel
  // cannot do DSM: shmget with IPC_DIPC then fails with ENOSYS.
  bool start();
  bool available() const { return fs_ != nullptr; }
  // The fault server's counters since start (all zero without DSM), for the metrics
  // endpoint: page faults served, 4 KiB pages sent to and received from other nodes.
  struct Counters {
    uint64_t faults = 0, pages_sent = 0, pages_received = 0;
  };
  Counters counters() const;
  void stop();
  void segment_known(int32_t local_id, const std::string& owner, int32_t owner_id, uint64_t size);
  void segment_removed(int32_t local_id);
  // Waits (bounded) until the fault server has handled what is ready (FaultServer::sync),
  // then sends every DSM frame handed so far: on the io thread, before a call that must
  // come after them on the link (IPC_STAT).
  void sync();
  void node_dead(const std::string& node);
  // One line for `dipc status`: the mode and quantum, and the fault server's counters.
  std::string status_line() const;

 private:
  void send(const std::string& node, OutFrame frame);

  asio::io_context& io_;
  const Config& cfg_;
  PeerLinks& links_;
  std::unique_ptr<dsm::FaultServer> fs_;
  std::string unavailable_;  // why start() failed
  bool attach_whole_ = false;  // processes here attach whole segments ([dsm] attach)
  struct Route {
    std::weak_ptr<Link> link;
    std::weak_ptr<Conn> conn;
    std::deque<OutFrame> waiting;  // for the io thread to send, in order
    bool drain_posted = false;     // a send_waiting is posted to the io thread
    bool refusing = false;         // the queue overflowed: dropped until the node is gone
  };
  // On the io thread with mu_ held: sends r's waiting frames on node's link, in order.
  void send_waiting(const std::string& node, Route& r);
  std::mutex mu_;  // guards routes_ (the fault server's thread and the io thread)
  std::map<std::string, Route> routes_;
};

}  // namespace dipc::daemon
