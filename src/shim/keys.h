// Which keys a *get distributes: the IPC_DIPC flag, the command's key rules (DIPC_KEYS and
// DIPC_ALL_KEYED, set by `dipc run --keys/--all-keyed` or any launcher), or the node's
// ([distribute] in dipc.conf, read from dipcd's id table). The three are merged: a key is
// distributed when any of them says so (docs/config.md).
//
// DIPC_STRICT (strict_mode) is read there too.
// The command's rules are parsed once, in a constructor, into a fixed array; answering is a
// scan of at most keys::kMaxRanges ranges and a few loads from the mapped table: no system
// call, no allocation, no lock, safe from any thread or signal handler.
#pragma once

#include <sys/ipc.h>

#include <cstdint>

#include "shim/client.h"

#ifndef IPC_DIPC
#define IPC_DIPC 00010000
#endif

namespace dipc::shim {

// True when DIPC_KEYS or DIPC_ALL_KEYED names key.
bool env_distributes(uint32_t key);

// True when DIPC_STRICT=1: a distributed call that finds no dipcd fails with ENOLINK
// instead of falling back to the plain local call (read once at load, like the keys).
bool strict_mode();

// True when a *get of key with flags must be distributed.
inline bool wants_dipc(key_t key, int flags) {
  if (key == IPC_PRIVATE) return false;
  return (flags & IPC_DIPC) || env_distributes(uint32_t(key)) || node_distributes(uint32_t(key));
}

}  // namespace dipc::shim
