// Unit tests for the DSM payloads (src/proto/dsm.h), pinned byte by byte like wire_test.cc:
// every expected array is written by hand from the field order, never by the encoder.
#include "proto/dsm.h"

#include <gtest/gtest.h>

#include <vector>

#include "wire_test_util.h"

namespace dipc::proto {
namespace {

template <class T>
void ExpectTruncationsAndTrailingRejected(const Bytes& full) {
  T m;
  ExpectEveryTruncationRejected<T>(full);
  Bytes longer = full;
  longer.push_back(0);
  EXPECT_FALSE(Decode(longer, m)) << "accepted a trailing byte";
}

TEST(DsmWire, FrameTypeNumbersArePinned) {
  EXPECT_EQ(uint16_t(FrameType::kDsmAcquire), 50);
  EXPECT_EQ(uint16_t(FrameType::kDsmGrant), 51);
  EXPECT_EQ(uint16_t(FrameType::kDsmFail), 52);
  EXPECT_EQ(uint16_t(FrameType::kDsmRecall), 53);
  EXPECT_EQ(uint16_t(FrameType::kDsmRecallAck), 54);
  EXPECT_EQ(uint16_t(FrameType::kDsmData), 55);
  EXPECT_EQ(uint16_t(FrameType::kDsmJoin), 56);
  EXPECT_EQ(uint16_t(FrameType::kDsmGone), 57);
  EXPECT_EQ(uint16_t(FrameType::kDsmDataToOwner), 58);
  EXPECT_EQ(uint16_t(FrameType::kDsmGrantData), 59);
  for (uint16_t t = 50; t <= 59; ++t) EXPECT_TRUE(is_known_frame_type(t)) << t;
  EXPECT_FALSE(is_known_frame_type(60));
  EXPECT_TRUE(is_dsm_frame_type(FrameType(69)));
  EXPECT_FALSE(is_dsm_frame_type(FrameType(70)));
  EXPECT_FALSE(is_dsm_frame_type(FrameType::kAdminReply));
}

TEST(DsmWire, Acquire) {
  DsmAcquire a{-2, 0x0102030405ull, DsmAccess::kWrite, 1};
  Bytes want = {0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x02, 0, 0, 0, 1};
  EXPECT_EQ(Encode(a), want);
  EXPECT_EQ(want.size(), DsmAcquire::kSize);
  DsmAcquire b;
  ASSERT_TRUE(Decode(want, b));
  EXPECT_EQ(b.seg, -2);
  EXPECT_EQ(b.page, 0x0102030405ull);
  EXPECT_EQ(b.access, DsmAccess::kWrite);
  ExpectTruncationsAndTrailingRejected<DsmAcquire>(want);
  for (uint8_t bad : {0, 3, 255}) {
    Bytes x = want;
    x[12] = bad;
    EXPECT_FALSE(Decode(x, b)) << int(bad);
  }
  // Read-ahead: several pages for reading, never for writing, at most kDsmMaxAhead.
  Bytes ahead = want;
  ahead[12] = 0x01;
  ahead[15] = 0x01;  // 256 pages: one chunk, the most a request may ask for
  ahead[16] = 0;
  ASSERT_TRUE(Decode(ahead, b));
  EXPECT_EQ(b.npages, 256u);
  ahead[16] = 1;  // 257
  EXPECT_FALSE(Decode(ahead, b));
  ahead[15] = 0;
  ahead[16] = 0;
  EXPECT_FALSE(Decode(ahead, b));
  Bytes wide = want;
  wide[16] = 2;
  EXPECT_FALSE(Decode(wide, b));
  Bytes huge = want;
  huge[4] = 0x80;  // a page beyond kDsmMaxPages
  EXPECT_FALSE(Decode(huge, b));
}

TEST(DsmWire, GrantFailRecallRange) {
  DsmGrant g{{7, 3, 256}, DsmAccess::kRead};
  Bytes want = {0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 1, 0, 0x01};
  EXPECT_EQ(Encode(g), want);
  EXPECT_EQ(want.size(), DsmGrant::kSize);
  DsmGrant g2;
  ASSERT_TRUE(Decode(want, g2));
  EXPECT_EQ(g2.range.first, 3u);
  EXPECT_EQ(g2.range.npages, 256u);
  ExpectTruncationsAndTrailingRejected<DsmGrant>(want);
  Bytes none = want;
  none[15] = 0;
  none[14] = 0;  // zero pages
  EXPECT_FALSE(Decode(none, g2));

  DsmFail f{{7, 3, 1}, 112};
  Bytes fwant = {0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 112};
  EXPECT_EQ(Encode(f), fwant);
  ExpectTruncationsAndTrailingRejected<DsmFail>(fwant);
  DsmFail f2;
  Bytes zero = fwant;
  zero.back() = 0;  // no errno
  EXPECT_FALSE(Decode(zero, f2));

  DsmRecall c{{7, 3, 1}, DsmRecallMode::kInvalidate, 1};
  Bytes cwant = {0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0x02, 0x01};
  EXPECT_EQ(Encode(c), cwant);
  ExpectTruncationsAndTrailingRejected<DsmRecall>(cwant);
  DsmRecall c2;
  for (auto [at, bad] : {std::pair<int, uint8_t>{16, 0}, {16, 3}, {17, 2}}) {
    Bytes x = cwant;
    x[size_t(at)] = bad;
    EXPECT_FALSE(Decode(x, c2));
  }

  DsmRange r{7, 3, 1};
  Bytes rwant = {0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1};
  EXPECT_EQ(Encode(r), rwant);
  ExpectTruncationsAndTrailingRejected<DsmRange>(rwant);
  DsmRange over{7, kDsmMaxPages - 1, 2};  // runs past the last page
  DsmRange r2;
  EXPECT_FALSE(Decode(Encode(over), r2));
}

TEST(DsmWire, Data) {
  Bytes page(kDsmPage, 0xAB);
  DsmData d{9, 5, std::string_view(reinterpret_cast<const char*>(page.data()), page.size())};
  Bytes enc = Encode(d);
  Bytes head = {0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0x10, 0x00};
  ASSERT_EQ(enc.size(), head.size() + kDsmPage);
  EXPECT_TRUE(std::equal(head.begin(), head.end(), enc.begin()));
  DsmData d2;
  ASSERT_TRUE(Decode(enc, d2));
  EXPECT_EQ(d2.first_page, 5u);
  EXPECT_EQ(d2.bytes.size(), kDsmPage);
  // Not whole pages, empty, or above the chunk cap: refused.
  Bytes odd = enc;
  odd.pop_back();
  odd[15] = 0xFF;
  EXPECT_FALSE(Decode(odd, d2));
  Bytes empty = head;
  empty[14] = empty[15] = 0;
  EXPECT_FALSE(Decode(empty, d2));
  Bytes big(kDsmMaxChunk + kDsmPage, 0);
  DsmData d3{9, 0, std::string_view(reinterpret_cast<const char*>(big.data()), big.size())};
  EXPECT_FALSE(Decode(Encode(d3), d2));
}

TEST(DsmWire, GrantData) {
  EXPECT_EQ(uint16_t(FrameType::kDsmGrantData), 59);
  Bytes pages(2 * kDsmPage, 0xCD);
  DsmGrantData g{{{9, 5, 2}, DsmAccess::kRead},
                 std::string_view(reinterpret_cast<const char*>(pages.data()), pages.size())};
  Bytes enc = Encode(g);
  Bytes head = {0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0x01, 0, 0, 0x20, 0x00};
  ASSERT_EQ(head.size(), DsmGrantData::kFixedSize);
  ASSERT_EQ(enc.size(), head.size() + 2 * kDsmPage);
  EXPECT_TRUE(std::equal(head.begin(), head.end(), enc.begin()));
  DsmGrantData g2;
  ASSERT_TRUE(Decode(enc, g2));
  EXPECT_EQ(g2.grant.range.first, 5u);
  EXPECT_EQ(g2.grant.range.npages, 2u);
  EXPECT_EQ(g2.grant.access, DsmAccess::kRead);
  EXPECT_EQ(g2.bytes.size(), 2 * kDsmPage);
  // The bytes must be exactly the granted pages.
  Bytes fewer = enc;
  fewer[15] = 3;  // three pages granted, two carried
  EXPECT_FALSE(Decode(fewer, g2));
  Bytes none = enc;
  none[15] = 0;
  EXPECT_FALSE(Decode(none, g2));
  Bytes access = enc;
  access[16] = 3;
  EXPECT_FALSE(Decode(access, g2));
  Bytes cut = enc;
  cut.pop_back();
  EXPECT_FALSE(Decode(cut, g2));
}

TEST(DsmWire, JoinAndLocal) {
  DsmJoin j{3, 4242, 1, 2};
  Bytes want = {0, 0, 0, 3, 0, 0, 0x10, 0x92, 0x01, 0, 0, 0, 2};
  EXPECT_EQ(Encode(j), want);
  ExpectTruncationsAndTrailingRejected<DsmJoin>(want);
  DsmJoin j2;
  Bytes nopid = want;
  nopid[6] = nopid[7] = 0;
  EXPECT_FALSE(Decode(nopid, j2));
  Bytes reshape = want;
  reshape[8] = kDsmJoinReshape;
  EXPECT_TRUE(Decode(reshape, j2));
  reshape[8] = 3;
  EXPECT_FALSE(Decode(reshape, j2));

  DsmLocalRequest q{DsmLocalOp::kRegister, 5, 010000, 0x7f0000001000ull, 8192, 1};
  Bytes qwant = {0x02, 0, 0, 0, 5, 0, 0, 0x10, 0, 0, 0, 0x7f, 0, 0, 0, 0x10, 0,
                 0,    0, 0, 0, 0, 0, 0x20, 0, 0x01};
  EXPECT_EQ(Encode(q), qwant);
  EXPECT_EQ(qwant.size(), DsmLocalRequest::kSize);
  ExpectTruncationsAndTrailingRejected<DsmLocalRequest>(qwant);
  DsmLocalRequest q2;
  Bytes badop = qwant;
  badop[0] = 7;
  EXPECT_FALSE(Decode(badop, q2));
  badop[0] = 6;  // kPiece, the last op
  EXPECT_TRUE(Decode(badop, q2));

  DsmLocalReply p{0, 4096, 2, 1};
  Bytes pwant = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 2, 1};
  EXPECT_EQ(Encode(p), pwant);
  ExpectTruncationsAndTrailingRejected<DsmLocalReply>(pwant);
  DsmLocalReply p2;
  Bytes threefds = pwant;
  threefds[12] = 3;
  EXPECT_FALSE(Decode(threefds, p2));
  Bytes badwhole = pwant;
  badwhole.back() = 2;
  EXPECT_FALSE(Decode(badwhole, p2));
}

TEST(DsmPieces, CutKeepsWhatIsLeftInOrder) {
  const DsmPiece whole[] = {{0x10000, 0x20000}};
  DsmPiece out[kDsmMaxPieces + 1];
  bool cut, split;
  // Inside: two pieces, a split.
  ASSERT_EQ(cut_pieces(whole, 1, 0x14000, 0x15000, out, &cut, &split), 2u);
  EXPECT_TRUE(cut && split);
  EXPECT_EQ(out[0], (DsmPiece{0x10000, 0x14000}));
  EXPECT_EQ(out[1], (DsmPiece{0x15000, 0x20000}));
  // Over the start, past the piece's start: one piece, a split (the vma is cut).
  ASSERT_EQ(cut_pieces(whole, 1, 0x8000, 0x11000, out, &cut, &split), 1u);
  EXPECT_TRUE(cut && split);
  EXPECT_EQ(out[0], (DsmPiece{0x11000, 0x20000}));
  // Over the whole of one of two pieces: dropped, no split.
  const DsmPiece two[] = {{0x10000, 0x14000}, {0x15000, 0x20000}};
  ASSERT_EQ(cut_pieces(two, 2, 0x14000, 0x15000 + 0xb000, out, &cut, &split), 1u);
  EXPECT_TRUE(cut);
  EXPECT_FALSE(split);
  EXPECT_EQ(out[0], (DsmPiece{0x10000, 0x14000}));
  // Beside it: nothing cut.
  ASSERT_EQ(cut_pieces(whole, 1, 0x20000, 0x21000, out, &cut, &split), 1u);
  EXPECT_FALSE(cut || split);
  EXPECT_EQ(out[0], whole[0]);
  // Over everything: nothing left.
  EXPECT_EQ(cut_pieces(two, 2, 0, 0x30000, out, &cut, &split), 0u);
  EXPECT_TRUE(cut);
}

}  // namespace
}  // namespace dipc::proto
