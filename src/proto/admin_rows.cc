#include "proto/admin_rows.h"

#include "proto/errno_wire.h"

namespace dipc::proto {

void ObjectRow::encode(Writer& w) const {
  w.u8(uint8_t(kind));
  w.i32(key);
  w.i32(id);
  w.str(owner);
  w.u32(mode);
  w.u32(uid);
  w.u32(gid);
  w.u64(size);
  w.str(holders);
  w.i32(errno_to_wire(stat_err));
  w.u64(qnum);
  w.u64(cbytes);
  w.u64(nattch);
  w.i32(lspid);
  w.i32(lrpid);
  w.i64(ctime);
}

bool ObjectRow::decode(Reader& r) {
  uint8_t k = r.u8();
  key = r.i32();
  id = r.i32();
  owner = r.bytes(kMaxNodeName);
  mode = r.u32();
  uid = r.u32();
  gid = r.u32();
  size = r.u64();
  holders = r.bytes(kMaxText);
  stat_err = errno_from_wire(r.i32());
  qnum = r.u64();
  cbytes = r.u64();
  nattch = r.u64();
  lspid = r.i32();
  lrpid = r.i32();
  ctime = r.i64();
  if (!r.ok() || !is_valid_kind(k) || !is_valid_node_name(owner) || !is_valid_node_list(holders) ||
      stat_err < 0)
    return false;
  kind = Kind(k);
  return true;
}

void MemberRow::encode(Writer& w) const {
  w.str(name);
  w.str(address);
  w.u16(port);
  w.u8(uint8_t(state));
  w.i64(since);
  w.i64(heard_ms);
  w.i64(rtt_us);
  w.str(why);
}

bool MemberRow::decode(Reader& r) {
  name = r.bytes(kMaxNodeName);
  address = r.bytes(kMaxName);
  port = r.u16();
  uint8_t st = r.u8();
  since = r.i64();
  heard_ms = r.i64();
  rtt_us = r.i64();
  why = r.bytes(kMaxName);
  if (!r.ok() || !is_valid_node_name(name) || !is_valid_address(address) || st < 1 || st > 3 ||
      heard_ms < -1 || rtt_us < -1)
    return false;
  for (char c : why)  // shown on a terminal: printable ASCII only
    if (c < 0x20 || c > 0x7e) return false;
  state = MemberState(st);
  return true;
}

}  // namespace dipc::proto
