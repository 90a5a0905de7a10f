// What dipcd checks about its configuration beyond parsing it (common/config.h parses):
// before it starts (`dipcd --check` reports every problem and fails on those that start-up
// would fail on; a start reports the same and stops on the fatal ones), and on SIGHUP (which
// changed keys the running daemon cannot apply, so that they are logged as needing a
// restart).
// Thread safety: plain functions; preflight() resolves host names (blocking), so it runs
// on the main thread before the io thread starts.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace dipc::daemon {

struct Finding {
  bool fatal = false;   // dipcd --check fails, and a start would fail or never join
  std::string message;  // one line, naming the key and a fix
};

// The referee host resolves (unless this node is the referee), run_dir's parent directory
// exists, the allow file names at least one entry (allow_entries), and, when not running
// as root, whether run_dir can be created. Resolution uses getaddrinfo: it may block.
std::vector<Finding> preflight(const Config& cfg, size_t allow_entries, bool as_root);

// The message for an allow file that cannot be read: the loader's error, the key that
// points there and how to fix it.
std::string allow_file_problem(const Config& cfg, const ConfigError& err);

// The keys ("[section] key") whose change from running to reread a SIGHUP does not apply:
// everything but [log] level and the allow file's content (allow_file itself is re-read
// under its new name).
std::vector<std::string> keys_needing_restart(const Config& running, const Config& reread);

}  // namespace dipc::daemon
