// DSM payloads: the frames of distributed shared memory between a holder node and the
// owner of a segment (FrameType kDsm* in wire.h), and the node-local messages between the
// shim and dipcd's fault server on RUN_DIR/dipcd-dsm.sock.
//
// Node to node (all on the holder's link to the owner, so they keep one order):
//   kDsmAcquire   holder -> owner  seg page access npages    request id = the holder's
//   kDsmGrant     owner -> holder  seg first npages access   request id = the acquire's
//   kDsmFail      owner -> holder  seg first npages err      request id = the acquire's
//   kDsmRecall    owner -> holder  seg first npages mode with_data
//   kDsmRecallAck holder -> owner  seg first npages
//   kDsmData      either           seg first bytes           (before the grant or ack it
//                                                             belongs to; <= kDsmMaxChunk)
//   kDsmGrantData owner -> holder  seg first npages access bytes  a grant with its pages,
//                                                             when they fit one chunk: a
//                                                             fault's answer in one frame
//   kDsmJoin      holder -> owner  seg pid attach(1)/detach(0) nattch  (shm_nattch, RMID)
//   kDsmGone      owner -> holder  seg                       (the segment was destroyed)
// seg is the owner's shmid; pages are 4 KiB units counted from the segment's start. The
// owner says which pages a grant or recall covers (one page in page mode, the whole
// segment in segment mode), so a holder needs no configuration of its own for the mode.
//
// Local (shim <-> fault server, SOCK_SEQPACKET, descriptors in SCM_RIGHTS):
//   DsmLocalRequest  op shmid shmflg addr size uffd_attached
//   DsmLocalReply    err size fds whole  (+ memfd, and /dev/userfaultfd when asked for)
// Everything is big-endian and field by field like wire.h; like wire.h this header is used
// by the shim, so it allocates nothing. Thread safety: none needed.
#pragma once

#include <cstdint>
#include <string_view>

#include "proto/wire.h"

