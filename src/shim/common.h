// Helpers shared by the interposed calls: building a request, finishing a call.
#pragma once

#include <errno.h>
#include <sys/ipc.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/client.h"
#include "shim/keys.h"
#include "shim/real.h"

namespace dipc::shim {

#define DIPC_EXPORT extern "C" __attribute__((visibility("default")))

inline proto::OpRequest make_request(proto::Kind kind, proto::Op op, int id) {
  proto::OpRequest r;
  r.kind = kind;
  r.op = op;
  r.id = id;
  // r.pid, the calling thread, is filled in as the request leaves (client.cc: exchange).
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

// IPC_STAT, IPC_SET or IPC_RMID (cmd) of distributed object id through dipcd, with op its
// kind's control call. IPC_SET sends *set; IPC_STAT's answer goes to *got. Returns the
// call's result (-1 with errno), or -2 when no dipcd answered about an object this node
// owns (flags from id_flags): the kernel object is all there is, the caller calls it
// (in strict mode: -1 with ENOLINK).
inline long ctl_call(proto::Kind kind, proto::Op op, int id, int cmd, const proto::IpcStat* set,
                     proto::IpcStat* got, uint32_t flags) {
  proto::OpRequest req = make_request(kind, op, id);
  req.arg1 = cmd;
  uint8_t st[proto::IpcStat::kSize];
  if (set) {
    proto::Writer w(st, sizeof st);
    set->encode(w);
    req.data = std::string_view(reinterpret_cast<char*>(st), w.size());
  }
  Reply rep;
  uint8_t out[proto::IpcStat::kSize];
  int rc = call(req, &rep, out, sizeof out, CallMode::kPlain);
  if (rc < 0 && errno == ENOLINK && (flags & idtable::kFlagOwnedHere) && !strict_mode()) return -2;
  long r = finish(rc, rep);
  if (r >= 0 && cmd == IPC_STAT) {
    proto::Reader rd(out, rep.data_len);
    if (!got->decode(rd) || !rd.at_end()) {
      errno = ECOMM;
      return -1;
    }
  }
  return r;
}

// The IpcStat of an IPC_STAT answer; false (errno ECOMM) when dipcd sent something else.
inline bool decode_reply_stat(const uint8_t* p, size_t n, proto::IpcStat& s) {
  proto::Reader rd(p, n);
  if (s.decode(rd) && rd.at_end()) return true;
  errno = ECOMM;
  return false;
}

// A distributed *get (IPC_DIPC, or a key the rules name: keys.h): asks dipcd; without a
// reachable dipcd, returns -2 so the caller falls back to the plain local call (a DIPC
// program runs unchanged on one machine), or in strict mode fails with ENOLINK.
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
    if (strict_mode()) return -1;  // errno ENOLINK: nothing was sent
    errno = saved;
    return -2;
  }
  return int(finish(rc, rep));
}

}  // namespace dipc::shim
