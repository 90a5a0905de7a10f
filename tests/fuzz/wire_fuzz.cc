// libFuzzer target for the wire decoder (src/proto/wire.h); run by tests/fuzz/run_fuzz.sh.
//
// The input is fed to decode_header (its first 20 bytes) and to every payload decoder, both
// whole and after the header. Whenever a decode succeeds, the value is re-encoded: the bytes
// must equal the bytes the decoder consumed (the encoding is canonical) and decoding them
// again must give the same fields. Any mismatch calls abort(). Sanitizers catch the rest.
//
// Built with -DDIPC_FUZZ_SEED_WRITER instead of -fsanitize=fuzzer, this file is a small
// program that writes a seed corpus of valid frames into the directory named by argv[1].
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "proto/admin_rows.h"
#include "proto/dsm.h"
#include "proto/wire.h"

namespace {

using namespace dipc::proto;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "wire_fuzz: round trip mismatch: %s\n", what);
    std::abort();
  }
}

bool Same(const OpRequest& a, const OpRequest& b) {
  return a.kind == b.kind && a.op == b.op && a.id == b.id && a.key == b.key && a.flags == b.flags &&
         a.arg1 == b.arg1 && a.arg2 == b.arg2 && a.arg3 == b.arg3 && a.user == b.user &&
         a.pid == b.pid && a.data == b.data;
}
bool Same(const OpReply& a, const OpReply& b) {
  return a.ret == b.ret && a.err == b.err && a.aux == b.aux && a.data == b.data;
}
bool Same(const IpcStat& a, const IpcStat& b) {
  return a.key == b.key && a.uid == b.uid && a.gid == b.gid && a.cuid == b.cuid &&
         a.cgid == b.cgid && a.mode == b.mode && a.otime == b.otime && a.ctime == b.ctime &&
         a.rtime == b.rtime && a.cbytes == b.cbytes && a.qnum == b.qnum && a.qbytes == b.qbytes &&
         a.lspid == b.lspid && a.lrpid == b.lrpid;
}
bool Same(const Hello& a, const Hello& b) {
  return a.version == b.version && a.node == b.node && a.listen_port == b.listen_port;
}
bool Same(const HelloAck& a, const HelloAck& b) {
  return a.accepted == b.accepted && a.node == b.node && a.reason == b.reason;
}
bool Same(const RegRecord& a, const RegRecord& b) {
  return a.kind == b.kind && a.key == b.key && a.flags == b.flags && a.status == b.status &&
         a.err == b.err && a.owner == b.owner && a.owner_addr == b.owner_addr &&
         a.owner_port == b.owner_port && a.id == b.id && a.mode == b.mode && a.uid == b.uid &&
         a.gid == b.gid && a.size == b.size && a.holders == b.holders;
}
bool Same(const ProcExit& a, const ProcExit& b) { return a.pid == b.pid; }
bool Same(const Auth& a, const Auth& b) { return a.nonce == b.nonce && a.mac == b.mac; }
bool Same(const Admin& a, const Admin& b) {
  return a.command == b.command && a.kind == b.kind && a.key == b.key;
}
bool Same(const AdminReply& a, const AdminReply& b) { return a.err == b.err && a.text == b.text; }
bool Same(const ObjectRow& a, const ObjectRow& b) {
  return a.kind == b.kind && a.key == b.key && a.id == b.id && a.owner == b.owner &&
         a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.size == b.size &&
         a.holders == b.holders && a.stat_err == b.stat_err && a.qnum == b.qnum &&
         a.cbytes == b.cbytes && a.nattch == b.nattch && a.lspid == b.lspid &&
         a.lrpid == b.lrpid && a.ctime == b.ctime;
}
bool Same(const AdminRows& a, const AdminRows& b) {
  if (a.rows.size() != b.rows.size()) return false;
  for (size_t i = 0; i < a.rows.size(); ++i)
    if (!Same(a.rows[i], b.rows[i])) return false;
  return true;
}
bool Same(const MemberRow& a, const MemberRow& b) {
  return a.name == b.name && a.address == b.address && a.port == b.port && a.state == b.state &&
         a.since == b.since && a.heard_ms == b.heard_ms && a.rtt_us == b.rtt_us && a.why == b.why;
}
bool Same(const MemberRows& a, const MemberRows& b) {
  if (a.rows.size() != b.rows.size()) return false;
  for (size_t i = 0; i < a.rows.size(); ++i)
    if (!Same(a.rows[i], b.rows[i])) return false;
  return true;
}
bool Same(const DsmAcquire& a, const DsmAcquire& b) {
  return a.seg == b.seg && a.page == b.page && a.access == b.access && a.npages == b.npages;
}
bool Same(const DsmRange& a, const DsmRange& b) {
  return a.seg == b.seg && a.first == b.first && a.npages == b.npages;
}
bool Same(const DsmGrant& a, const DsmGrant& b) { return Same(a.range, b.range) && a.access == b.access; }
bool Same(const DsmFail& a, const DsmFail& b) { return Same(a.range, b.range) && a.err == b.err; }
bool Same(const DsmRecall& a, const DsmRecall& b) {
  return Same(a.range, b.range) && a.mode == b.mode && a.with_data == b.with_data;
}
bool Same(const DsmGrantData& a, const DsmGrantData& b) {
  return Same(a.grant, b.grant) && a.bytes == b.bytes;
}
bool Same(const DsmData& a, const DsmData& b) {
  return a.seg == b.seg && a.first_page == b.first_page && a.bytes == b.bytes;
}
bool Same(const DsmJoin& a, const DsmJoin& b) {
  return a.seg == b.seg && a.pid == b.pid && a.attach == b.attach && a.nattch == b.nattch;
}
bool Same(const DsmLocalRequest& a, const DsmLocalRequest& b) {
  return a.op == b.op && a.shmid == b.shmid && a.shmflg == b.shmflg && a.addr == b.addr &&
         a.size == b.size && a.uffd_attached == b.uffd_attached;
}
bool Same(const DsmLocalReply& a, const DsmLocalReply& b) {
  return a.err == b.err && a.size == b.size && a.fds == b.fds && a.whole == b.whole;
}

