// The distributed-id table: how a process tells, without a system call, whether an IPC id
// is distributed and whether its owner is this node.
//
// dipcd creates the file RUN_DIR/ids and is its only writer; every process with the shim
// maps it read-only (MAP_SHARED) and reads single 64-bit words, so a reader never sees a
// torn entry. Linux ids are index + seq * 32768 with the index below 32768 (IPCMNI); the
// slot of an id is its index, and the entry holds the whole id, so a stale or foreign id
// never matches. An entry is ((uint64_t)(uint32_t)id << 32) | flags; 0 means empty.
// Entries are in host byte order: the table never leaves its node.
//
// After the slots comes the node's key rules ([distribute] in dipc.conf, proto/key_rules.h),
// so that a *get without IPC_DIPC learns with a few loads, and no system call, whether its
// key is distributed by configuration. The rules are words too, under a sequence counter
// (a seqlock: odd while dipcd rewrites them, bumped once more when done); a reader retries
// until it reads the same even counter before and after. Word 0 is the counter, word 1 the
// count of ranges (low 32 bits) and kRulesAllKeyed (high 32), words 2.. the ranges as
// (lo << 32) | hi.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "proto/key_rules.h"
#include "proto/wire.h"

namespace dipc::idtable {

// Version 2 added the key rules (the file grew by kRulesWords words); a version-1 shim
// refuses a version-2 table by its magic and the other way round.
inline constexpr uint64_t kMagic = 0x4449504349445432ull;  // "DIPCIDT2"
inline constexpr uint32_t kSlots = 32768;                   // per kind
inline constexpr uint32_t kFlagDistributed = 1;
inline constexpr uint32_t kFlagOwnedHere = 2;

struct Header {
  uint64_t magic;
  uint32_t slots;
  uint32_t reserved[13];
};
static_assert(sizeof(Header) == 64);

inline constexpr size_t kRulesOffset = sizeof(Header) + 3 * size_t(kSlots) * sizeof(uint64_t);
inline constexpr size_t kRulesWords = 2 + keys::kMaxRanges;
inline constexpr uint32_t kRulesAllKeyed = 1;
inline constexpr size_t kFileSize = kRulesOffset + kRulesWords * sizeof(uint64_t);
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

// Whether the published rules distribute key: 1 yes, 0 no, -1 unknown (the reader kept
// meeting a rewrite and gave up after a bounded number of tries). Lock free, no system
// call. dipcd rewrites the rules only while it does not serve (before it listens, and when
// it stops), when a distributed *get falls back to a local object anyway, so "unknown" is
// taken as "no".
inline int rules_lookup(const std::atomic<uint64_t>* w, uint32_t key) {
  if (key == 0) return 0;
  for (int attempt = 0; attempt < 100000; ++attempt) {
    // Past a short spin the writer was probably preempted mid-write: give it the CPU
    // (a system call only in that rare case; the common path makes none).
    if (attempt >= 1000) sched_yield();
    uint64_t seq = w[0].load(std::memory_order_acquire);
    if (seq & 1) continue;
    uint64_t meta = w[1].load(std::memory_order_relaxed);
    bool hit = (meta >> 32) & kRulesAllKeyed;
    size_t n = size_t(uint32_t(meta));
    if (n > keys::kMaxRanges) n = keys::kMaxRanges;
    for (size_t i = 0; i < n && !hit; ++i) {
      uint64_t r = w[2 + i].load(std::memory_order_relaxed);
      hit = key >= uint32_t(r >> 32) && key <= uint32_t(r);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (w[0].load(std::memory_order_relaxed) == seq) return hit ? 1 : 0;
  }
  return -1;
}
inline bool rules_match(const std::atomic<uint64_t>* w, uint32_t key) {
  return rules_lookup(w, key) == 1;
}

}  // namespace dipc::idtable
