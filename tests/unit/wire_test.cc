// Unit tests for the wire format (src/proto/wire.h).
//
// The encoding is pinned byte by byte: every expected array below is written by hand from
// the field order of the protocol, never produced by the encoder, so a reordered field, a
// wrong width or a little-endian write fails here before it reaches a peer running another
// build. The decoder is checked to refuse every malformed input it can meet: cut short,
// too long, oversized lengths and out-of-range enumerations.
#include "proto/wire.h"

#include "proto/admin_rows.h"
#include "wire_test_util.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dipc::proto {
namespace {


static_assert(kHeaderSize == 20);
static_assert(IpcStat::kSize == 80);
static_assert(OpReply::kFixedSize == 24);

// Every buffer too small for the payload must leave the writer failed.
template <class T>
void ExpectEveryShortBufferFails(const T& m, size_t full) {
  for (size_t cap = 0; cap < full; ++cap) {
    Bytes buf(cap + 1);
    Writer w(buf.data(), cap);
    m.encode(w);
    EXPECT_FALSE(w.ok()) << "encoded into " << cap << " of " << full << " bytes";
    EXPECT_LE(w.size(), cap);
  }
  Bytes buf(full);
  Writer w(buf.data(), full);
  m.encode(w);
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(w.size(), full);
}

Bytes Concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A u32 length prefix (big-endian) followed by n copies of c.
Bytes Blob(uint32_t n, char c = 'x') {
  Bytes b = {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
  b.insert(b.end(), n, uint8_t(c));
  return b;
}

// ---- header --------------------------------------------------------------------------------

TEST(WireHeader, EncodesExactBytes) {
  Header h;
  h.type = FrameType::kOp;
  h.request_id = 0x0102030405060708ull;
  h.length = 0x000A0B0C;
  uint8_t out[kHeaderSize];
  encode_header(h, out);
  const Bytes expected = {
      0x44, 0x49, 0x50, 0x43,                          // magic "DIPC"
      0x00, 0x01,                                      // version 1
      0x00, 0x01,                                      // type kOp
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // request id
      0x00, 0x0A, 0x0B, 0x0C,                          // payload length
  };
  EXPECT_EQ(Bytes(out, out + kHeaderSize), expected);

  Header back;
  ASSERT_EQ(decode_header(out, back), HeaderError::kNone);
  EXPECT_EQ(back.version, kProtocolVersion);
  EXPECT_EQ(back.type, FrameType::kOp);
  EXPECT_EQ(back.request_id, 0x0102030405060708ull);
  EXPECT_EQ(back.length, 0x000A0B0Cu);
}

TEST(WireHeader, EncodesHighBitsWithoutSignExtension) {
  Header h;
  h.type = FrameType::kAdminReply;
  h.request_id = 0xFEDCBA9876543210ull;
  h.length = kMaxPayload;  // 0x00101000
  uint8_t out[kHeaderSize];
  encode_header(h, out);
  const Bytes expected = {
      0x44, 0x49, 0x50, 0x43, 0x00, 0x01, 0x00, 0x29,  // magic, version, type 41
      0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,  // request id
      0x00, 0x10, 0x10, 0x00,                          // length 1 MiB + 4096
  };
  EXPECT_EQ(Bytes(out, out + kHeaderSize), expected);
  Header back;
  ASSERT_EQ(decode_header(out, back), HeaderError::kNone);
  EXPECT_EQ(back.type, FrameType::kAdminReply);
  EXPECT_EQ(back.request_id, 0xFEDCBA9876543210ull);
  EXPECT_EQ(back.length, kMaxPayload);
}

TEST(WireHeader, FrameTypeNumbersArePinned) {
  // These numbers are the protocol: renumbering one breaks every mixed-version cluster.
  EXPECT_EQ(uint16_t(FrameType::kOp), 1);
  EXPECT_EQ(uint16_t(FrameType::kOpReply), 2);
  EXPECT_EQ(uint16_t(FrameType::kCancel), 3);
  EXPECT_EQ(uint16_t(FrameType::kRequeue), 4);
  EXPECT_EQ(uint16_t(FrameType::kTaken), 5);
  EXPECT_EQ(uint16_t(FrameType::kHello), 10);
  EXPECT_EQ(uint16_t(FrameType::kHelloAck), 11);
  EXPECT_EQ(uint16_t(FrameType::kHeartbeat), 12);
  EXPECT_EQ(uint16_t(FrameType::kProcExit), 13);
  EXPECT_EQ(uint16_t(FrameType::kAuth), 14);
  EXPECT_EQ(uint16_t(FrameType::kSealed), 15);
  EXPECT_EQ(uint16_t(FrameType::kRegLookup), 20);
  EXPECT_EQ(uint16_t(FrameType::kRegReply), 21);
  EXPECT_EQ(uint16_t(FrameType::kRegCommit), 22);
  EXPECT_EQ(uint16_t(FrameType::kRegAbort), 23);
  EXPECT_EQ(uint16_t(FrameType::kRegRemove), 24);
  EXPECT_EQ(uint16_t(FrameType::kRegRemoved), 25);
  EXPECT_EQ(uint16_t(FrameType::kRegList), 26);
  EXPECT_EQ(uint16_t(FrameType::kRegListReply), 27);
  EXPECT_EQ(uint16_t(FrameType::kRegHold), 28);
  EXPECT_EQ(uint16_t(FrameType::kRegMembers), 34);
  EXPECT_EQ(uint16_t(FrameType::kRegMembersReply), 35);
  EXPECT_EQ(uint16_t(FrameType::kAdmin), 40);
  EXPECT_EQ(uint16_t(FrameType::kAdminReply), 41);
  EXPECT_EQ(uint16_t(FrameType::kAdminMore), 42);
  EXPECT_EQ(uint16_t(FrameType::kAdminRows), 43);
  // Shared memory (pinned with their payloads in dsm_wire_test.cc): 50..59.
  EXPECT_EQ(uint16_t(FrameType::kDsmGrantData), 59);
  int known = 0;
  for (uint32_t t = 0; t <= 0xFFFF; ++t) known += is_known_frame_type(uint16_t(t));
  EXPECT_EQ(known, 26 + 10);
}

// A valid header's bytes, to be damaged by the rejection tests.
Bytes ValidHeader() {
  return {
      0x44, 0x49, 0x50, 0x43,                          // magic
      0x00, 0x01,                                      // version
      0x00, 0x0A,                                      // kHello
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // request id 5
      0x00, 0x00, 0x00, 0x10,                          // length 16
  };
}

HeaderError DecodeHeader(const Bytes& b) {
  Header h;
  return decode_header(b.data(), h);
}

TEST(WireHeader, AcceptsEveryKnownType) {
  for (uint32_t t = 0; t <= 0xFFFF; ++t) {
    Bytes b = ValidHeader();
    b[6] = uint8_t(t >> 8);
    b[7] = uint8_t(t);
    Header h;
    HeaderError e = decode_header(b.data(), h);
    if (is_known_frame_type(uint16_t(t))) {
      EXPECT_EQ(e, HeaderError::kNone) << t;
      EXPECT_EQ(uint16_t(h.type), t);
      EXPECT_EQ(h.request_id, 5u);
      EXPECT_EQ(h.length, 16u);
    } else {
      EXPECT_EQ(e, HeaderError::kBadType) << t;
    }
  }
}

TEST(WireHeader, RejectsBadMagic) {
  for (size_t i = 0; i < 4; ++i) {
    Bytes b = ValidHeader();
    b[i] ^= 0x20;  // "dIPC", "DiPC", ...
    EXPECT_EQ(DecodeHeader(b), HeaderError::kBadMagic) << i;
  }
  // Little-endian magic is not the magic.
  Bytes b = ValidHeader();
  b[0] = 0x43, b[1] = 0x50, b[2] = 0x49, b[3] = 0x44;
  EXPECT_EQ(DecodeHeader(b), HeaderError::kBadMagic);
}

TEST(WireHeader, RejectsBadVersion) {
  for (uint16_t v : {0, 2, 0x0100, 0xFFFF}) {
    Bytes b = ValidHeader();
    b[4] = uint8_t(v >> 8);
    b[5] = uint8_t(v);
    EXPECT_EQ(DecodeHeader(b), HeaderError::kBadVersion) << v;
  }
}

TEST(WireHeader, RejectsUnknownType) {
  for (uint16_t t : {0, 6, 9, 16, 19, 29, 39, 44, 0x0100, 0xFFFF}) {
    Bytes b = ValidHeader();
    b[6] = uint8_t(t >> 8);
    b[7] = uint8_t(t);
    EXPECT_EQ(DecodeHeader(b), HeaderError::kBadType) << t;
  }
}

TEST(WireHeader, RejectsPayloadLongerThanTheCap) {
  auto with_length = [](uint32_t n) {
    Bytes b = ValidHeader();
    b[16] = uint8_t(n >> 24), b[17] = uint8_t(n >> 16), b[18] = uint8_t(n >> 8);
    b[19] = uint8_t(n);
    return b;
  };
  EXPECT_EQ(DecodeHeader(with_length(0)), HeaderError::kNone);
  EXPECT_EQ(DecodeHeader(with_length(kMaxPayload)), HeaderError::kNone);
  EXPECT_EQ(DecodeHeader(with_length(kMaxPayload + 1)), HeaderError::kTooLong);
  EXPECT_EQ(DecodeHeader(with_length(0x80000000u)), HeaderError::kTooLong);
  EXPECT_EQ(DecodeHeader(with_length(0xFFFFFFFFu)), HeaderError::kTooLong);
}

TEST(WireHeader, ChecksMagicFirst) {
  Bytes b(kHeaderSize, 0xFF);  // bad magic, version, type and length at once
  EXPECT_EQ(DecodeHeader(b), HeaderError::kBadMagic);
  b = ValidHeader();
  b[5] = 9;     // bad version
  b[7] = 0x63;  // and unknown type
  EXPECT_EQ(DecodeHeader(b), HeaderError::kBadVersion);
}

TEST(WireHeader, EveryErrorHasItsOwnText) {
  std::vector<std::string> texts;
  for (HeaderError e : {HeaderError::kNone, HeaderError::kBadMagic, HeaderError::kBadVersion,
                        HeaderError::kBadType, HeaderError::kTooLong}) {
    ASSERT_NE(header_error_text(e), nullptr);
    std::string t = header_error_text(e);
    EXPECT_FALSE(t.empty());
    for (const auto& other : texts) EXPECT_NE(t, other);
    texts.push_back(t);
  }
}

// ---- OpRequest -----------------------------------------------------------------------------

OpRequest SampleOpRequest() {
  OpRequest m;
  m.kind = Kind::kSem;
  m.op = Op::kSemOp;
  m.id = 0x11223344;
  m.key = -2;
  m.flags = 0x180;
  m.arg1 = 0x0102030405060708;
  m.arg2 = -1;
  m.arg3 = 16;
  m.user = "bob";
  m.pid = 0x1234;
  m.data = "xy";
  return m;
}

const Bytes kOpRequestBytes = {
    0x02,                                            // kind kSem
    0x05,                                            // op kSemOp
    0x11, 0x22, 0x33, 0x44,                          // id
    0xFF, 0xFF, 0xFF, 0xFE,                          // key -2
    0x00, 0x00, 0x01, 0x80,                          // flags
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // arg1
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // arg2 -1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,  // arg3
    0x00, 0x00, 0x00, 0x03, 'b',  'o',  'b',         // user
    0x00, 0x00, 0x12, 0x34,                          // pid
    0x00, 0x00, 0x00, 0x02, 'x',  'y',               // data
};

TEST(WireOpRequest, EncodesExactBytes) {
  EXPECT_EQ(Encode(SampleOpRequest()), kOpRequestBytes);
  EXPECT_EQ(SampleOpRequest().fixed_size(), kOpRequestBytes.size() - 2);
}

TEST(WireOpRequest, DecodesBack) {
  OpRequest m;
  ASSERT_TRUE(Decode(kOpRequestBytes, m));
  EXPECT_EQ(m.kind, Kind::kSem);
  EXPECT_EQ(m.op, Op::kSemOp);
  EXPECT_EQ(m.id, 0x11223344);
  EXPECT_EQ(m.key, -2);
  EXPECT_EQ(m.flags, 0x180);
  EXPECT_EQ(m.arg1, 0x0102030405060708);
  EXPECT_EQ(m.arg2, -1);
  EXPECT_EQ(m.arg3, 16);
  EXPECT_EQ(m.user, "bob");
  EXPECT_EQ(m.pid, 0x1234);
  EXPECT_EQ(m.data, "xy");
  // Views point into the reader's buffer, not into a copy.
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(m.data.data()), kOpRequestBytes.data() + 53);
}

TEST(WireOpRequest, FixedPartPlusRawDataEqualsEncode) {
  for (std::string_view data : {std::string_view(), std::string_view("xy"),
                                std::string_view("a longer message text\0with a nul", 32)}) {
    OpRequest m = SampleOpRequest();
    m.data = data;
    Bytes buf(m.fixed_size() + data.size());
    Writer w(buf.data(), buf.size());
    m.encode_fixed(w);
    EXPECT_EQ(w.size(), m.fixed_size());
    w.raw(data.data(), data.size());
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(buf, Encode(m));
  }
}

TEST(WireOpRequest, EmptyStringsAndExtremes) {
  OpRequest m;
  m.kind = Kind::kShm;
  m.op = Op::kShmCtl;
  m.id = INT32_MIN;
  m.key = INT32_MAX;
  m.arg1 = INT64_MIN;
  m.arg2 = INT64_MAX;
  const Bytes expected = {
      0x03, 0x07,                                      // kind, op
      0x80, 0x00, 0x00, 0x00,                          // id
      0x7F, 0xFF, 0xFF, 0xFF,                          // key
      0x00, 0x00, 0x00, 0x00,                          // flags
      0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // arg1
      0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // arg2
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // arg3
      0x00, 0x00, 0x00, 0x00,                          // user ""
      0x00, 0x00, 0x00, 0x00,                          // pid
      0x00, 0x00, 0x00, 0x00,                          // data ""
  };
  EXPECT_EQ(Encode(m), expected);
  OpRequest back;
  ASSERT_TRUE(Decode(expected, back));
  EXPECT_EQ(back.id, INT32_MIN);
  EXPECT_EQ(back.key, INT32_MAX);
  EXPECT_EQ(back.arg1, INT64_MIN);
  EXPECT_EQ(back.arg2, INT64_MAX);
  EXPECT_TRUE(back.user.empty());
  EXPECT_TRUE(back.data.empty());
}

TEST(WireOpRequest, RejectsTruncationAndTrailingBytes) {
  ExpectEveryTruncationRejected<OpRequest>(kOpRequestBytes);
  EXPECT_FALSE(Decodes<OpRequest>(Concat(kOpRequestBytes, {0})));
  EXPECT_FALSE(Decodes<OpRequest>(Concat(kOpRequestBytes, Bytes(100, 0))));
}

TEST(WireOpRequest, RejectsInvalidKindAndOp) {
  for (uint8_t k : {0, 4, 0x80, 0xFF}) {
    Bytes b = kOpRequestBytes;
    b[0] = k;
    EXPECT_FALSE(Decodes<OpRequest>(b)) << int(k);
  }
  for (uint8_t o : {0, 8, 0x80, 0xFF}) {
    Bytes b = kOpRequestBytes;
    b[1] = o;
    EXPECT_FALSE(Decodes<OpRequest>(b)) << int(o);
  }
  for (uint8_t k = 1; k <= 3; ++k) {
    for (uint8_t o = 1; o <= 7; ++o) {
      Bytes b = kOpRequestBytes;
      b[0] = k;
      b[1] = o;
      EXPECT_TRUE(Decodes<OpRequest>(b)) << int(k) << " " << int(o);
    }
  }
}

// The fixed fields before user: kind, op, id, key, flags, arg1..3.
const Bytes kOpRequestHead = Concat({0x01, 0x02, 0, 0, 0, 1, 0, 0, 0, 2}, Bytes(4 + 24, 0));

Bytes OpRequestWithUser(std::string_view user) {
  Bytes u = {0, 0, 0, uint8_t(user.size())};
  u.insert(u.end(), user.begin(), user.end());
  return Concat(Concat(Concat(kOpRequestHead, u), {0, 0, 0, 7}), Blob(0));
}

// The caller's login name is looked up as a C string at the owner: it is checked first.
TEST(WireOpRequest, RejectsLoginNamesThatAreNotNames) {
  using namespace std::string_view_literals;
  for (auto bad : {"root\0"sv, "\0root"sv, "ro\0ot"sv, "root "sv, " root"sv, "a/b"sv, "a:b"sv,
                   "-root"sv, "$"sv, "a$b"sv, "r\xc3\xb6ot"sv, "a\nb"sv, "a,b"sv})
    EXPECT_FALSE(Decodes<OpRequest>(OpRequestWithUser(bad))) << bad;
  for (auto good : {"root"sv, "nobody"sv, "alice.smith"sv, "web-1"sv, "_svc"sv, "HOST$"sv,
                    "bob@example.org"sv, "x"sv})
    EXPECT_TRUE(Decodes<OpRequest>(OpRequestWithUser(good))) << good;
  EXPECT_TRUE(Decodes<OpRequest>(OpRequestWithUser("")));  // from a local process
}

TEST(WireNames, NodeNamesAndAddresses) {
  using namespace std::string_view_literals;
  EXPECT_TRUE(is_valid_node_name("node1"));
  EXPECT_TRUE(is_valid_node_name(std::string(kMaxNodeName, 'n')));
  EXPECT_FALSE(is_valid_node_name(std::string(kMaxNodeName + 1, 'n')));
  for (auto bad : {""sv, "node1\0"sv, "node 1"sv, "n/1"sv, "n,1"sv, "n@1"sv})
    EXPECT_FALSE(is_valid_node_name(bad)) << bad;
  for (auto good : {""sv, "127.0.0.1"sv, "::1"sv, "fe80::1"sv, "referee.example.org"sv})
    EXPECT_TRUE(is_valid_address(good)) << good;
  for (auto bad : {"1.2.3.4\0"sv, "a b"sv, "a/b"sv}) EXPECT_FALSE(is_valid_address(bad)) << bad;
}

TEST(WireOpRequest, RejectsOversizedLengths) {
  const Bytes pid = {0, 0, 0, 7};
  // At the caps: accepted.
  EXPECT_TRUE(Decodes<OpRequest>(
      Concat(Concat(Concat(kOpRequestHead, Blob(kMaxLoginName)), pid), Blob(kMaxData))));
  // User longer than a login name may be, or than kMaxName, though every byte is present.
  EXPECT_FALSE(Decodes<OpRequest>(
      Concat(Concat(Concat(kOpRequestHead, Blob(kMaxLoginName + 1)), pid), Blob(0))));
  EXPECT_FALSE(
      Decodes<OpRequest>(Concat(Concat(Concat(kOpRequestHead, Blob(kMaxName + 1)), pid), Blob(0))));
  // Data longer than kMaxData, though every byte is present.
  EXPECT_FALSE(
      Decodes<OpRequest>(Concat(Concat(Concat(kOpRequestHead, Blob(0)), pid), Blob(kMaxData + 1))));
  // Lengths larger than what is left.
  Bytes b = Concat(Concat(Concat(kOpRequestHead, Blob(0)), pid), Blob(4));
  b.resize(b.size() - 1);
  EXPECT_FALSE(Decodes<OpRequest>(b));
  EXPECT_FALSE(Decodes<OpRequest>(Concat(kOpRequestHead, {0xFF, 0xFF, 0xFF, 0xFF, 'a'})));
  EXPECT_FALSE(Decodes<OpRequest>(
      Concat(Concat(Concat(kOpRequestHead, Blob(0)), pid), {0xFF, 0xFF, 0xFF, 0xFF, 'a'})));
}

TEST(WireOpRequest, WriterOverflowFails) {
  ExpectEveryShortBufferFails(SampleOpRequest(), kOpRequestBytes.size());
}

// ---- OpReply -------------------------------------------------------------------------------

const Bytes kOpReplyBytes = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // ret -1
    0x00, 0x00, 0x00, 0x0B,                          // err 11
    0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,  // aux
    0x00, 0x00, 0x00, 0x03, 'a',  'b',  'c',         // data
};

