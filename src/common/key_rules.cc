// Key rules as people read them (see key_rules.h).
#include "common/key_rules.h"

#include <fmt/format.h>

namespace dipc {

std::string format_key_rules(const Config::Distribute& d) {
  if (d.all_keyed) return "every key but IPC_PRIVATE (all_keyed)";
  if (d.keys.empty()) return "none (only calls with IPC_DIPC)";
  std::string out;
  for (const auto& r : d.keys) {
    if (!out.empty()) out += ", ";
    if (r.lo == r.hi)
      out += fmt::format("{} ({:#x})", r.lo, r.lo);
    else
      out += fmt::format("{}-{} ({:#x}-{:#x})", r.lo, r.hi, r.lo, r.hi);
  }
  return out;
}

std::string check_key_list(const std::string& list) {
  if (list.find('\0') != std::string::npos) return "a NUL byte in the list";
  keys::KeyRange ranges[keys::kMaxRanges];
  size_t n = 0, bad = 0, bad_len = 0;
  keys::ParseError e = keys::parse_list(list.c_str(), ranges, keys::kMaxRanges, &n, &bad, &bad_len);
  if (e == keys::ParseError::kNone) return {};
  if (e == keys::ParseError::kTooMany)
    return fmt::format("more than {} keys and ranges (use ranges)", keys::kMaxRanges);
  return fmt::format(
      "'{}': {} (a list is KEY or LO-HI items separated by commas, keys "
      "1..0xffffffff in decimal or 0x hex, no spaces)",
      list.substr(bad, bad_len), keys::describe(e));
}

}  // namespace dipc
