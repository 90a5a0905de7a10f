// Bytes: the data of a call (message text, sembufs, a reply's text) on its way through
// dipcd, owned, and able to be the tail of a received frame's payload without a copy.
//
// A request's data comes last in its frame, so the owner can take the frame's payload as the
// data's buffer (tail_of) and hand it on: to the owner's system call, or to the next link as
// an OutFrame's body. What precedes the data in that buffer (the frame's fixed fields, no
// longer needed) is headroom: with_prefix() writes a few bytes there, so that msgsnd gets
// the contiguous `long mtype; char text[]` it wants without the text being copied.
//
// Not thread-safe; a Bytes belongs to one call, which one thread handles at a time.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace dipc::daemon {

class Bytes {
 public:
  Bytes() = default;
  // A copy of s (small data: encoded stat structures, tests).
  Bytes(std::string_view s) : buf_(s.begin(), s.end()) {}
  Bytes(const std::string& s) : Bytes(std::string_view(s)) {}
  Bytes(const char* s) : Bytes(std::string_view(s)) {}

  // The bytes of buf from offset `from` on, without a copy; buf's first `from` bytes become
  // headroom. from > buf.size() gives an empty value.
  static Bytes tail_of(std::vector<uint8_t>&& buf, size_t from) {
    Bytes b;
    b.from_ = from <= buf.size() ? from : buf.size();
    b.buf_ = std::move(buf);
    return b;
  }

  const char* data() const { return reinterpret_cast<const char*>(buf_.data()) + from_; }
  char* mutable_data() { return reinterpret_cast<char*>(buf_.data()) + from_; }
  size_t size() const { return buf_.size() - from_; }
  bool empty() const { return size() == 0; }
  std::string_view view() const { return {data(), size()}; }
  operator std::string_view() const { return view(); }
  std::string str() const { return std::string(view()); }
  bool operator==(std::string_view s) const { return view() == s; }

  // Writes n bytes just before the data and returns where they start (the data follows
  // them), or nullptr when the headroom is shorter than n. The headroom is scratch space,
  // not part of the value, hence const.
  char* with_prefix(const void* p, size_t n) const {
    if (from_ < n) return nullptr;
    char* at = reinterpret_cast<char*>(buf_.data()) + from_ - n;
    std::memcpy(at, p, n);
    return at;
  }

 private:
  mutable std::vector<uint8_t> buf_;  // mutable for the headroom only
  size_t from_ = 0;
};

}  // namespace dipc::daemon
