// The shim's side of the conversation with its node's dipcd.
//
// Two things live here: the read-only mapping of dipcd's distributed-id table (is_remote,
// id_flags, node_distributes: a few loads, no system call) and the per-thread connection to dipcd's Unix
// socket over which a call on a remote object travels. Each thread has its own connection
// (a blocked msgrcv in one thread never holds up another); a forked child notices that the
// pid changed and opens its own. The connection's descriptor is close-on-exec, moved away
// from low numbers, and checked (fstat) before each use, so a program that closes or
// reuses descriptors cannot make the shim talk to the wrong file.
//
// Signals: blocking calls wait on a socket with SO_RCVTIMEO, which the kernel never
// restarts after a handler; when the wait is interrupted the shim sends kCancel and waits
// for the owner's last word, which is either EINTR or the completed result.
#pragma once

#include <cstddef>
#include <cstdint>

#include "proto/id_table.h"
#include "proto/wire.h"

namespace dipc::shim {

// Flags of id in the table (0: not distributed, or no table mapped).
uint32_t id_flags(proto::Kind kind, int id);
inline bool is_remote(proto::Kind kind, int id) {
  uint32_t f = id_flags(kind, id);
  return (f & idtable::kFlagDistributed) && !(f & idtable::kFlagOwnedHere);
}

// True when the node's key rules ([distribute], published in the id table) distribute key.
// Only reads the table mapped at start (or by ensure_table): no system call, ever, so a
// process started before any dipcd published its table learns the node's rules only once
// it makes a distributed call.
bool node_distributes(uint32_t key);

// Maps the id table if it is not mapped yet (called on every distributed *get).
void ensure_table();

struct Reply {
  int64_t ret = 0;
  int err = 0;
  int64_t aux = 0;
  size_t data_len = 0;  // bytes written to the caller's reply buffer
  bool fault = false;   // the caller's buffer (or aux.to) could not be written: EFAULT
};

// The caller's memory, read and written by the kernel on the shim's behalf
// (process_vm_readv/writev on this very process), so that a bad pointer from the program is
// an EFAULT, as from the kernel, and never a fault inside the shim. errno is kept.
bool user_read(void* dst, const void* src, size_t n);
bool user_write(void* dst, const void* src, size_t n);
bool user_readable(const void* p, size_t n);

// A limit of this node's kernel: field `field` (0-based) of /proc/sys/kernel/NAME, or
// fallback when it cannot be read. Plain system calls: safe in a signal handler.
long kernel_limit(const char* name, int field, long fallback);

enum class CallMode { kPlain, kInterruptible };

// Where a successful reply's aux goes (msgrcv's mtype), if wanted: written through
// user_write before any data, as the kernel writes the type first. `to` may be anything
// the caller passed, NULL included.
struct AuxOut {
  bool wanted = false;
  long* to = nullptr;
};

// Sends req (whose data, if any, is sent straight from req.data) and reads the reply, its
// data into out/out_cap. Returns 0 with *rep filled, or -1 with errno:
//   ENOLINK  no dipcd to talk to (nothing was sent);
//   ECOMM    the connection failed after the request was sent: outcome unknown.
// out may be the caller's own memory: a part that cannot be written sets rep->fault (the
// rest of the reply is read and dropped), as can aux.to.
int call(const proto::OpRequest& req, Reply* rep, void* out, size_t out_cap, CallMode mode,
         AuxOut aux = {});

}  // namespace dipc::shim