OpReply SampleOpReply() {
  OpReply m;
  m.ret = -1;
  m.err = 11;
  m.aux = 0x7FFFFFFFFFFFFFFE;
  m.data = "abc";
  return m;
}

TEST(WireOpReply, EncodesExactBytesAndDecodesBack) {
  EXPECT_EQ(Encode(SampleOpReply()), kOpReplyBytes);
  EXPECT_EQ(kOpReplyBytes.size(), OpReply::kFixedSize + 3);
  OpReply m;
  ASSERT_TRUE(Decode(kOpReplyBytes, m));
  EXPECT_EQ(m.ret, -1);
  EXPECT_EQ(m.err, 11);
  EXPECT_EQ(m.aux, 0x7FFFFFFFFFFFFFFE);
  EXPECT_EQ(m.data, "abc");
}

TEST(WireOpReply, Rejections) {
  ExpectEveryTruncationRejected<OpReply>(kOpReplyBytes);
  EXPECT_FALSE(Decodes<OpReply>(Concat(kOpReplyBytes, {0})));
  const Bytes head(20, 0);
  EXPECT_TRUE(Decodes<OpReply>(Concat(head, Blob(kMaxData))));
  EXPECT_FALSE(Decodes<OpReply>(Concat(head, Blob(kMaxData + 1))));
  EXPECT_FALSE(Decodes<OpReply>(Concat(head, {0, 0, 0, 4, 'a', 'b', 'c'})));
  EXPECT_FALSE(Decodes<OpReply>(Concat(head, {0xFF, 0xFF, 0xFF, 0xFF})));
  ExpectEveryShortBufferFails(SampleOpReply(), kOpReplyBytes.size());
}

