#include "proto/wire.h"

#include "proto/errno_wire.h"

namespace dipc::proto {

bool is_known_frame_type(uint16_t t) {
  switch (FrameType(t)) {
    case FrameType::kOp:
    case FrameType::kOpReply:
    case FrameType::kCancel:
    case FrameType::kRequeue:
    case FrameType::kTaken:
    case FrameType::kHello:
    case FrameType::kHelloAck:
    case FrameType::kHeartbeat:
    case FrameType::kProcExit:
    case FrameType::kAuth:
    case FrameType::kSealed:
    case FrameType::kRegLookup:
    case FrameType::kRegReply:
    case FrameType::kRegCommit:
    case FrameType::kRegAbort:
    case FrameType::kRegRemove:
    case FrameType::kRegRemoved:
    case FrameType::kRegList:
    case FrameType::kRegListReply:
    case FrameType::kRegHold:
    case FrameType::kRegMembers:
    case FrameType::kRegMembersReply:
    case FrameType::kAdmin:
    case FrameType::kAdminReply:
    case FrameType::kAdminMore:
    case FrameType::kAdminRows:
    case FrameType::kDsmAcquire:
    case FrameType::kDsmGrant:
    case FrameType::kDsmFail:
    case FrameType::kDsmRecall:
    case FrameType::kDsmRecallAck:
    case FrameType::kDsmData:
    case FrameType::kDsmJoin:
    case FrameType::kDsmGone:
    case FrameType::kDsmDataToOwner:
    case FrameType::kDsmGrantData:
      return true;
  }
  return false;
}

namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

bool is_valid_node_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNodeName) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

bool is_valid_login_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxLoginName || s.front() == '-') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (is_alnum(c) || c == '.' || c == '_' || c == '-' || c == '@') continue;
    if (c == '$' && i + 1 == s.size() && i > 0) continue;
    return false;
  }
  return true;
}

bool is_valid_address(std::string_view s) {
  if (s.size() > kMaxName) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '.' && c != '-' && c != '_' && c != ':') return false;
  return true;
}

// A comma-separated list of node names (the holders of a listed object), or empty.
bool is_valid_node_list(std::string_view s) {
  while (!s.empty()) {
    size_t comma = s.find(',');
    if (!is_valid_node_name(s.substr(0, comma))) return false;
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
    if (s.empty()) return false;
  }
  return true;
}

void encode_header(const Header& h, uint8_t out[kHeaderSize]) {
  Writer w(out, kHeaderSize);
  w.u32(kMagic);
  w.u16(h.version);
  w.u16(uint16_t(h.type));
  w.u64(h.request_id);
  w.u32(h.length);
}

HeaderError decode_header(const uint8_t in[kHeaderSize], Header& h) {
  Reader r(in, kHeaderSize);
  if (r.u32() != kMagic) return HeaderError::kBadMagic;
  h.version = r.u16();
  uint16_t type = r.u16();
  h.request_id = r.u64();
  h.length = r.u32();
  if (h.version != kProtocolVersion) return HeaderError::kBadVersion;
  if (!is_known_frame_type(type)) return HeaderError::kBadType;
  h.type = FrameType(type);
  if (h.length > (h.type == FrameType::kSealed ? kMaxSealedPayload : kMaxPayload))
    return HeaderError::kTooLong;
  return HeaderError::kNone;
}

const char* header_error_text(HeaderError e) {
  switch (e) {
    case HeaderError::kNone: return "no error";
    case HeaderError::kBadMagic: return "bad magic (not a DIPC peer)";
    case HeaderError::kBadVersion: return "unsupported protocol version";
    case HeaderError::kBadType: return "unknown frame type";
    case HeaderError::kTooLong: return "payload longer than the protocol allows";
  }
  return "unknown header error";
}

void OpRequest::encode(Writer& w) const {
  encode_fixed(w);
  w.raw(data.data(), data.size());
}

void OpRequest::encode_fixed(Writer& w) const {
  w.u8(uint8_t(kind));
  w.u8(uint8_t(op));
  w.i32(id);
  w.i32(key);
  w.i32(flags);
  w.i64(arg1);
  w.i64(arg2);
  w.i64(arg3);
  w.str(user);
  w.i32(pid);
  w.u32(uint32_t(data.size()));
}

