// Helpers of the wire unit tests (wire_test.cc, dsm_wire_test.cc): encoding a payload
// alone, decoding it from a buffer of exactly its size, and refusing every truncation.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "proto/wire.h"

namespace dipc::proto {

using Bytes = std::vector<uint8_t>;

// Encodes m alone into a fresh buffer of exactly the encoded size.
template <class T>
Bytes Encode(const T& m) {
  Bytes buf(kMaxPayload + 65536);
  Writer w(buf.data(), buf.size());
  m.encode(w);
  EXPECT_TRUE(w.ok());
  buf.resize(w.size());
  return buf;
}

// Decodes b as one payload; the vector is exactly b.size() bytes, so an over-read is a
// heap overflow that a sanitizer build reports.
template <class T>
bool Decode(const Bytes& b, T& m) {
  Reader r(b.data(), b.size());
  return m.decode(r);
}

template <class T>
bool Decodes(const Bytes& b) {
  T m;
  return Decode(b, m);
}

// Every strict prefix of a valid payload must be refused (and must not crash).
template <class T>
void ExpectEveryTruncationRejected(const Bytes& full) {
  for (size_t cut = 0; cut < full.size(); ++cut) {
    Bytes part(full.begin(), full.begin() + cut);
    EXPECT_FALSE(Decodes<T>(part))
        << "accepted a payload cut to " << cut << " of " << full.size() << " bytes";
  }
}

}  // namespace dipc::proto