namespace dipc::proto {

inline constexpr uint32_t kDsmPage = 4096;           // the unit of transfer, always
inline constexpr uint32_t kDsmMaxChunk = 256 * kDsmPage;  // bytes in one kDsmData frame
static_assert(kDsmMaxChunk + 64 <= kMaxPayload);
inline constexpr uint64_t kDsmMaxPages = uint64_t(1) << 36;  // 256 TiB: beyond any SHMMAX here

enum class DsmAccess : uint8_t { kRead = 1, kWrite = 2 };
enum class DsmRecallMode : uint8_t { kDowngrade = 1, kInvalidate = 2 };

// kDsmAcquire: the holder wants access to the unit that holds page, and for reading
// (read-ahead) to the units of the npages - 1 pages after it too (at most kDsmMaxAhead).
inline constexpr uint32_t kDsmMaxAhead = 256;  // one chunk: the answer is one frame
struct DsmAcquire {
  int32_t seg = 0;
  uint64_t page = 0;
  DsmAccess access{};
  uint32_t npages = 1;
  static constexpr size_t kSize = 4 + 8 + 1 + 4;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// Pages [first, first + npages) of seg: kDsmRecallAck, kDsmGone (npages 0).
struct DsmRange {
  int32_t seg = 0;
  uint64_t first = 0;
  uint32_t npages = 0;
  static constexpr size_t kSize = 4 + 8 + 4;
  void encode(Writer& w) const;
  bool decode(Reader& r);
  bool decode_fields(Reader& r);  // as a part of a larger payload: no end check
};

// kDsmGrant.
struct DsmGrant {
  DsmRange range;
  DsmAccess access{};
  static constexpr size_t kSize = DsmRange::kSize + 1;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// kDsmGrantData: the grant and the npages * 4 KiB bytes of its pages (at most kDsmMaxChunk).
struct DsmGrantData {
  DsmGrant grant;
  std::string_view bytes;
  static constexpr size_t kFixedSize = DsmGrant::kSize + 4;
  void encode(Writer& w) const;  // the bytes' length included: the shape of encode_fixed
  bool decode(Reader& r);
};

// kDsmFail: the pages cannot be had (err: EHOSTDOWN when their only copy was lost).
struct DsmFail {
  DsmRange range;
  int32_t err = 0;
  static constexpr size_t kSize = DsmRange::kSize + 4;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// kDsmRecall.
struct DsmRecall {
  DsmRange range;
  DsmRecallMode mode{};
  uint8_t with_data = 0;
  static constexpr size_t kSize = DsmRange::kSize + 1 + 1;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// kDsmData: whole pages, at most kDsmMaxChunk bytes.
struct DsmData {
  int32_t seg = 0;
  uint64_t first_page = 0;
  std::string_view bytes;
  static constexpr size_t kFixedSize = 4 + 8 + 4;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// kDsmJoin: a process of the holder attached (1) or detached (0); nattch is the holder
// node's count after it, so the owner knows which nodes still have the segment attached.
struct DsmJoin {
  int32_t seg = 0;
  int32_t pid = 0;
  uint8_t attach = 0;
  uint32_t nattch = 0;
  static constexpr size_t kSize = 4 + 4 + 1 + 4;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// ---- node-local: the shim and the fault server ----
enum class DsmLocalOp : uint8_t {
  kAttach = 1,    // map shmid: reply carries the memfd (and /dev/userfaultfd if asked)
  kRegister = 2,  // the mapping at addr/size is registered on the uffd sent along (or the
                  // process's known one); the connection then stays open for its lifetime
  kInherit = 3,   // a forked child's copy of an attachment, registered on its new uffd
  kDetach = 4,    // on a registered connection, after the munmap: answered once the
                  // detach is counted (shm_nattch), then the connection closes
  kUnmap = 5,     // on a registered connection: [addr, addr+size) of the attachment is no
                  // longer mapped (SHM_REMAP put another mapping there) and the rest stays;
                  // answered once counted (each mapped piece counts in shm_nattch, as each
                  // of Linux's vmas does)
  kPiece = 6,     // before a kInherit on the same connection: [addr, addr+size) is one piece
                  // of the attachment still mapped (one message per piece, at most
                  // kDsmMaxPieces); the kInherit then checks these instead of its range
};
// Pieces one attachment may be cut into by SHM_REMAP (a shmat past it fails with ENOMEM).
constexpr uint32_t kDsmMaxPieces = 16;
// A part [lo, hi) of an attachment still mapped.
struct DsmPiece {
  uint64_t lo = 0, hi = 0;
  bool operator==(const DsmPiece&) const = default;
};
// The pieces in[0, n) (rising, apart) left once [lo, hi) is taken from them, in order, into
// out (room for n + 1). *cut: whether anything went; *split: whether a piece lost only a
// part of itself (Linux's vma split). Shared by the shim and the fault server; no allocation.
inline size_t cut_pieces(const DsmPiece* in, size_t n, uint64_t lo, uint64_t hi, DsmPiece* out,
                         bool* cut, bool* split) {
  size_t k = 0;
  *cut = *split = false;
  for (size_t i = 0; i < n; ++i) {
    DsmPiece p = in[i];
    if (p.hi <= lo || p.lo >= hi) {
      out[k++] = p;
      continue;
    }
    *cut = true;
    if (p.lo < lo) out[k++] = {p.lo, lo};
    if (hi < p.hi) out[k++] = {hi, p.hi};
    *split = *split || p.lo < lo || hi < p.hi;
  }
  return k;
}
// kDsmJoin's attach field: the holder's count went up (attach), down (detach), or a piece
// was cut from an attachment (reshape: both shm_atime and shm_dtime are set, as Linux's
// vma split and unmap set them).
constexpr uint8_t kDsmJoinDetach = 0, kDsmJoinAttach = 1, kDsmJoinReshape = 2;
struct DsmLocalRequest {
  DsmLocalOp op{};
  int32_t shmid = 0;
  int32_t shmflg = 0;
  uint64_t addr = 0;
  uint64_t size = 0;
  uint8_t uffd_attached = 0;  // a uffd descriptor travels with this message
  static constexpr size_t kSize = 1 + 4 + 4 + 8 + 8 + 1;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};
struct DsmLocalReply {
  int32_t err = 0;   // 0, or the errno for the caller
  uint64_t size = 0;  // the segment's size (kAttach)
  uint8_t fds = 0;    // descriptors attached: memfd, then /dev/userfaultfd
  // kAttach on a node that attaches whole segments ([dsm] attach = "whole", or no usable
  // userfaultfd): dipcd holds the access the mapping needs to every page until the detach,
  // so the process maps the memfd and registers nothing; kRegister then carries no uffd.
  uint8_t whole = 0;
  static constexpr size_t kSize = 4 + 8 + 1 + 1;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

}  // namespace dipc::proto
