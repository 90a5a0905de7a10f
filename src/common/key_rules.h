// Key rules as people read them: the text `dipc status` shows for a node's [distribute]
// section and the check `dipc run --keys` makes before it hands a list to the shim.
// The rules themselves (parsing, matching, the bound) are in proto/key_rules.h, shared with
// the shim. Thread safety: pure functions.
#pragma once

#include <string>

#include "common/config.h"

namespace dipc {

// "none", "every key but IPC_PRIVATE (all_keyed)", or the keys and ranges, each in decimal
// and in hex as ipcs prints keys: "40 (0x28), 28672-28927 (0x7000-0x70ff)".
std::string format_key_rules(const Config::Distribute& d);

// Checks a DIPC_KEYS list ("40,0x7000-0x70ff"). Returns "" when it is valid, otherwise
// what is wrong, naming the offending item.
std::string check_key_list(const std::string& list);

}  // namespace dipc
