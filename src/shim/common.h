// Helpers shared by the interposed calls: building a request, finishing a call.
#pragma once

#include <errno.h>
#include <sys/ipc.h>

#include "shim/client.h"
#include "shim/real.h"

#ifndef IPC_DIPC
#define IPC_DIPC 00010000
#endif

namespace dipc::shim {

#define DIPC_EXPORT extern "C" __attribute__((visibility("default")))

inline proto::OpRequest make_request(proto::Kind kind, proto::Op op, int id) {
  proto::OpRequest r;
  r.kind = kind;
  r.op = op;
  r.id = id;
  return r;
}

// The result of a remote call as the caller sees it: ret, or -1 with errno set.
inline long finish(int rc, const Reply& rep) {
  if (rc < 0) return -1;  // errno set by call()
  if (rep.ret < 0) {
    errno = rep.err;
    return -1;
  }
  return long(rep.ret);
}

// ipc_perm <-> the wire's IpcStat: what IPC_SET sends, what IPC_STAT fills in.
inline void perm_to_stat(const ipc_perm& p, proto::IpcStat& s) {
  s.uid = p.uid;
  s.gid = p.gid;
  s.mode = p.mode;
}
inline void stat_to_perm(const proto::IpcStat& s, ipc_perm& p) {
  p.__key = s.key;
  p.uid = s.uid;
  p.gid = s.gid;
  p.cuid = s.cuid;
  p.cgid = s.cgid;
  p.mode = (unsigned short)s.mode;
}

// The IpcStat of an IPC_STAT answer; false (errno ECOMM) when dipcd sent something else.
inline bool decode_reply_stat(const uint8_t* p, size_t n, proto::IpcStat& s) {
  proto::Reader rd(p, n);
  if (s.decode(rd) && rd.at_end()) return true;
  errno = ECOMM;
  return false;
}

// *get with IPC_DIPC: asks dipcd; without a reachable dipcd, returns -2 so the caller
// falls back to the plain local call (a DIPC program runs unchanged on one machine).
inline int distributed_get(proto::Kind kind, key_t key, int flags, int64_t arg) {
  ensure_table();
  proto::OpRequest req = make_request(kind, proto::Op::kGet, 0);
  req.key = key;
  req.flags = flags & ~IPC_DIPC;
  req.arg1 = arg;
  Reply rep;
  int saved = errno;
  int rc = call(req, &rep, nullptr, 0, CallMode::kPlain);
  if (rc < 0 && errno == ENOLINK) {
    errno = saved;
    return -2;
  }
  return int(finish(rc, rep));
}

}  // namespace dipc::shim
