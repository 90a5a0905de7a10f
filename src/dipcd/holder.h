// Holder: calls from this node's processes, routed to where their object lives, and the
// *get protocol.
//
// A local kOp names an id: a placeholder's call is forwarded to the owner (RemoteCalls), an
// owned object's call runs here (OwnerSide), anything else is no longer distributed
// (EINVAL). A *get with IPC_DIPC asks the referee: a free key (locked for this node) is
// created here and committed; a key that exists elsewhere is checked at its owner as the
// caller and gets a placeholder (ObjectTable). The holder side of SEM_UNDO lives here too:
// a local process with adjustments at an owner is watched (pidfd), and its exit is told to
// those owners (kProcExit). Placeholders go when the referee says their object is gone
// (kRegRemoved) or their owner is declared dead.
// Thread safety: io thread only.
#pragma once

#include <asio.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/config.h"
#include "dipcd/conn.h"
#include "dipcd/ipc_ops.h"
#include "dipcd/thread_check.h"

namespace dipc::daemon {

class PeerLinks;
class ObjectTable;
class IdentityCache;
class OwnerSide;
class RemoteCalls;
class RefereeClient;
class LocalServer;
struct LocalClient;

class Holder {
 public:
  Holder(asio::io_context& io, const Config& cfg, LocalServer& local, PeerLinks& links,
         ObjectTable& table, IdentityCache& identities, OwnerSide& owner, RemoteCalls& remote);
  void set_referee(RefereeClient* r) { referee_ = r; }
  // Set by the daemon root: whether distributed segments can be made here (DSM running),
  // and the event that a distributed object became known on this node (created here, or a
  // placeholder made for another node's object; owner_id is then the owner's id).
  std::function<bool()> shm_available;
  // Set by the daemon root: waits until the fault server has handled what is ready, so that
  // an IPC_STAT counts the attachments of processes that have just exited.
  std::function<void()> shm_sync;
  std::function<void(proto::Kind, int32_t local_id, const std::string& owner, int32_t owner_id,
                     uint64_t size)>
      on_known;
  void node_dead(const std::string& name);
  // The referee says owner's object id (kind, key) is gone: its placeholder goes (not a
  // placeholder of another object with that key).
  void object_gone(proto::Kind kind, int32_t key, const std::string& owner, int32_t id);

 private:
  using OpDone = std::function<void(OpResult)>;
  // A local request, from its credentials (read now) to local_op or local_get; need_groups:
  // read the thread's groups even for a call that is forwarded.
  void take_op(const std::shared_ptr<LocalClient>& c, uint64_t reqid, OwnedOp op, pid_t tid,
               bool need_groups);
  void local_op(const std::shared_ptr<LocalClient>& c, uint64_t reqid, OwnedOp op,
                const Identity& who);
  void local_get(const std::shared_ptr<LocalClient>& c, uint64_t reqid, OwnedOp op,
                 const Identity& who);
  void reply(const std::shared_ptr<LocalClient>& c, uint64_t reqid, const OpResult& r);
  void take_shm_set(int32_t local_id, const std::string& data);
  void watch_process(int32_t pid, const std::string& owner);
  void process_exited(int32_t pid);

  asio::io_context& io_;
  const Config& cfg_;
  PeerLinks& links_;
  ObjectTable& table_;
  IdentityCache& identities_;
  OwnerSide& owner_;
  RemoteCalls& remote_;
  RefereeClient* referee_ = nullptr;
  ThreadCheck thread_;
  struct ProcWatch {
    std::unique_ptr<asio::posix::stream_descriptor> fd;  // a pidfd
    std::set<std::string> owners;
  };
  std::map<int32_t, ProcWatch> watches_;
};

}  // namespace dipc::daemon
