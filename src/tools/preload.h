// dipc preload enable|disable|status: the shim in /etc/ld.so.preload, for every program of
// the machine (what the original kernel patch gave). Safe by construction:
//  - enable adds the line only once the shim file exists (a line naming a missing file
//    makes every program on the machine print an error at start);
//  - disable removes the line (every line naming a libdipc.so*) and leaves the file's other
//    lines as they were; a package removes the line before the shim file (prerm);
//  - the file is never written in place: a temporary file in /etc, fsync, rename, so a
//    crash leaves the old file or the new one, never half of one.
// --root DIR (or $DIPC_ROOT) acts on DIR/etc/ld.so.preload, for tests and images; the line
// is then the shim's path as seen inside DIR. Single-threaded tool code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace dipc::tools {

// shim: the shim this dipc would preload (its path on this machine).
void add_preload_command(CLI::App& app, const std::string& shim);

}  // namespace dipc::tools
