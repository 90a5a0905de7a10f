// Key rules: which System V keys are distributed without the IPC_DIPC flag.
//
// A rule set is a list of inclusive key ranges plus "all keyed" (every key but IPC_PRIVATE).
// It comes from two places: the node's [distribute] section of dipc.conf (published by dipcd
// in its id table, proto/id_table.h) and, per command, the environment variables that
// `dipc run --keys LIST` and `dipc run --all-keyed` set (DIPC_KEYS, DIPC_ALL_KEYED). A key
// is distributed when the call passes IPC_DIPC or either rule set names it.
//
// Keys are the 32-bit pattern of key_t, written unsigned as ipcs prints them: 1..0xffffffff
// in decimal or hex ("0x7000"). A list is items separated by commas, an item a key or an
// inclusive range "LO-HI". Key 0 is IPC_PRIVATE, never distributed: naming it alone is an
// error, a range that starts at 0 simply never matches it.
//
// Everything here is allocation free, lock free and libc free, so the shim can use it in
// any context (its constructor parses DIPC_KEYS with it); the daemon and the tools share it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dipc::keys {

// Bound on the ranges of one rule set (in dipc.conf, in DIPC_KEYS, in the published table).
inline constexpr size_t kMaxRanges = 256;

struct KeyRange {
  uint32_t lo = 0;
  uint32_t hi = 0;
  bool operator==(const KeyRange&) const = default;
};

enum class ParseError {
  kNone,
  kEmpty,      // an empty item ("40,,41", or nothing at all)
  kBadNumber,  // not a decimal or 0x-hex number
  kTooBig,     // above 0xffffffff
  kPrivate,    // key 0 (IPC_PRIVATE) named alone
  kReversed,   // LO greater than HI
  kTooMany,    // more than kMaxRanges items
};

inline const char* describe(ParseError e) {
  switch (e) {
    case ParseError::kNone:
      return "ok";
    case ParseError::kEmpty:
      return "empty item";
    case ParseError::kBadNumber:
      return "not a key (decimal, or hex as 0x...)";
    case ParseError::kTooBig:
      return "key above 0xffffffff";
    case ParseError::kPrivate:
      return "key 0 is IPC_PRIVATE, which is never distributed";
    case ParseError::kReversed:
      return "range LO-HI with LO greater than HI";
    case ParseError::kTooMany:
      return "more than 256 items";
  }
  return "?";
}

// One number in [s, e): decimal digits, or 0x/0X and hex digits; nothing else.
inline ParseError parse_number(const char* s, const char* e, uint32_t* out) {
  if (s == e) return ParseError::kEmpty;
  unsigned base = 10;
  if (e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  uint64_t v = 0;
  for (; s < e; ++s) {
    unsigned d;
    char c = *s;
    if (c >= '0' && c <= '9')
      d = unsigned(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = unsigned(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = unsigned(c - 'A' + 10);
    else
      return ParseError::kBadNumber;
    v = v * base + d;
    if (v > 0xffffffffull) return ParseError::kTooBig;
  }
  *out = uint32_t(v);
  return ParseError::kNone;
}

// One item in [s, e): "KEY" or "LO-HI", with no spaces.
inline ParseError parse_item(const char* s, const char* e, KeyRange* out) {
  if (s == e) return ParseError::kEmpty;
  const char* dash = s;
  while (dash < e && *dash != '-') ++dash;
  if (dash == e) {
    ParseError r = parse_number(s, e, &out->lo);
    if (r != ParseError::kNone) return r;
    if (out->lo == 0) return ParseError::kPrivate;
    out->hi = out->lo;
    return ParseError::kNone;
  }
  ParseError r = parse_number(s, dash, &out->lo);
  if (r == ParseError::kNone) r = parse_number(dash + 1, e, &out->hi);
  if (r == ParseError::kEmpty) return ParseError::kBadNumber;  // "-5", "5-": not a range
  if (r != ParseError::kNone) return r;
  if (out->lo > out->hi) return ParseError::kReversed;
  return ParseError::kNone;
}

// A comma-separated list, NUL-terminated. Fills out[0..*n). On error, *bad and *bad_len
// give the offending item (offset into s and its length).
inline ParseError parse_list(const char* s, KeyRange* out, size_t cap, size_t* n, size_t* bad,
                             size_t* bad_len) {
  *n = 0;
  const char* p = s;
  while (true) {
    const char* e = p;
    while (*e && *e != ',') ++e;
    ParseError r = *n == cap ? ParseError::kTooMany : parse_item(p, e, &out[*n]);
    if (r != ParseError::kNone) {
      *bad = size_t(p - s);
      *bad_len = size_t(e - p);
      return r;
    }
    ++*n;
    if (!*e) return ParseError::kNone;
    p = e + 1;
  }
}

// True when key (a key_t's bit pattern) falls in one of the ranges. Never IPC_PRIVATE.
inline bool in_ranges(const KeyRange* r, size_t n, uint32_t key) {
  if (key == 0) return false;
  for (size_t i = 0; i < n; ++i)
    if (key >= r[i].lo && key <= r[i].hi) return true;
  return false;
}

// The environment variables `dipc run` sets and the shim reads (docs/config.md).
inline constexpr const char* kEnvKeys = "DIPC_KEYS";           // a list, as above
inline constexpr const char* kEnvAllKeyed = "DIPC_ALL_KEYED";  // "1" on, "0" or unset off
// Strict mode (`dipc run --strict`): a distributed call that cannot reach dipcd fails with
// ENOLINK instead of falling back to the plain local call. "1" on, "0" or unset off.
inline constexpr const char* kEnvStrict = "DIPC_STRICT";

}  // namespace dipc::keys
