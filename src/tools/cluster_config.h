// Each node's dipc.conf in a local cluster: the Config that `dipc cluster up` derives from
// the layout and its options, with the user's `--set SECTION.KEY=VALUE` settings applied
// on top, written with config_writer.h and checked with the real parser (config.h).
//
// Because the parser is the judge, a --set is accepted exactly when dipcd would accept
// the resulting file: an unknown section or key, or a value of the wrong type or range,
// is refused with a message that names the --set. Keys that `up` sets per node (the
// node's name, address, run dir, allow file and its referee) cannot be changed with --set.
// Pure functions on values, apart from the Failure they throw; single-threaded use.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tools/cluster_commands.h"
#include "tools/cluster_layout.h"

namespace dipc::tools::cluster {

// One --set, checked for form: SECTION.KEY and one TOML value.
struct Setting {
  std::string arg;  // as given, for messages
  std::string section;
  std::string key;
  toml::table holder;  // {"v" = VALUE}
};

// Parses every --set argument; throws a Failure naming the first malformed one. A VALUE
// that is not TOML but has no quotes, brackets or braces is taken as a string, so that
// `--set log.level=debug` works although the shell took the quotes of "debug" away.
std::vector<Setting> ParseSettings(const std::vector<std::string>& args);

// Node k's configuration text. referee_host/referee_port name node1's referee; node1
// itself runs it and ignores them. Throws a Failure when the result is not valid.
std::string NodeConfigText(const Layout& l, int k, const UpOptions& o,
                           const std::vector<Setting>& settings, const std::string& referee_host,
                           uint16_t referee_port);

// Checks, before anything is made, that the settings give a valid configuration: writes
// (without saving) node1's and, in a larger cluster, node2's. Throws a Failure otherwise.
void CheckSettings(const Layout& l, const UpOptions& o, const std::vector<Setting>& settings);

}  // namespace dipc::tools::cluster