// ---- IpcStat -------------------------------------------------------------------------------

IpcStat SampleIpcStat() {
  IpcStat s;
  s.key = 0x12345678;
  s.uid = 1000;
  s.gid = 1001;
  s.cuid = 0;
  s.cgid = 0xFFFFFFFF;
  s.mode = 0666;
  s.otime = 0x65000000;
  s.ctime = 1;
  s.rtime = -2;
  s.cbytes = 0x100;
  s.qnum = 2;
  s.qbytes = 16384;
  s.lspid = 77;
  s.lrpid = 0x7FFFFFFF;
  return s;
}

const Bytes kIpcStatBytes = {
    0x12, 0x34, 0x56, 0x78,                          // key
    0x00, 0x00, 0x03, 0xE8,                          // uid 1000
    0x00, 0x00, 0x03, 0xE9,                          // gid 1001
    0x00, 0x00, 0x00, 0x00,                          // cuid
    0xFF, 0xFF, 0xFF, 0xFF,                          // cgid
    0x00, 0x00, 0x01, 0xB6,                          // mode 0666
    0x00, 0x00, 0x00, 0x00, 0x65, 0x00, 0x00, 0x00,  // otime
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // ctime
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,  // rtime -2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,  // cbytes
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  // qnum
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00,  // qbytes
    0x00, 0x00, 0x00, 0x4D,                          // lspid 77
    0x7F, 0xFF, 0xFF, 0xFF,                          // lrpid
};

