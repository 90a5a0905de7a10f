// dipc ls: the cluster's distributed objects as a table, like lsipc(1) and ipcs(1).
// dipcd sends records (proto/admin_rows.h); this file filters them and formats them with
// libsmartcols, util-linux's table library: columns, --raw, --json, --noheadings.
// Single-threaded tool code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "proto/admin_rows.h"
#include "tools/admin_client.h"

namespace dipc::tools {

void add_ls_command(CLI::App& app);

// The cluster's objects as dipcd lists them; the rows' views point into ans. Returns the
// exit status (kExitOk, or kExitFailed after saying why on stderr).
int fetch_rows(AdminAnswer& ans, std::vector<proto::ObjectRow>& rows);

}  // namespace dipc::tools
