// The DIPC wire format, shared by the shim, the daemon and the tools.
//
// Every frame is a fixed 20-byte header followed by a payload:
//
//   offset size field
//   0      4    magic      0x44495043 ("DIPC")
//   4      2    version    kProtocolVersion
//   6      2    type       FrameType
//   8      8    request id (0 for frames that are not requests or replies)
//   16     4    payload length, at most kMaxPayload
//
// Every integer is big-endian (network order) and every field is written and read one by
// one: no struct is ever copied to the wire. Strings and byte blobs are a u32 length and
// the bytes, with a cap for each. A decoder that meets anything out of bounds marks the
// reader failed and every later read returns zero; callers check ok() once at the end.
//
// This header is used by the shim too, so it must stay free of allocation, exceptions and
// anything that needs libstdc++ at run time: readers and writers work on caller-owned
// memory. Thread safety: none needed, every object here is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace dipc::proto {

inline constexpr uint32_t kMagic = 0x44495043;  // "DIPC"
inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kHeaderSize = 20;
// Payload cap: the largest message text we carry (1 MiB) plus room for the fixed fields.
inline constexpr uint32_t kMaxData = 1u << 20;
inline constexpr uint32_t kMaxPayload = kMaxData + 4096;
// A kSealed frame carries a whole frame (header and payload) and the AEAD tag.
inline constexpr uint32_t kSealOverhead = 16;
inline constexpr uint32_t kMaxSealedPayload = kHeaderSize + kMaxPayload + kSealOverhead;
inline constexpr uint32_t kMaxName = 256;    // byte cap of a name or address field
inline constexpr uint32_t kMaxNodeName = 64;   // node names, as [node] name allows
inline constexpr uint32_t kMaxLoginName = 64;  // login names carried for remote callers
inline constexpr uint32_t kMaxText = 65536;  // admin command output
inline constexpr uint32_t kMaxAdminCommand = 160;  // "fault NODE delay MS" and shorter
inline constexpr uint32_t kMaxRowsPerPage = 1024;  // ObjectRows in one kAdminRows frame
inline constexpr uint32_t kMaxSops = 4096;   // sembufs in one semop (Linux SEMOPM is 500)

enum class FrameType : uint16_t {
  // A process (through the shim) or a node asks for an operation on an object.
  kOp = 1,
  kOpReply = 2,
  kCancel = 3,  // request id = the request to interrupt
  kRequeue = 4,  // node to owner: the message of request id could not be delivered: put it back
  kTaken = 5,    // shim to its dipcd: the message of request id (a msgrcv) reached the process
  // Peer links.
  kHello = 10,
  kHelloAck = 11,
  kHeartbeat = 12,
  kProcExit = 13,  // a process of the sending node exited: apply its SEM_UNDO adjustments
  kAuth = 14,      // cluster-secret handshake on a new link (challenge or proof)
  kSealed = 15,    // with a secret, after the handshake: one whole frame, encrypted
  // Referee: name service and creation lock.
  kRegLookup = 20,
  kRegReply = 21,
  kRegCommit = 22,
  kRegAbort = 23,
  kRegRemove = 24,   // owner -> referee: the object is gone
  kRegRemoved = 25,  // referee -> holder: drop your placeholder
  kRegList = 26,
  kRegListReply = 27,
  kRegHold = 28,  // holder -> referee, on a rejoin: I hold a placeholder of this object
  kRegMembers = 34,       // node -> referee: the cluster's members (empty payload)
  kRegMembersReply = 35,  // referee -> node: MemberRows (proto/admin_rows.h)
  // The dipc command line talking to its node.
  kAdmin = 40,
  kAdminReply = 41,
  kAdminMore = 42,  // a part of a long answer's text (AdminReply, err 0); kAdminReply ends it
  kAdminRows = 43,  // a page of the listing's records (AdminRows); kAdminReply ends it
  // Distributed shared memory (payloads in proto/dsm.h), holder <-> owner of a segment.
  kDsmAcquire = 50,
  kDsmGrant = 51,
  kDsmFail = 52,
  kDsmRecall = 53,
  kDsmRecallAck = 54,
  kDsmData = 55,
  kDsmJoin = 56,
  kDsmGone = 57,
  // kDsmData going from a holder to the owner (a page given back with a recall): on the one
  // link between two nodes, each of which may own segments the other holds, the type says
  // which way a page travels.
  kDsmDataToOwner = 58,
  // A grant carrying its pages (owner -> holder): the whole answer to a fault in one frame.
  kDsmGrantData = 59,
};
inline bool is_dsm_frame_type(FrameType t) { return uint16_t(t) >= 50 && uint16_t(t) <= 69; }