TEST(WireIpcStat, EncodesExactBytesAndDecodesBack) {
  EXPECT_EQ(Encode(SampleIpcStat()), kIpcStatBytes);
  EXPECT_EQ(kIpcStatBytes.size(), IpcStat::kSize);
  IpcStat s;
  ASSERT_TRUE(Decode(kIpcStatBytes, s));
  EXPECT_EQ(s.key, 0x12345678);
  EXPECT_EQ(s.uid, 1000u);
  EXPECT_EQ(s.gid, 1001u);
  EXPECT_EQ(s.cuid, 0u);
  EXPECT_EQ(s.cgid, 0xFFFFFFFFu);
  EXPECT_EQ(s.mode, 0666u);
  EXPECT_EQ(s.otime, 0x65000000);
  EXPECT_EQ(s.ctime, 1);
  EXPECT_EQ(s.rtime, -2);
  EXPECT_EQ(s.cbytes, 0x100u);
  EXPECT_EQ(s.qnum, 2u);
  EXPECT_EQ(s.qbytes, 16384u);
  EXPECT_EQ(s.lspid, 77);
  EXPECT_EQ(s.lrpid, 0x7FFFFFFF);
}

TEST(WireIpcStat, Rejections) {
  ExpectEveryTruncationRejected<IpcStat>(kIpcStatBytes);
  ExpectEveryShortBufferFails(SampleIpcStat(), kIpcStatBytes.size());
}

TEST(WireIpcStat, StopsAtItsEndAndLeavesTrailingBytesToTheCaller) {
  // Unlike the frame payloads, IpcStat::decode returns r.ok(), not r.done(): it accepts
  // trailing bytes and the caller must check at_end() (ipc_ops.cc decode_stat does).
  // This pins the current behaviour; see the report: the contract in wire.h says "fully
  // consumed".
  Bytes b = Concat(kIpcStatBytes, {0xAA});
  Reader r(b.data(), b.size());
  IpcStat s;
  EXPECT_TRUE(s.decode(r));
  EXPECT_FALSE(r.at_end());
  EXPECT_EQ(r.remaining(), 1u);
}

// ---- Hello / HelloAck ----------------------------------------------------------------------

const Bytes kHelloBytes = {
    0x00, 0x01,                        // version
    0x00, 0x00, 0x00, 0x02, 'n', '1',  // node
    0x1B, 0x58,                        // listen port 7000
    0, 0, 0, 0, 0, 0, 0x30, 0x39,      // incarnation 12345
};

TEST(WireHello, EncodesExactBytesAndDecodesBack) {
  Hello m;
  m.node = "n1";
  m.listen_port = 7000;
  m.incarnation = 12345;
  EXPECT_EQ(Encode(m), kHelloBytes);
  Hello back;
  ASSERT_TRUE(Decode(kHelloBytes, back));
  EXPECT_EQ(back.version, 1);
  EXPECT_EQ(back.node, "n1");
  EXPECT_EQ(back.listen_port, 7000);
  EXPECT_EQ(back.incarnation, 12345u);
  ExpectEveryShortBufferFails(m, kHelloBytes.size());
}

TEST(WireHello, CarriesAnyVersionForTheLinkToRefuse) {
  Bytes b = kHelloBytes;
  b[0] = 0x12, b[1] = 0x34;
  Hello m;
  ASSERT_TRUE(Decode(b, m));
  EXPECT_EQ(m.version, 0x1234);
}