// Decodes data as a T; on success checks the round trip. Returns the bytes consumed, or 0.
template <class T>
size_t RoundTrip(const uint8_t* data, size_t size, const char* name) {
  T m;
  Reader r(data, size);
  if (!m.decode(r)) return 0;
  Check(r.ok(), name);
  size_t used = size - r.remaining();

  // A decoded value never needs more room than the bytes it came from.
  std::vector<uint8_t> buf(used);
  Writer w(buf.data(), buf.size());
  m.encode(w);
  Check(w.ok(), name);
  Check(w.size() == used, name);
  Check(used == 0 || std::memcmp(buf.data(), data, used) == 0, name);

  T again;
  Reader r2(buf.data(), buf.size());
  Check(again.decode(r2), name);
  Check(r2.done(), name);
  Check(Same(m, again), name);
  return used;
}

void FuzzPayload(const uint8_t* data, size_t size) {
  RoundTrip<OpRequest>(data, size, "OpRequest");
  RoundTrip<OpReply>(data, size, "OpReply");
  RoundTrip<IpcStat>(data, size, "IpcStat");
  RoundTrip<Hello>(data, size, "Hello");
  RoundTrip<HelloAck>(data, size, "HelloAck");
  RoundTrip<RegRecord>(data, size, "RegRecord");
  RoundTrip<ProcExit>(data, size, "ProcExit");
  RoundTrip<Auth>(data, size, "Auth");
  RoundTrip<Admin>(data, size, "Admin");
  RoundTrip<AdminReply>(data, size, "AdminReply");
  RoundTrip<ObjectRow>(data, size, "ObjectRow");
  RoundTrip<AdminRows>(data, size, "AdminRows");
  RoundTrip<MemberRow>(data, size, "MemberRow");
  RoundTrip<MemberRows>(data, size, "MemberRows");
  RoundTrip<DsmAcquire>(data, size, "DsmAcquire");
  RoundTrip<DsmRange>(data, size, "DsmRange");
  RoundTrip<DsmGrant>(data, size, "DsmGrant");
  RoundTrip<DsmFail>(data, size, "DsmFail");
  RoundTrip<DsmRecall>(data, size, "DsmRecall");
  RoundTrip<DsmData>(data, size, "DsmData");
  RoundTrip<DsmGrantData>(data, size, "DsmGrantData");
  RoundTrip<DsmJoin>(data, size, "DsmJoin");
  RoundTrip<DsmLocalRequest>(data, size, "DsmLocalRequest");
  RoundTrip<DsmLocalReply>(data, size, "DsmLocalReply");

  // kRegListReply: a u32 count and that many records, read as referee_client.cc reads them.
  Reader r(data, size);
  uint32_t n = r.u32();
  size_t pos = 4;
  for (uint32_t i = 0; i < n && r.ok() && pos <= size; ++i) {
    size_t used = RoundTrip<RegRecord>(data + pos, size - pos, "RegRecord list");
    if (used == 0) break;
    pos += used;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzPayload(data, size);
  if (size < kHeaderSize) return 0;

  Header h;
  HeaderError e = decode_header(data, h);
  Check(header_error_text(e) != nullptr, "header error text");
  if (e != HeaderError::kNone) return 0;
  Check(h.version == kProtocolVersion && is_known_frame_type(uint16_t(h.type)) &&
            h.length <= kMaxPayload,
        "accepted header out of bounds");
  uint8_t again[kHeaderSize];
  encode_header(h, again);
  Check(std::memcmp(again, data, kHeaderSize) == 0, "Header");

  // The payload as a framed reader would see it: at most h.length bytes after the header.
  size_t avail = size - kHeaderSize;
  size_t len = h.length < avail ? h.length : avail;
  FuzzPayload(data + kHeaderSize, len);
  return 0;
}

#ifdef DIPC_FUZZ_SEED_WRITER
// Writes one valid frame (header + payload) per file into argv[1].
namespace {

void WriteFrame(const std::string& dir, const char* name, FrameType type, uint64_t reqid,
                const uint8_t* payload, size_t len) {
  Header h;
  h.type = type;
  h.request_id = reqid;
  h.length = uint32_t(len);
  uint8_t head[kHeaderSize];
  encode_header(h, head);
  std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(head, 1, kHeaderSize, f) != kHeaderSize ||
      std::fwrite(payload, 1, len, f) != len || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
}

template <class T>
void WriteSeed(const std::string& dir, const char* name, FrameType type, uint64_t reqid,
               const T& m) {
  std::vector<uint8_t> buf(2 * kDsmPage);
  Writer w(buf.data(), buf.size());
  m.encode(w);
  if (!w.ok()) std::abort();
  WriteFrame(dir, name, type, reqid, buf.data(), w.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];

  OpRequest op;
  op.kind = Kind::kMsg;
  op.op = Op::kMsgSnd;
  op.id = 65536;
  op.key = 0x1234;
  op.flags = 04000;
  op.arg1 = 1;
  op.user = "alice";
  op.pid = 4242;
  op.data = "hello, queue";
  WriteSeed(dir, "op_msgsnd", FrameType::kOp, 1, op);

  op.kind = Kind::kSem;
  op.op = Op::kSemOp;
  op.arg1 = 1;
  static const uint8_t sembuf[] = {0, 0, 0xFF, 0xFF, 0x10, 0x00};
  op.data = std::string_view(reinterpret_cast<const char*>(sembuf), sizeof sembuf);
  WriteSeed(dir, "op_semop", FrameType::kOp, 2, op);

  IpcStat st;
  st.key = 0x1234;
  st.uid = st.cuid = 1000;
  st.gid = st.cgid = 1000;
  st.mode = 0600;
  st.qbytes = 16384;
  uint8_t stbuf[IpcStat::kSize];
  Writer sw(stbuf, sizeof stbuf);
  st.encode(sw);
  op.kind = Kind::kMsg;
  op.op = Op::kMsgCtl;
  op.arg1 = 1;  // IPC_SET
  op.data = std::string_view(reinterpret_cast<const char*>(stbuf), sw.size());
  WriteSeed(dir, "op_msgctl", FrameType::kOp, 3, op);

  OpReply rep;
  rep.ret = 12;
  rep.aux = 7;
  rep.data = "hello, queue";
  WriteSeed(dir, "op_reply", FrameType::kOpReply, 1, rep);
  WriteSeed(dir, "ipc_stat", FrameType::kOpReply, 3, st);

  Hello hello;
  hello.node = "n1";
  hello.listen_port = 7000;
  WriteSeed(dir, "hello", FrameType::kHello, 0, hello);

  HelloAck ack;
  ack.accepted = 0;
  ack.node = "n2";
  ack.reason = "not in the allow list";
  WriteSeed(dir, "hello_ack", FrameType::kHelloAck, 0, ack);

  RegRecord rec;
  rec.kind = Kind::kSem;
  rec.key = 0x1234;
  rec.flags = 01600;
  WriteSeed(dir, "reg_lookup", FrameType::kRegLookup, 9, rec);
  rec.status = RegStatus::kExists;
  rec.owner = "n1";
  rec.owner_addr = "10.0.0.1";
  rec.owner_port = 7000;
  rec.id = 32768;
  rec.mode = 0600;
  rec.size = 4;
  rec.holders = "n2,n3";
  WriteSeed(dir, "reg_reply", FrameType::kRegReply, 9, rec);

  // A list reply: a count and two records.
  std::vector<uint8_t> list(4096);
  Writer lw(list.data(), list.size());
  lw.u32(2);
  rec.encode(lw);
  rec.key = 0x5678;
  rec.encode(lw);
  WriteFrame(dir, "reg_list_reply", FrameType::kRegListReply, 10, list.data(), lw.size());

  ProcExit pe;
  pe.pid = 4242;
  WriteSeed(dir, "proc_exit", FrameType::kProcExit, 0, pe);

  std::string nonce(kAuthBytes, 'n'), mac(kAuthBytes, 'm');
  Auth auth{nonce, mac};
  WriteSeed(dir, "auth", FrameType::kAuth, 0, auth);

  Admin admin;
  admin.command = "rm";
  admin.kind = Kind::kShm;
  admin.key = 0x1234;
  WriteSeed(dir, "admin_rm", FrameType::kAdmin, 11, admin);

  AdminReply ar;
  ar.text = "KIND KEY ID OWNER\nmsg 0x1234 65536 n1\n";
  WriteSeed(dir, "admin_reply", FrameType::kAdminReply, 11, ar);

  ObjectRow row;
  row.kind = Kind::kMsg;
  row.key = 0x1234;
  row.id = 65536;
  row.owner = "n1";
  row.mode = 0666;
  row.size = 16384;
  row.holders = "n2,n3";
  row.qnum = 2;
  row.cbytes = 11;
  AdminRows rows;
  rows.rows = {row, row};
  WriteSeed(dir, "admin_rows", FrameType::kAdminRows, 12, rows);
  MemberRow member;
  member.name = "n2";
  member.address = "10.0.0.2";
  member.port = 7710;
  member.state = MemberState::kDead;
  member.since = 1700000000;
  member.why = "silent for 5000 ms";
  MemberRows members;
  members.rows = {member, member};
  WriteSeed(dir, "reg_members_reply", FrameType::kRegMembersReply, 12, members);
  WriteSeed(dir, "dsm_acquire", FrameType::kDsmAcquire, 12, DsmAcquire{3, 17, DsmAccess::kRead, 8});
  WriteSeed(dir, "dsm_grant", FrameType::kDsmGrant, 12, DsmGrant{{3, 17, 1}, DsmAccess::kWrite});
  WriteSeed(dir, "dsm_fail", FrameType::kDsmFail, 12, DsmFail{{3, 17, 1}, 112});
  WriteSeed(dir, "dsm_recall", FrameType::kDsmRecall, 0,
            DsmRecall{{3, 0, 64}, DsmRecallMode::kDowngrade, 1});
  WriteSeed(dir, "dsm_ack", FrameType::kDsmRecallAck, 0, DsmRange{3, 0, 64});
  static const char page[kDsmPage] = {'x'};
  WriteSeed(dir, "dsm_data", FrameType::kDsmData, 0, DsmData{3, 17, std::string_view(page, kDsmPage)});
  WriteSeed(dir, "dsm_grant_data", FrameType::kDsmGrantData, 12,
            DsmGrantData{{{3, 17, 1}, DsmAccess::kRead}, std::string_view(page, kDsmPage)});
  WriteSeed(dir, "dsm_join", FrameType::kDsmJoin, 0, DsmJoin{3, 99, 1, 1});
  return 0;
}
#endif  // DIPC_FUZZ_SEED_WRITER