bool is_known_frame_type(uint16_t t);

// Names from the wire are checked before any use, above all before one becomes a C string
// (a NUL inside "root\0" once passed for root in an account look-up).
// A node name: 1..kMaxNodeName characters from A-Z a-z 0-9 . _ - (as [node] name).
bool is_valid_node_name(std::string_view s);
// A login name: 1..kMaxLoginName characters from A-Z a-z 0-9 . _ - @, not starting with
// '-', optionally ending in '$' (the set useradd and directory services use).
bool is_valid_login_name(std::string_view s);
// An address as the referee hands it out: empty, or 1..kMaxName characters from
// A-Z a-z 0-9 . - _ : (IPv4, IPv6 or a host name).
bool is_valid_address(std::string_view s);
// Node names separated by single commas, or empty (the holders of a listed object).
bool is_valid_node_list(std::string_view s);

// Object kinds, as carried on the wire.
enum class Kind : uint8_t { kMsg = 1, kSem = 2, kShm = 3 };
inline bool is_valid_kind(uint8_t k) { return k >= 1 && k <= 3; }

// Operations carried by kOp frames.
enum class Op : uint8_t {
  kGet = 1,     // msgget/semget/shmget: key, flags, arg1 = nsems or size
  kMsgSnd = 2,  // id, flags, arg1 = mtype, data = mtext
  kMsgRcv = 3,  // id, flags, arg1 = msgtyp, arg2 = msgsz
  kMsgCtl = 4,  // id, arg1 = cmd, data = encoded IpcStat (IPC_SET)
  kSemOp = 5,   // id, arg1 = nsops, flags = 1 if timed (arg2 = tv_sec, arg3 = tv_nsec),
                //   data = sembufs (u16 num, i16 op, i16 flg)
  kSemCtl = 6,  // id, arg1 = cmd, arg2 = semnum, arg3 = val, data = values or IpcStat
  kShmCtl = 7,  // id, arg1 = cmd, data = encoded IpcStat (IPC_SET)
};
inline bool is_valid_op(uint8_t o) { return o >= 1 && o <= 7; }

struct Header {
  uint16_t version = kProtocolVersion;
  FrameType type{};
  uint64_t request_id = 0;
  uint32_t length = 0;
};

// Writes big-endian fields into caller memory. Overflow marks the writer failed.
class Writer {
 public:
  Writer(uint8_t* buf, size_t cap) : buf_(buf), cap_(cap) {}
  void u8(uint8_t v) { put(&v, 1); }
  void u16(uint16_t v) {
    uint8_t b[2] = {uint8_t(v >> 8), uint8_t(v)};
    put(b, 2);
  }
  void u32(uint32_t v) {
    uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
    put(b, 4);
  }
  void u64(uint64_t v) {
    u32(uint32_t(v >> 32));
    u32(uint32_t(v));
  }
  void i16(int16_t v) { u16(uint16_t(v)); }
  void i32(int32_t v) { u32(uint32_t(v)); }
  void i64(int64_t v) { u64(uint64_t(v)); }
  void bytes(const void* p, uint32_t n) {
    u32(n);
    put(p, n);
  }
  void str(std::string_view s) { bytes(s.data(), uint32_t(s.size())); }
  void raw(const void* p, size_t n) { put(p, n); }
  bool ok() const { return ok_; }
  size_t size() const { return len_; }
  uint8_t* data() const { return buf_; }

