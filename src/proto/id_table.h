// The distributed-id table: how a process tells, without a system call, whether an IPC id
// is distributed and whether its owner is this node.
//
// dipcd creates the file RUN_DIR/ids and is its only writer; every process with the shim
// maps it read-only (MAP_SHARED) and reads single 64-bit words, so a reader never sees a
// torn entry. Linux ids are index + seq * 32768 with the index below 32768 (IPCMNI); the
// slot of an id is its index, and the entry holds the whole id, so a stale or foreign id
// never matches. An entry is ((uint64_t)(uint32_t)id << 32) | flags; 0 means empty.
// Entries are in host byte order: the table never leaves its node.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "proto/wire.h"

namespace dipc::idtable {

inline constexpr uint64_t kMagic = 0x4449504349445431ull;  // "DIPCIDT1"
inline constexpr uint32_t kSlots = 32768;                   // per kind
inline constexpr uint32_t kFlagDistributed = 1;
inline constexpr uint32_t kFlagOwnedHere = 2;

struct Header {
  uint64_t magic;
  uint32_t slots;
  uint32_t reserved[13];
};
static_assert(sizeof(Header) == 64);

inline constexpr size_t kFileSize = sizeof(Header) + 3 * size_t(kSlots) * sizeof(uint64_t);
inline constexpr const char* kFileName = "ids";

inline size_t slot_index(proto::Kind kind, int32_t id) {
  return (size_t(uint8_t(kind)) - 1) * kSlots + (uint32_t(id) % kSlots);
}
inline uint64_t make_entry(int32_t id, uint32_t flags) {
  return (uint64_t(uint32_t(id)) << 32) | flags;
}
// Returns the flags of id, or 0 when it is not distributed.
inline uint32_t lookup(const std::atomic<uint64_t>* slots, proto::Kind kind, int32_t id) {
  if (id < 0) return 0;
  uint64_t e = slots[slot_index(kind, id)].load(std::memory_order_acquire);
  if (e == 0 || uint32_t(e >> 32) != uint32_t(id)) return 0;
  return uint32_t(e);
}

}  // namespace dipc::idtable
