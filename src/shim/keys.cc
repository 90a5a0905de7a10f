// The command's key rules: DIPC_KEYS and DIPC_ALL_KEYED, and DIPC_STRICT, read once when the
// shim loads.
//
// A value that does not parse is reported on stderr and ignored as a whole (a warning, not
// an abort: with the shim in /etc/ld.so.preload one wrong variable must not stop every
// program on the machine). `dipc run` checks the list before it sets the variable.
#include "shim/keys.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/key_rules.h"

namespace dipc::shim {
namespace {

keys::KeyRange g_ranges[keys::kMaxRanges];
size_t g_count = 0;
bool g_all_keyed = false;
bool g_strict = false;

// Appends s to buf (bounded), for the warning.
void append(char* buf, size_t cap, size_t* len, const char* s, size_t n) {
  while (n-- > 0 && *len + 1 < cap) buf[(*len)++] = *s++;
  buf[*len] = 0;
}
void append(char* buf, size_t cap, size_t* len, const char* s) {
  append(buf, cap, len, s, strlen(s));
}

void warn(const char* var, const char* why, const char* item, size_t item_len,
          bool keys = true) {
  char buf[256];
  size_t len = 0;
  buf[0] = 0;
  append(buf, sizeof buf, &len, "libdipc: ");
  append(buf, sizeof buf, &len, var);
  append(buf, sizeof buf, &len, ": ");
  append(buf, sizeof buf, &len, why);
  if (item) {
    append(buf, sizeof buf, &len, ": '");
    append(buf, sizeof buf, &len, item, item_len > 64 ? 64 : item_len);
    append(buf, sizeof buf, &len, "'");
  }
  append(buf, sizeof buf, &len, keys ? " (ignored: this variable distributes no key)\n" : "\n");
  ssize_t w = write(2, buf, len);
  (void)w;
}

__attribute__((constructor)) void init_keys() {
  if (const char* s = getenv(keys::kEnvStrict); s && *s) {
    if (strcmp(s, "1") == 0)
      g_strict = true;
    else if (strcmp(s, "0") != 0)
      warn(keys::kEnvStrict, "must be 1 or 0 (strict mode stays off)", s, strlen(s), false);
  }
  if (const char* all = getenv(keys::kEnvAllKeyed); all && *all) {
    if (strcmp(all, "1") == 0)
      g_all_keyed = true;
    else if (strcmp(all, "0") != 0)
      warn(keys::kEnvAllKeyed, "must be 1 or 0", all, strlen(all));
  }
  const char* list = getenv(keys::kEnvKeys);
  if (list == nullptr || *list == 0) return;
  size_t n = 0, bad = 0, bad_len = 0;
  keys::ParseError e = keys::parse_list(list, g_ranges, keys::kMaxRanges, &n, &bad, &bad_len);
  if (e != keys::ParseError::kNone) {
    warn(keys::kEnvKeys, keys::describe(e), list + bad, bad_len);
    return;
  }
  g_count = n;
}

}  // namespace

bool strict_mode() { return g_strict; }

bool env_distributes(uint32_t key) {
  return key != 0 && (g_all_keyed || keys::in_ranges(g_ranges, g_count, key));
}

}  // namespace dipc::shim