 private:
  void put(const void* p, size_t n) {
    if (!ok_ || n > cap_ - len_) {
      ok_ = false;
      return;
    }
    if (n) std::memcpy(buf_ + len_, p, n);
    len_ += n;
  }
  uint8_t* buf_;
  size_t cap_;
  size_t len_ = 0;
  bool ok_ = true;
};

// Reads big-endian fields from caller memory; views point into that memory.
class Reader {
 public:
  Reader(const uint8_t* buf, size_t len) : buf_(buf), len_(len) {}
  uint8_t u8() {
    uint8_t b[1] = {0};
    get(b, 1);
    return b[0];
  }
  uint16_t u16() {
    uint8_t b[2] = {0, 0};
    get(b, 2);
    return uint16_t((b[0] << 8) | b[1]);
  }
  uint32_t u32() {
    uint8_t b[4] = {0, 0, 0, 0};
    get(b, 4);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
  }
  uint64_t u64() {
    uint64_t hi = u32();
    return (hi << 32) | u32();
  }
  int16_t i16() { return int16_t(u16()); }
  int32_t i32() { return int32_t(u32()); }
  int64_t i64() { return int64_t(u64()); }
  // A length-prefixed blob of at most cap bytes; returns an empty view on failure.
  std::string_view bytes(uint32_t cap) {
    uint32_t n = u32();
    if (!ok_ || n > cap || n > len_ - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view v(reinterpret_cast<const char*>(buf_ + pos_), n);
    pos_ += n;
    return v;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == len_; }
  // True when every byte was consumed and nothing was out of bounds.
  bool done() const { return ok_ && pos_ == len_; }
  size_t remaining() const { return ok_ ? len_ - pos_ : 0; }

 private:
  void get(void* p, size_t n) {
    if (!ok_ || n > len_ - pos_) {
      ok_ = false;
      return;
    }
    std::memcpy(p, buf_ + pos_, n);
    pos_ += n;
  }
  const uint8_t* buf_;
  size_t len_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void encode_header(const Header& h, uint8_t out[kHeaderSize]);

enum class HeaderError { kNone, kBadMagic, kBadVersion, kBadType, kTooLong };
// Decodes and validates a header. A version other than ours is an error: peers say their
// version in kHello and a link with another version is refused there.
HeaderError decode_header(const uint8_t in[kHeaderSize], Header& h);
const char* header_error_text(HeaderError e);

// ---------------------------------------------------------------------------------------
// Payloads. Each has encode(Writer&) and decode(Reader&) -> bool (true when the payload was
// well formed and fully consumed). Views (std::string_view) point into the reader's buffer.

// kOp. Sent by the shim (caller fields empty; dipcd fills them from SO_PEERCRED) and by a
// node to an object's owner (id is then the owner's id).
struct OpRequest {
  Kind kind{};
  Op op{};
  int32_t id = 0;
  int32_t key = 0;
  int32_t flags = 0;
  int64_t arg1 = 0, arg2 = 0, arg3 = 0;
  std::string_view user;  // caller's login name (node to node)
  int32_t pid = 0;        // caller's pid on its node (node to node); from the shim: the
                          // calling thread's id, whose credentials the call is made with
  std::string_view data;

  void encode(Writer& w) const;
  // Everything but the data bytes themselves (their length included), so the shim can send
  // the data from the caller's own buffer with writev.
  void encode_fixed(Writer& w) const;
  bool decode(Reader& r);
  // Size of everything but data, so the shim can send data from the caller's own buffer.
  size_t fixed_size() const { return 1 + 1 + 4 * 3 + 8 * 3 + 4 + user.size() + 4 + 4; }
};

// kSemCtl SETALL arg3: the caller's array could not be read, so no values came. The owner
// makes the call with a NULL array: its kernel checks the id and permission first, then
// faults (EFAULT), as for the caller on one machine.
inline constexpr int64_t kSemArrayAbsent = 1;

// kOpReply. Data comes last so that the shim can read it straight into the caller's buffer.
struct OpReply {
  int64_t ret = 0;  // the call's return value (-1 on failure)
  int32_t err = 0;  // errno when ret == -1
  int64_t aux = 0;  // msgrcv: mtype
  std::string_view data;
  static constexpr size_t kFixedSize = 8 + 4 + 8 + 4;  // data length is the last u32

  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// The portable form of msqid_ds/semid_ds/shmid_ds for IPC_STAT and IPC_SET.
struct IpcStat {
  int32_t key = 0;
  uint32_t uid = 0, gid = 0, cuid = 0, cgid = 0, mode = 0;
  int64_t otime = 0, ctime = 0, rtime = 0;  // msg: stime/ctime/rtime; sem: otime/ctime
  uint64_t cbytes = 0, qnum = 0, qbytes = 0;  // msg; sem: qnum = nsems
  int32_t lspid = 0, lrpid = 0;
  static constexpr size_t kSize = 4 + 4 * 5 + 8 * 3 + 8 * 3 + 4 * 2;

  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// kHello: the first frame on a peer link, from the side that connected.
// incarnation: a random number the sending dipcd drew when it started, and draws again when
// it starts over as a new node (docs/errors.md, fail-stop): how a node tells the same run
// of a peer from a new one.
struct Hello {
  uint16_t version = kProtocolVersion;
  std::string_view node;  // the sender's node name
  uint16_t listen_port = 0;
  uint64_t incarnation = 0;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// kHelloAck: accepted, or refused with a reason the refused node logs and shows.
struct HelloAck {
  uint8_t accepted = 0;
  std::string_view node;    // the answering node's name
  std::string_view reason;  // why it was refused
  uint64_t incarnation = 0;  // the answering node's, as in Hello
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// Referee messages share one record: each type uses the fields its comment names.
//  kRegLookup  kind key flags                      (the node wants the key)
//  kRegReply   status err + owner fields           (request id = the lookup's)
//  kRegCommit  kind key id mode uid gid size       (the node created it; it owns it)
//  kRegAbort   kind key                            (the node could not create it)
//  kRegRemove  kind key                            (owner: the object is gone)
//  kRegRemoved kind key owner                      (referee to holders)
//  kRegListReply  a u32 count and that many records (every field, holders too)
//  kRegHold    kind key owner id                (a holder re-announcing its placeholder)
enum class RegStatus : uint8_t { kCreate = 1, kExists = 2, kError = 3 };
struct RegRecord {
  Kind kind{};
  int32_t key = 0;
  int32_t flags = 0;
  RegStatus status{};
  int32_t err = 0;
  std::string_view owner;       // owner node name
  std::string_view owner_addr;  // its address, for a link
  uint16_t owner_port = 0;
  int32_t id = 0;  // the owner's id
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0;          // nsems or bytes
  std::string_view holders;   // kRegListReply: node names holding a placeholder, comma separated
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

// kAuth: one step of the cluster-secret handshake (docs/design.md): a fresh nonce, a MAC
// (HMAC-SHA256 keyed with the secret), or both; each is empty or exactly kAuthBytes long.
inline constexpr uint32_t kAuthBytes = 32;
struct Auth {
  std::string_view nonce;
  std::string_view mac;
  void encode(Writer& w) const {
    w.str(nonce);
    w.str(mac);
  }
  bool decode(Reader& r) {
    nonce = r.bytes(kAuthBytes);
    mac = r.bytes(kAuthBytes);
    return r.done() && (nonce.empty() || nonce.size() == kAuthBytes) &&
           (mac.empty() || mac.size() == kAuthBytes);
  }
};

// kProcExit: the pid of a process of the sending node that has exited.
struct ProcExit {
  int32_t pid = 0;
  void encode(Writer& w) const { w.i32(pid); }
  bool decode(Reader& r) {
    pid = r.i32();
    return r.done() && pid > 0;
  }
};

// kAdmin: a command from the dipc tool; kAdminReply: ret (0 ok, else an errno) and text.
struct Admin {
  std::string_view command;  // "ls", "status", "rm", "fault NODE MODE [MS]"
  Kind kind{};
  int32_t key = 0;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};
struct AdminReply {
  int32_t err = 0;
  std::string_view text;
  void encode(Writer& w) const;
  bool decode(Reader& r);
};

}  // namespace dipc::proto
