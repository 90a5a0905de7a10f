// The System V calls dipcd makes on real kernel objects, and the mapping between a wire
// OpRequest and those calls.
//
// dipcd uses raw system calls, never the libc wrappers: with the shim preloaded machine-wide
// (/etc/ld.so.preload) the wrappers would send dipcd's own calls back to dipcd.
// run_op() is called on an executor worker that has already taken the caller's identity.
// A msgrcv waits with a buffer of kFirstReceive bytes, not msgsz: a message longer than
// that is taken with a second call (ipc_ops.cc), so blocked receives hold little memory.
#pragma once

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "dipcd/bytes.h"
#include "dipcd/executor.h"
#include "proto/wire.h"

namespace dipc::daemon {

// The receive buffer a msgrcv waits with (a longer message takes a second call).
inline constexpr size_t kFirstReceive = 16 * 1024;

namespace sysv {
inline int msgget(key_t k, int f) { return int(syscall(SYS_msgget, k, f)); }
inline int msgctl(int id, int cmd, msqid_ds* b) { return int(syscall(SYS_msgctl, id, cmd, b)); }
inline int semget(key_t k, int n, int f) { return int(syscall(SYS_semget, k, n, f)); }
inline int semctl(int id, int num, int cmd, void* arg) {
  return int(syscall(SYS_semctl, id, num, cmd, arg));
}
inline int shmget(key_t k, size_t s, int f) { return int(syscall(SYS_shmget, k, s, f)); }
inline int shmctl(int id, int cmd, shmid_ds* b) { return int(syscall(SYS_shmctl, id, cmd, b)); }
}  // namespace sysv

// An OpRequest that owns its strings, so it can cross to a worker thread.
struct OwnedOp {
  proto::Kind kind{};
  proto::Op op{};
  int32_t id = 0, key = 0, flags = 0;
  int64_t arg1 = 0, arg2 = 0, arg3 = 0;
  std::string user;
  int32_t pid = 0;
  Bytes data;  // what travels: message text, sembufs as on the wire, an encoded IpcStat
  // kSemOp: the sembufs decoded once, when they are well formed (nsops = arg1, at most
  // proto::kMaxSops, six bytes each), else empty. The owner runs these, not data.
  std::vector<sembuf> sops;

  // From a decoded request and the payload it was decoded from (req's views point into
  // it): the data stays in that buffer, uncopied.
  static OwnedOp from(const proto::OpRequest& req, std::vector<uint8_t>&& payload);
  proto::OpRequest view() const;
};

// sembufs as they travel (u16 num, i16 op, i16 flg each), and back.
std::vector<sembuf> decode_sops(std::string_view data);
std::string encode_sops(const std::vector<sembuf>& sops);
bool has_undo(const std::vector<sembuf>& sops);

// The control call of a kind (msgctl, semctl, shmctl), and whether op removes an object.
inline proto::Op ctl_op(proto::Kind kind) {
  return kind == proto::Kind::kMsg   ? proto::Op::kMsgCtl
         : kind == proto::Kind::kSem ? proto::Op::kSemCtl
                                     : proto::Op::kShmCtl;
}
inline bool is_rmid(const OwnedOp& op) { return op.op == ctl_op(op.kind) && op.arg1 == IPC_RMID; }

// Performs op on the real object (op.id is this node's id) as the current thread's identity.
// With nowait, a call that may block (msgsnd, msgrcv, semop) is made with IPC_NOWAIT (on
// every sembuf), to try it on the io thread first; would_block(op, result) then says the
// real call must wait on a worker.
OpResult run_op(const OwnedOp& op, bool nowait = false);
bool may_block(const OwnedOp& op);
bool would_block(const OwnedOp& original, const OpResult& r);

// Reads mode, uid, gid and size (nsems, bytes) of a local object; false if it is gone.
struct ObjectInfo {
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0;
  int32_t key = 0;
};
bool stat_object(proto::Kind kind, int id, ObjectInfo& out);
// Removes a local object (as root).
int remove_object(proto::Kind kind, int id);
// Creates this node's placeholder of a remote object: same key, mode and owner.
// Returns the local id, or -1 with errno.
int create_placeholder(proto::Kind kind, int32_t key, const ObjectInfo& info);

}  // namespace dipc::daemon