TEST(WireHello, Rejections) {
  ExpectEveryTruncationRejected<Hello>(kHelloBytes);
  EXPECT_FALSE(Decodes<Hello>(Concat(kHelloBytes, {0})));
  // An empty node name.
  EXPECT_FALSE(Decodes<Hello>({0x00, 0x01, 0, 0, 0, 0, 0x1B, 0x58, 0, 0, 0, 0, 0, 0, 0, 1}));
  // Name at and over the cap.
  EXPECT_TRUE(Decodes<Hello>(Concat(Concat({0, 1}, Blob(kMaxNodeName)), {0, 1, 0, 0, 0, 0, 0, 0, 0, 1})));
  EXPECT_FALSE(Decodes<Hello>(Concat(Concat({0, 1}, Blob(kMaxNodeName + 1)), {0, 1, 0, 0, 0, 0, 0, 0, 0, 1})));
  EXPECT_FALSE(Decodes<Hello>(Concat(Concat({0, 1}, Blob(kMaxName + 1)), {0, 1, 0, 0, 0, 0, 0, 0, 0, 1})));
  // A name that is not a node name (a NUL, a space).
  EXPECT_FALSE(Decodes<Hello>({0x00, 0x01, 0, 0, 0, 2, 'n', 0, 0x1B, 0x58, 0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_FALSE(Decodes<Hello>({0x00, 0x01, 0, 0, 0, 2, 'n', ' ', 0x1B, 0x58, 0, 0, 0, 0, 0, 0, 0, 1}));
  // Name length larger than what is left.
  EXPECT_FALSE(Decodes<Hello>({0x00, 0x01, 0, 0, 0, 5, 'n', '1', 0x1B, 0x58, 0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_FALSE(Decodes<Hello>({0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 'n', '1', 0x1B, 0x58, 0, 0, 0, 0, 0, 0, 0, 1}));
}

const Bytes kHelloAckBytes = {
    0x00,                              // refused
    0x00, 0x00, 0x00, 0x02, 'n', '2',  // node
    0x00, 0x00, 0x00, 0x02, 'n', 'o',  // reason
    0, 0, 0, 0, 0, 0, 0, 7,            // incarnation 7
};

TEST(WireHelloAck, EncodesExactBytesAndDecodesBack) {
  HelloAck m;
  m.accepted = 0;
  m.node = "n2";
  m.reason = "no";
  m.incarnation = 7;
  EXPECT_EQ(Encode(m), kHelloAckBytes);
  HelloAck back;
  ASSERT_TRUE(Decode(kHelloAckBytes, back));
  EXPECT_EQ(back.accepted, 0);
  EXPECT_EQ(back.node, "n2");
  EXPECT_EQ(back.reason, "no");
  EXPECT_EQ(back.incarnation, 7u);

  m.accepted = 1;
  m.reason = "";
  const Bytes accepted = {0x01, 0, 0, 0, 2, 'n', '2', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
  EXPECT_EQ(Encode(m), accepted);
  ASSERT_TRUE(Decode(accepted, back));
  EXPECT_EQ(back.accepted, 1);
  EXPECT_TRUE(back.reason.empty());
  ExpectEveryShortBufferFails(m, accepted.size());
}

TEST(WireHelloAck, Rejections) {
  ExpectEveryTruncationRejected<HelloAck>(kHelloAckBytes);
  EXPECT_FALSE(Decodes<HelloAck>(Concat(kHelloAckBytes, {0})));
  for (uint8_t a : {2, 0x80, 0xFF}) {
    Bytes b = kHelloAckBytes;
    b[0] = a;
    EXPECT_FALSE(Decodes<HelloAck>(b)) << int(a);
  }
  const Bytes run = {0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_TRUE(
      Decodes<HelloAck>(Concat(Concat(Concat({1}, Blob(kMaxNodeName)), Blob(kMaxName * 4)), run)));
  // Without the incarnation (an older dipcd's answer).
  EXPECT_FALSE(Decodes<HelloAck>(Concat(Concat({1}, Blob(kMaxNodeName)), Blob(kMaxName * 4))));
  EXPECT_FALSE(Decodes<HelloAck>(Concat(Concat({1}, Blob(kMaxNodeName + 1)), Blob(0))));
  EXPECT_FALSE(Decodes<HelloAck>(Concat(Concat({1}, Blob(kMaxName + 1)), Blob(0))));
  EXPECT_FALSE(Decodes<HelloAck>(Concat(Concat({1}, Blob(1)), Blob(kMaxName * 4 + 1))));
  EXPECT_FALSE(Decodes<HelloAck>({0, 0, 0, 0, 2, 'n', '2', 0, 0, 0, 3, 'n', 'o'}));
}

// ---- RegRecord -----------------------------------------------------------------------------

RegRecord SampleRegRecord() {
  RegRecord m;
  m.kind = Kind::kMsg;
  m.key = 0xABCD;
  m.flags = 01000;  // IPC_CREAT
  m.status = RegStatus::kExists;
  m.err = 0;
  m.owner = "a";
  m.owner_addr = "10.0.0.1";
  m.owner_port = 8080;
  m.id = 0x00010002;
  m.mode = 0644;
  m.uid = 0;
  m.gid = 5;
  m.size = 0x100000000ull;
  m.holders = "b,c";
  return m;
}

const Bytes kRegRecordBytes = {
    0x01,                                                                // kind kMsg
    0x00, 0x00, 0xAB, 0xCD,                                              // key
    0x00, 0x00, 0x02, 0x00,                                              // flags IPC_CREAT
    0x02,                                                                // status kExists
    0x00, 0x00, 0x00, 0x00,                                              // err
    0x00, 0x00, 0x00, 0x01, 'a',                                         // owner
    0x00, 0x00, 0x00, 0x08, '1',  '0',  '.',  '0',  '.', '0', '.', '1',  // owner_addr
    0x1F, 0x90,                                                          // owner_port 8080
    0x00, 0x01, 0x00, 0x02,                                              // id
    0x00, 0x00, 0x01, 0xA4,                                              // mode 0644
    0x00, 0x00, 0x00, 0x00,                                              // uid
    0x00, 0x00, 0x00, 0x05,                                              // gid
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,                      // size
    0x00, 0x00, 0x00, 0x03, 'b',  ',',  'c',                             // holders
};

TEST(WireRegRecord, EncodesExactBytesAndDecodesBack) {
  EXPECT_EQ(Encode(SampleRegRecord()), kRegRecordBytes);
  RegRecord m;
  Reader r(kRegRecordBytes.data(), kRegRecordBytes.size());
  ASSERT_TRUE(m.decode(r));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(m.kind, Kind::kMsg);
  EXPECT_EQ(m.key, 0xABCD);
  EXPECT_EQ(m.flags, 01000);
  EXPECT_EQ(m.status, RegStatus::kExists);
  EXPECT_EQ(m.err, 0);
  EXPECT_EQ(m.owner, "a");
  EXPECT_EQ(m.owner_addr, "10.0.0.1");
  EXPECT_EQ(m.owner_port, 8080);
  EXPECT_EQ(m.id, 0x00010002);
  EXPECT_EQ(m.mode, 0644u);
  EXPECT_EQ(m.uid, 0u);
  EXPECT_EQ(m.gid, 5u);
  EXPECT_EQ(m.size, 0x100000000ull);
  EXPECT_EQ(m.holders, "b,c");
  ExpectEveryShortBufferFails(SampleRegRecord(), kRegRecordBytes.size());
}

TEST(WireRegRecord, LookupHasNoStatus) {
  // kRegLookup leaves status at zero; that must encode and decode.
  RegRecord m;
  m.kind = Kind::kShm;
  m.key = 7;
  m.flags = 03600;  // IPC_CREAT|IPC_EXCL|0600
  const Bytes expected = {
      0x03,                                            // kind kShm
      0x00, 0x00, 0x00, 0x07,                          // key
      0x00, 0x00, 0x07, 0x80,                          // flags
      0x00,                                            // status: none
      0x00, 0x00, 0x00, 0x00,                          // err
      0x00, 0x00, 0x00, 0x00,                          // owner ""
      0x00, 0x00, 0x00, 0x00,                          // owner_addr ""
      0x00, 0x00,                                      // owner_port
      0x00, 0x00, 0x00, 0x00,                          // id
      0x00, 0x00, 0x00, 0x00,                          // mode
      0x00, 0x00, 0x00, 0x00,                          // uid
      0x00, 0x00, 0x00, 0x00,                          // gid
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // size
      0x00, 0x00, 0x00, 0x00,                          // holders ""
  };
  EXPECT_EQ(Encode(m), expected);
  RegRecord back;
  ASSERT_TRUE(Decode(expected, back));
  EXPECT_EQ(back.kind, Kind::kShm);
  EXPECT_EQ(back.key, 7);
  EXPECT_EQ(back.flags, 03600);
  EXPECT_EQ(uint8_t(back.status), 0);
}

TEST(WireRegRecord, Rejections) {
  ExpectEveryTruncationRejected<RegRecord>(kRegRecordBytes);
  for (uint8_t k : {0, 4, 0xFF}) {
    Bytes b = kRegRecordBytes;
    b[0] = k;
    EXPECT_FALSE(Decodes<RegRecord>(b)) << int(k);
  }
  for (uint8_t s : {4, 0x80, 0xFF}) {
    Bytes b = kRegRecordBytes;
    b[9] = s;
    EXPECT_FALSE(Decodes<RegRecord>(b)) << int(s);
  }
  for (uint8_t s : {0, 1, 2, 3}) {
    Bytes b = kRegRecordBytes;
    b[9] = s;
    EXPECT_TRUE(Decodes<RegRecord>(b)) << int(s);
  }
  // kind key flags status err, then the strings and fixed fields.
  const Bytes head = {1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0};
  const Bytes mid(2 + 4 + 12 + 8, 0);  // port, id, mode uid gid, size
  auto rec = [&](uint32_t owner, uint32_t addr, uint32_t holders) {
    return Concat(Concat(Concat(Concat(head, Blob(owner)), Blob(addr)), mid), Blob(holders));
  };
  EXPECT_TRUE(Decodes<RegRecord>(rec(kMaxNodeName, kMaxName, 0)));
  EXPECT_FALSE(Decodes<RegRecord>(rec(kMaxNodeName + 1, 0, 0)));
  EXPECT_FALSE(Decodes<RegRecord>(rec(kMaxName + 1, 0, 0)));
  // Holders: node names separated by commas, up to kMaxText bytes.
  auto with_holders = [&](std::string_view h) {
    Bytes b = {0, 0, 0, 0};
    for (int i = 0; i < 4; ++i) b[3 - i] = uint8_t(h.size() >> (8 * i));
    b.insert(b.end(), h.begin(), h.end());
    return Concat(Concat(Concat(Concat(head, Blob(2)), Blob(0)), mid), b);
  };
  std::string many;
  while (many.size() + 3 <= kMaxText) many += many.empty() ? "n1" : ",n1";
  EXPECT_TRUE(Decodes<RegRecord>(with_holders(many)));
  EXPECT_TRUE(Decodes<RegRecord>(with_holders("node2,node3")));
  for (std::string_view bad : {",", "n1,", ",n1", "n1,,n2", "n 1"})
    EXPECT_FALSE(Decodes<RegRecord>(with_holders(bad))) << bad;
  EXPECT_FALSE(Decodes<RegRecord>(rec(0, kMaxName + 1, 0)));
  EXPECT_FALSE(Decodes<RegRecord>(rec(0, 0, kMaxText + 1)));
  EXPECT_FALSE(Decodes<RegRecord>(Concat(head, {0, 0, 0, 9, 'a'})));
  EXPECT_FALSE(Decodes<RegRecord>(Concat(head, {0xFF, 0xFF, 0xFF, 0xFF})));
}

TEST(WireRegRecord, RecordsFollowEachOtherInAList) {
  // kRegListReply is a u32 count and records read one after the other from one reader, so
  // RegRecord::decode checks ok(), not done(): trailing bytes are the next record. A single
  // record frame (kRegReply, kRegRemoved, kRegLookup...) therefore accepts trailing bytes
  // unless its caller checks at_end(); see the report.
  Bytes list = Concat(Concat({0, 0, 0, 2}, kRegRecordBytes), kRegRecordBytes);
  Reader r(list.data(), list.size());
  ASSERT_EQ(r.u32(), 2u);
  for (int i = 0; i < 2; ++i) {
    RegRecord m;
    ASSERT_TRUE(m.decode(r)) << i;
    EXPECT_EQ(m.owner_addr, "10.0.0.1");
  }
  EXPECT_TRUE(r.done());
}

// ---- ProcExit ------------------------------------------------------------------------------

TEST(WireProcExit, EncodesExactBytesAndDecodesBack) {
  ProcExit m;
  m.pid = 0x01020304;
  const Bytes expected = {0x01, 0x02, 0x03, 0x04};
  EXPECT_EQ(Encode(m), expected);
  ProcExit back;
  ASSERT_TRUE(Decode(expected, back));
  EXPECT_EQ(back.pid, 0x01020304);
  ExpectEveryShortBufferFails(m, expected.size());
}

TEST(WireProcExit, Rejections) {
  ExpectEveryTruncationRejected<ProcExit>({0, 0, 0, 1});
  EXPECT_TRUE(Decodes<ProcExit>({0, 0, 0, 1}));
  EXPECT_FALSE(Decodes<ProcExit>({0, 0, 0, 1, 0}));
  EXPECT_FALSE(Decodes<ProcExit>({0, 0, 0, 0}));              // pid 0
  EXPECT_FALSE(Decodes<ProcExit>({0xFF, 0xFF, 0xFF, 0xFF}));  // pid -1
  EXPECT_FALSE(Decodes<ProcExit>({0x80, 0x00, 0x00, 0x00}));
}

// ---- Admin / AdminReply --------------------------------------------------------------------

const Bytes kAdminBytes = {
    0x00, 0x00, 0x00, 0x02, 'r', 'm',  // command
    0x03,                              // kind kShm
    0xFF, 0xFF, 0xFF, 0xFF,            // key -1
};

TEST(WireAdmin, EncodesExactBytesAndDecodesBack) {
  Admin m;
  m.command = "rm";
  m.kind = Kind::kShm;
  m.key = -1;
  EXPECT_EQ(Encode(m), kAdminBytes);
  Admin back;
  ASSERT_TRUE(Decode(kAdminBytes, back));
  EXPECT_EQ(back.command, "rm");
  EXPECT_EQ(back.kind, Kind::kShm);
  EXPECT_EQ(back.key, -1);
  ExpectEveryShortBufferFails(m, kAdminBytes.size());

  // "ls" carries no kind: zero is allowed.
  Admin ls;
  ls.command = "ls";
  const Bytes ls_bytes = {0, 0, 0, 2, 'l', 's', 0, 0, 0, 0, 0};
  EXPECT_EQ(Encode(ls), ls_bytes);
  ASSERT_TRUE(Decode(ls_bytes, back));
  EXPECT_EQ(back.command, "ls");
  EXPECT_EQ(uint8_t(back.kind), 0);
}

TEST(WireAdmin, Rejections) {
  ExpectEveryTruncationRejected<Admin>(kAdminBytes);
  EXPECT_FALSE(Decodes<Admin>(Concat(kAdminBytes, {0})));
  for (uint8_t k : {4, 0x80, 0xFF}) {
    Bytes b = kAdminBytes;
    b[6] = k;
    EXPECT_FALSE(Decodes<Admin>(b)) << int(k);
  }
  const Bytes tail = {1, 0, 0, 0, 0};
  EXPECT_TRUE(Decodes<Admin>(Concat(Blob(kMaxAdminCommand), tail)));
  EXPECT_FALSE(Decodes<Admin>(Concat(Blob(kMaxAdminCommand + 1), tail)));
  EXPECT_FALSE(Decodes<Admin>({0, 0, 0, 7, 'r', 'm', 3, 0, 0, 0, 0}));
}

const Bytes kAdminReplyBytes = {
    0x00, 0x00, 0x00, 0x01,                  // err EPERM
    0x00, 0x00, 0x00, 0x03, 'o', 'k', '\n',  // text
};

TEST(WireAdminReply, EncodesExactBytesAndDecodesBack) {
  AdminReply m;
  m.err = 1;
  m.text = "ok\n";
  EXPECT_EQ(Encode(m), kAdminReplyBytes);
  AdminReply back;
  ASSERT_TRUE(Decode(kAdminReplyBytes, back));
  EXPECT_EQ(back.err, 1);
  EXPECT_EQ(back.text, "ok\n");
  ExpectEveryShortBufferFails(m, kAdminReplyBytes.size());
}

TEST(WireAdminReply, Rejections) {
  ExpectEveryTruncationRejected<AdminReply>(kAdminReplyBytes);
  EXPECT_FALSE(Decodes<AdminReply>(Concat(kAdminReplyBytes, {0})));
  EXPECT_TRUE(Decodes<AdminReply>(Concat({0, 0, 0, 0}, Blob(kMaxText))));
  EXPECT_FALSE(Decodes<AdminReply>(Concat({0, 0, 0, 0}, Blob(kMaxText + 1))));
  EXPECT_FALSE(Decodes<AdminReply>({0, 0, 0, 0, 0, 0, 0, 4, 'o', 'k', '\n'}));
}

// ---- Writer and Reader ---------------------------------------------------------------------

TEST(WireWriter, WritesBigEndian) {
  uint8_t buf[32];
  Writer w(buf, sizeof buf);
  w.u8(0xAB);
  w.u16(0x1234);
  w.i16(-2);
  w.u32(0xDEADBEEF);
  w.i32(-3);
  w.u64(0x0011223344556677ull);
  w.raw("z", 1);
  ASSERT_TRUE(w.ok());
  const Bytes expected = {0xAB, 0x12, 0x34, 0xFF, 0xFE, 0xDE, 0xAD, 0xBE, 0xEF, 0xFF, 0xFF,
                          0xFF, 0xFD, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 'z'};
  EXPECT_EQ(Bytes(buf, buf + w.size()), expected);
}

TEST(WireWriter, OverflowMarksFailedAndStaysFailed) {
  uint8_t buf[8] = {0};
  Writer w(buf, 3);
  w.u16(0x0102);
  EXPECT_TRUE(w.ok());
  w.u16(0x0304);  // one byte short
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.size(), 2u);
  w.u8(0x05);  // would fit, but the writer has failed
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(buf[2], 0);  // nothing written past the failure

  Writer z(nullptr, 0);
  z.raw(nullptr, 0);
  EXPECT_TRUE(z.ok());
  z.u8(1);
  EXPECT_FALSE(z.ok());

  // A blob whose bytes do not fit after its length.
  uint8_t small[6];
  Writer b(small, sizeof small);
  b.str("abc");
  EXPECT_FALSE(b.ok());
}

TEST(WireReader, FailureIsStickyAndReadsZero) {
  const uint8_t in[] = {0x01, 0x02, 0x03};
  Reader r(in, sizeof in);
  EXPECT_EQ(r.u16(), 0x0102);
  EXPECT_EQ(r.u16(), 0);  // one byte short
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.u8(), 0);  // would fit, but the reader has failed
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(r.done());
}

TEST(WireAuth, EncodingIsPinnedAndSizesAreChecked) {
  std::string nonce(32, '\x11'), mac(32, '\x22');
  Auth a{nonce, mac};
  Bytes out(100);
  Writer w(out.data(), out.size());
  a.encode(w);
  ASSERT_TRUE(w.ok());
  out.resize(w.size());
  Bytes want = {0x00, 0x00, 0x00, 0x20};
  want.insert(want.end(), 32, 0x11);
  for (uint8_t b : {0x00, 0x00, 0x00, 0x20}) want.push_back(b);
  want.insert(want.end(), 32, 0x22);
  EXPECT_EQ(out, want);
  Auth back;
  Reader r(out.data(), out.size());
  ASSERT_TRUE(back.decode(r));
  EXPECT_EQ(back.nonce, nonce);
  EXPECT_EQ(back.mac, mac);
  // A challenge (nonce only) is valid; a 31-byte MAC is not.
  Bytes challenge = {0, 0, 0, 32};
  challenge.insert(challenge.end(), 32, 0x11);
  for (uint8_t b : {0, 0, 0, 0}) challenge.push_back(b);
  Reader rc(challenge.data(), challenge.size());
  EXPECT_TRUE(back.decode(rc));
  Bytes short_mac = {0, 0, 0, 0, 0, 0, 0, 31};
  short_mac.insert(short_mac.end(), 31, 0x22);
  Reader rs(short_mac.data(), short_mac.size());
  EXPECT_FALSE(back.decode(rs));
}

// ---- listing rows (proto/admin_rows.h) -----------------------------------------------------

const Bytes kObjectRowBytes = {
    0x01,                                            // kind msg
    0x80, 0x00, 0x00, 0x01,                          // key 0x80000001
    0x00, 0x00, 0x00, 0x07,                          // id 7
    0x00, 0x00, 0x00, 0x05, 'n', 'o', 'd', 'e', '2',  // owner
    0x00, 0x00, 0x01, 0xB6,                          // mode 0666
    0x00, 0x00, 0x03, 0xE8,                          // uid 1000
    0x00, 0x00, 0x03, 0xE9,                          // gid 1001
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00,  // size 16384
    0x00, 0x00, 0x00, 0x05, 'n', 'o', 'd', 'e', '1',  // holders
    0x00, 0x00, 0x00, 0x00,                          // stat_err 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  // qnum 2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0B,  // cbytes 11
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // nattch 0
    0x00, 0x00, 0x01, 0x00,                          // lspid 256
    0x00, 0x00, 0x00, 0x00,                          // lrpid 0
    0x00, 0x00, 0x00, 0x00, 0x6A, 0x00, 0x00, 0x01,  // ctime
};

ObjectRow SampleRow() {
  ObjectRow m;
  m.kind = Kind::kMsg;
  m.key = int32_t(0x80000001u);
  m.id = 7;
  m.owner = "node2";
  m.mode = 0666;
  m.uid = 1000;
  m.gid = 1001;
  m.size = 16384;
  m.holders = "node1";
  m.qnum = 2;
  m.cbytes = 11;
  m.lspid = 256;
  m.ctime = 0x6A000001;
  return m;
}

TEST(WireObjectRow, EncodesExactBytesAndDecodesBack) {
  ObjectRow m = SampleRow();
  EXPECT_EQ(Encode(m), kObjectRowBytes);
  ObjectRow back;
  ASSERT_TRUE(Decode(kObjectRowBytes, back));
  EXPECT_EQ(back.kind, Kind::kMsg);
  EXPECT_EQ(uint32_t(back.key), 0x80000001u);
  EXPECT_EQ(back.owner, "node2");
  EXPECT_EQ(back.holders, "node1");
  EXPECT_EQ(back.qnum, 2u);
  EXPECT_EQ(back.cbytes, 11u);
  EXPECT_EQ(back.ctime, 0x6A000001);
  ExpectEveryShortBufferFails(m, kObjectRowBytes.size());
}

TEST(WireObjectRow, Rejections) {
  ExpectEveryTruncationRejected<ObjectRow>(kObjectRowBytes);
  Bytes b = kObjectRowBytes;
  b[0] = 4;  // no such kind
  EXPECT_FALSE(Decodes<ObjectRow>(b));
  b = kObjectRowBytes;
  b[13] = ' ';  // owner "no de2": not a node name
  EXPECT_FALSE(Decodes<ObjectRow>(b));
  b = kObjectRowBytes;
  b[39] = ',';  // holders "node,": a list with an empty name
  EXPECT_FALSE(Decodes<ObjectRow>(b));
  b = kObjectRowBytes;
  b[44] = 0x80;  // stat_err negative
  EXPECT_FALSE(Decodes<ObjectRow>(b));
}

TEST(WireAdminRows, CountThenRows) {
  AdminRows page;
  page.rows = {SampleRow(), SampleRow()};
  Bytes want = Concat(Concat({0, 0, 0, 2}, kObjectRowBytes), kObjectRowBytes);
  EXPECT_EQ(Encode(page), want);
  AdminRows back;
  ASSERT_TRUE(Decode(want, back));
  ASSERT_EQ(back.rows.size(), 2u);
  EXPECT_EQ(back.rows[1].owner, "node2");
  ExpectEveryTruncationRejected<AdminRows>(want);
  EXPECT_FALSE(Decodes<AdminRows>(Concat(want, {0})));             // trailing byte
  EXPECT_FALSE(Decodes<AdminRows>(Concat({0, 0, 0, 3}, Bytes(want.begin() + 4, want.end()))));
  // More than kMaxRowsPerPage rows is refused before any row is read.
  uint32_t n = kMaxRowsPerPage + 1;
  EXPECT_FALSE(Decodes<AdminRows>({uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)}));
  EXPECT_TRUE(Decodes<AdminRows>({0, 0, 0, 0}));
}

const Bytes kMemberRowBytes = {
    0x00, 0x00, 0x00, 0x05, 'n', 'o', 'd', 'e', '3',            // name
    0x00, 0x00, 0x00, 0x09, '1', '2', '7', '.', '0', '.', '0', '.', '1',  // address
    0x1E, 0x1E,                                                  // port 7710
    0x03,                                                        // state dead
    0x00, 0x00, 0x00, 0x00, 0x6A, 0x00, 0x00, 0x02,              // since
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,              // heard_ms -1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A,              // rtt_us 42
    0x00, 0x00, 0x00, 0x04, 'l', 'o', 's', 't',                  // why
};

MemberRow SampleMember() {
  MemberRow m;
  m.name = "node3";
  m.address = "127.0.0.1";
  m.port = 7710;
  m.state = MemberState::kDead;
  m.since = 0x6A000002;
  m.heard_ms = -1;
  m.rtt_us = 42;
  m.why = "lost";
  return m;
}

TEST(WireMemberRow, EncodesExactBytesAndDecodesBack) {
  MemberRow m = SampleMember();
  EXPECT_EQ(Encode(m), kMemberRowBytes);
  MemberRow back;
  ASSERT_TRUE(Decode(kMemberRowBytes, back));
  EXPECT_EQ(back.name, "node3");
  EXPECT_EQ(back.address, "127.0.0.1");
  EXPECT_EQ(back.port, 7710);
  EXPECT_EQ(back.state, MemberState::kDead);
  EXPECT_EQ(back.since, 0x6A000002);
  EXPECT_EQ(back.heard_ms, -1);
  EXPECT_EQ(back.rtt_us, 42);
  EXPECT_EQ(back.why, "lost");
  ExpectEveryShortBufferFails(m, kMemberRowBytes.size());
}

TEST(WireMemberRow, Rejections) {
  ExpectEveryTruncationRejected<MemberRow>(kMemberRowBytes);
  Bytes b = kMemberRowBytes;
  b[6] = ' ';  // name "no e3"
  EXPECT_FALSE(Decodes<MemberRow>(b));
  b = kMemberRowBytes;
  b[14] = '/';  // address "1/7.0.0.1"
  EXPECT_FALSE(Decodes<MemberRow>(b));
  b = kMemberRowBytes;
  b[24] = 4;  // no such state
  EXPECT_FALSE(Decodes<MemberRow>(b));
  b = kMemberRowBytes;
  b[33] = 0xFF, b[40] = 0xFE;  // heard_ms -2
  EXPECT_FALSE(Decodes<MemberRow>(b));
  b = kMemberRowBytes;
  b[b.size() - 1] = 0x1B;  // an escape character in why
  EXPECT_FALSE(Decodes<MemberRow>(b));
}

TEST(WireMemberRows, CountThenRows) {
  MemberRows all;
  all.rows = {SampleMember(), SampleMember()};
  Bytes want = Concat(Concat({0, 0, 0, 2}, kMemberRowBytes), kMemberRowBytes);
  EXPECT_EQ(Encode(all), want);
  MemberRows back;
  ASSERT_TRUE(Decode(want, back));
  ASSERT_EQ(back.rows.size(), 2u);
  ExpectEveryTruncationRejected<MemberRows>(want);
  EXPECT_FALSE(Decodes<MemberRows>(Concat(want, {0})));
  uint32_t n = kMaxMembers + 1;
  EXPECT_FALSE(Decodes<MemberRows>({uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)}));
  EXPECT_TRUE(Decodes<MemberRows>({0, 0, 0, 0}));
}

}  // namespace
}  // namespace dipc::proto

