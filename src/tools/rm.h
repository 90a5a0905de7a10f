// dipc rm: removes distributed objects cluster-wide, with ipcrm(1)'s options (-q -Q -s -S
// -m -M -a) and the older `dipc rm TYPE KEY`. An object is removed at its owner, as the
// caller (dipcd's rm: the referee's look-up, then IPC_RMID at the owner). An id is this
// node's id (what ipcs shows here, a placeholder's or an owned object's): its key is read
// from this node's kernel. Single-threaded tool code.
#pragma once

#include <CLI/CLI.hpp>

namespace dipc::tools {

void add_rm_command(CLI::App& app);

}  // namespace dipc::tools