bool OpRequest::decode(Reader& r) {
  uint8_t k = r.u8(), o = r.u8();
  id = r.i32();
  key = r.i32();
  flags = r.i32();
  arg1 = r.i64();
  arg2 = r.i64();
  arg3 = r.i64();
  user = r.bytes(kMaxName);
  pid = r.i32();
  data = r.bytes(kMaxData);
  if (!r.done() || !is_valid_kind(k) || !is_valid_op(o)) return false;
  // Empty from a local process (dipcd fills it in); a login name from a node.
  if (!user.empty() && !is_valid_login_name(user)) return false;
  kind = Kind(k);
  op = Op(o);
  return true;
}

void OpReply::encode(Writer& w) const {
  w.i64(ret);
  w.i32(errno_to_wire(err));
  w.i64(aux);
  w.bytes(data.data(), uint32_t(data.size()));
}

bool OpReply::decode(Reader& r) {
  ret = r.i64();
  err = errno_from_wire(r.i32());
  aux = r.i64();
  data = r.bytes(kMaxData);
  return r.done();
}

void IpcStat::encode(Writer& w) const {
  w.i32(key);
  w.u32(uid);
  w.u32(gid);
  w.u32(cuid);
  w.u32(cgid);
  w.u32(mode);
  w.i64(otime);
  w.i64(ctime);
  w.i64(rtime);
  w.u64(cbytes);
  w.u64(qnum);
  w.u64(qbytes);
  w.i32(lspid);
  w.i32(lrpid);
}

bool IpcStat::decode(Reader& r) {
  key = r.i32();
  uid = r.u32();
  gid = r.u32();
  cuid = r.u32();
  cgid = r.u32();
  mode = r.u32();
  otime = r.i64();
  ctime = r.i64();
  rtime = r.i64();
  cbytes = r.u64();
  qnum = r.u64();
  qbytes = r.u64();
  lspid = r.i32();
  lrpid = r.i32();
  return r.ok();
}

void Hello::encode(Writer& w) const {
  w.u16(version);
  w.str(node);
  w.u16(listen_port);
  w.u64(incarnation);
}

bool Hello::decode(Reader& r) {
  version = r.u16();
  node = r.bytes(kMaxName);
  listen_port = r.u16();
  incarnation = r.u64();
  return r.done() && is_valid_node_name(node);
}

void HelloAck::encode(Writer& w) const {
  w.u8(accepted);
  w.str(node);
  w.str(reason);
  w.u64(incarnation);
}

bool HelloAck::decode(Reader& r) {
  accepted = r.u8();
  node = r.bytes(kMaxName);
  reason = r.bytes(kMaxName * 4);
  incarnation = r.u64();
  return r.done() && accepted <= 1 && is_valid_node_name(node);
}

void RegRecord::encode(Writer& w) const {
  w.u8(uint8_t(kind));
  w.i32(key);
  w.i32(flags);
  w.u8(uint8_t(status));
  w.i32(errno_to_wire(err));
  w.str(owner);
  w.str(owner_addr);
  w.u16(owner_port);
  w.i32(id);
  w.u32(mode);
  w.u32(uid);
  w.u32(gid);
  w.u64(size);
  w.str(holders);
}

bool RegRecord::decode(Reader& r) {
  uint8_t k = r.u8();
  key = r.i32();
  flags = r.i32();
  uint8_t s = r.u8();
  err = errno_from_wire(r.i32());
  owner = r.bytes(kMaxName);
  owner_addr = r.bytes(kMaxName);
  owner_port = r.u16();
  id = r.i32();
  mode = r.u32();
  uid = r.u32();
  gid = r.u32();
  size = r.u64();
  holders = r.bytes(kMaxText);
  if (!r.ok() || !is_valid_kind(k) || s > 3) return false;
  if ((!owner.empty() && !is_valid_node_name(owner)) || !is_valid_address(owner_addr) ||
      !is_valid_node_list(holders))
    return false;
  kind = Kind(k);
  status = RegStatus(s);
  return true;
}

void Admin::encode(Writer& w) const {
  w.str(command);
  w.u8(uint8_t(kind));
  w.i32(key);
}

bool Admin::decode(Reader& r) {
  command = r.bytes(kMaxAdminCommand);
  uint8_t k = r.u8();
  key = r.i32();
  if (!r.done() || (k != 0 && !is_valid_kind(k))) return false;
  kind = Kind(k);
  return true;
}

void AdminReply::encode(Writer& w) const {
  w.i32(errno_to_wire(err));
  w.str(text);
}

bool AdminReply::decode(Reader& r) {
  err = errno_from_wire(r.i32());
  text = r.bytes(kMaxText);
  return r.done();
}

}  // namespace dipc::proto
