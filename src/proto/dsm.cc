#include "proto/dsm.h"

#include "proto/errno_wire.h"

namespace dipc::proto {

namespace {
bool valid_access(uint8_t a) { return a == 1 || a == 2; }
}  // namespace

void DsmAcquire::encode(Writer& w) const {
  w.i32(seg);
  w.u64(page);
  w.u8(uint8_t(access));
  w.u32(npages);
}
bool DsmAcquire::decode(Reader& r) {
  seg = r.i32();
  page = r.u64();
  uint8_t a = r.u8();
  npages = r.u32();
  if (!r.done() || !valid_access(a) || page >= kDsmMaxPages || npages < 1 ||
      npages > kDsmMaxAhead || npages > kDsmMaxPages - page ||
      (a == uint8_t(DsmAccess::kWrite) && npages != 1))
    return false;
  access = DsmAccess(a);
  return true;
}

void DsmRange::encode(Writer& w) const {
  w.i32(seg);
  w.u64(first);
  w.u32(npages);
}
bool DsmRange::decode(Reader& r) { return decode_fields(r) && r.done(); }
bool DsmRange::decode_fields(Reader& r) {
  seg = r.i32();
  first = r.u64();
  npages = r.u32();
  return r.ok() && first < kDsmMaxPages && npages <= kDsmMaxPages - first;
}

void DsmGrant::encode(Writer& w) const {
  range.encode(w);
  w.u8(uint8_t(access));
}
bool DsmGrant::decode(Reader& r) {
  bool ok = range.decode_fields(r);
  uint8_t a = r.u8();
  if (!ok || !r.done() || !valid_access(a) || range.npages == 0) return false;
  access = DsmAccess(a);
  return true;
}

void DsmGrantData::encode(Writer& w) const {
  grant.range.encode(w);
  w.u8(uint8_t(grant.access));
  w.bytes(bytes.data(), uint32_t(bytes.size()));
}
bool DsmGrantData::decode(Reader& r) {
  bool ok = grant.range.decode_fields(r);
  uint8_t a = r.u8();
  bytes = r.bytes(kDsmMaxChunk);
  if (!ok || !r.done() || !valid_access(a) || grant.range.npages == 0 ||
      bytes.size() != uint64_t(grant.range.npages) * kDsmPage)
    return false;
  grant.access = DsmAccess(a);
  return true;
}

void DsmFail::encode(Writer& w) const {
  range.encode(w);
  w.i32(errno_to_wire(err));
}
bool DsmFail::decode(Reader& r) {
  bool ok = range.decode_fields(r);
  err = errno_from_wire(r.i32());
  return ok && r.done() && range.npages > 0 && err > 0 && err < 4096;
}

void DsmRecall::encode(Writer& w) const {
  range.encode(w);
  w.u8(uint8_t(mode));
  w.u8(with_data);
}
bool DsmRecall::decode(Reader& r) {
  bool ok = range.decode_fields(r);
  uint8_t m = r.u8();
  with_data = r.u8();
  if (!ok || !r.done() || (m != 1 && m != 2) || with_data > 1 || range.npages == 0) return false;
  mode = DsmRecallMode(m);
  return true;
}

void DsmData::encode(Writer& w) const {
  w.i32(seg);
  w.u64(first_page);
  w.bytes(bytes.data(), uint32_t(bytes.size()));
}
bool DsmData::decode(Reader& r) {
  seg = r.i32();
  first_page = r.u64();
  bytes = r.bytes(kDsmMaxChunk);
  return r.done() && !bytes.empty() && bytes.size() % kDsmPage == 0 &&
         first_page < kDsmMaxPages - bytes.size() / kDsmPage;
}

void DsmJoin::encode(Writer& w) const {
  w.i32(seg);
  w.i32(pid);
  w.u8(attach);
  w.u32(nattch);
}
bool DsmJoin::decode(Reader& r) {
  seg = r.i32();
  pid = r.i32();
  attach = r.u8();
  nattch = r.u32();
  return r.done() && attach <= kDsmJoinReshape && pid > 0;
}

void DsmLocalRequest::encode(Writer& w) const {
  w.u8(uint8_t(op));
  w.i32(shmid);
  w.i32(shmflg);
  w.u64(addr);
  w.u64(size);
  w.u8(uffd_attached);
}
bool DsmLocalRequest::decode(Reader& r) {
  uint8_t o = r.u8();
  shmid = r.i32();
  shmflg = r.i32();
  addr = r.u64();
  size = r.u64();
  uffd_attached = r.u8();
  if (!r.done() || o < 1 || o > uint8_t(DsmLocalOp::kPiece) || uffd_attached > 1) return false;
  op = DsmLocalOp(o);
  return true;
}

void DsmLocalReply::encode(Writer& w) const {
  w.i32(err);
  w.u64(size);
  w.u8(fds);
  w.u8(whole);
}
bool DsmLocalReply::decode(Reader& r) {
  err = r.i32();
  size = r.u64();
  fds = r.u8();
  whole = r.u8();
  return r.done() && fds <= 2 && whole <= 1;
}

}  // namespace dipc::proto
