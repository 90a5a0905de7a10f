// The listing's records: what dipcd sends the dipc tool for `dipc ls`, a page at a time
// (kAdminRows frames, then a final kAdminReply), so the listing has no size limit and the
// tool formats it (table, raw, JSON). Big-endian fields with caps, as in wire.h; the
// encoding is pinned in tests/unit/wire_test.cc and fuzzed in tests/fuzz/wire_fuzz.cc.
// Not part of the shim (AdminRows allocates). Any thread; no shared state.
#pragma once

#include <vector>

#include "proto/wire.h"

namespace dipc::proto {

// One object of the cluster as dipc ls shows it (a kAdminRows page carries a u32 count, at
// most kMaxRowsPerPage, and that many rows). The first fields are the referee's record;
// stat_err says whether the content fields are known: 0 when the owner answered, else the
// errno of the IPC_STAT that failed (the caller may not read it, the owner is unreachable).
//   u8 kind, i32 key, i32 id, str owner (a node name), u32 mode, u32 uid, u32 gid,
//   u64 size (qbytes / nsems / bytes), str holders (node names, comma separated),
//   i32 stat_err, u64 qnum (messages), u64 cbytes (bytes used), u64 nattch,
//   i32 lspid, i32 lrpid, i64 ctime
struct ObjectRow {
  Kind kind{};
  int32_t key = 0;
  int32_t id = 0;
  std::string_view owner;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0;
  std::string_view holders;
  int32_t stat_err = 0;
  uint64_t qnum = 0, cbytes = 0, nattch = 0;
  int32_t lspid = 0, lrpid = 0;
  int64_t ctime = 0;
  void encode(Writer& w) const;
  bool decode(Reader& r);  // one row: does not require the reader to end after it
};
// A u32 count (at most kMax) and that many rows; nothing may follow them.
template <class Row, uint32_t kMax>
struct RowList {
  std::vector<Row> rows;  // views into the decoded buffer
  void encode(Writer& w) const {
    w.u32(uint32_t(rows.size()));
    for (auto& row : rows) row.encode(w);
  }
  bool decode(Reader& r) {
    uint32_t n = r.u32();
    if (!r.ok() || n > kMax) return false;
    rows.clear();
    rows.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      Row row;
      if (!row.decode(r)) return false;
      rows.push_back(row);
    }
    return r.done();
  }
};
using AdminRows = RowList<ObjectRow, kMaxRowsPerPage>;

// The cluster as its referee sees it, for `dipc status --cluster` (a kRegMembersReply
// carries a u32 count, at most kMaxMembers, and that many rows):
//   str name, str address, u16 port, u8 state (MemberState), i64 since (Unix seconds: when
//   it joined, or was declared dead), i64 heard_ms (ms since the referee last heard from it,
//   -1 for the referee itself and the dead), i64 rtt_us (the referee's link, -1 unknown),
//   str why (why it was declared dead, else empty; at most kMaxName bytes)
inline constexpr uint32_t kMaxMembers = 1024;
enum class MemberState : uint8_t { kReferee = 1, kMember = 2, kDead = 3 };
struct MemberRow {
  std::string_view name;
  std::string_view address;
  uint16_t port = 0;
  MemberState state{};
  int64_t since = 0;
  int64_t heard_ms = -1;
  int64_t rtt_us = -1;
  std::string_view why;
  void encode(Writer& w) const;
  bool decode(Reader& r);  // one row: does not require the reader to end after it
};
using MemberRows = RowList<MemberRow, kMaxMembers>;

}  // namespace dipc::proto
