// dipc ls: the cluster's distributed objects as a table, like lsipc(1) and ipcs(1).
// dipcd sends records (proto/admin_rows.h); this file filters them and formats them with
// libsmartcols, util-linux's table library: columns, --raw, --json, --noheadings.
// Single-threaded tool code.
#pragma once

#include <CLI/CLI.hpp>

namespace dipc::tools {

void add_ls_command(CLI::App& app);

}  // namespace dipc::tools
