// The local-cluster commands of the dipc tool: `dipc cluster up`, `exec` and `down`.
//
// A local cluster is N dipcd daemons on this one machine, each in its own System V IPC
// namespace (and, with --netns, its own network namespace on a private bridge), so that
// nodes share nothing through the kernel and every operation between them crosses a
// socket. Everything a cluster owns lives under one directory (DIR), which is also how the
// separate `dipc` invocations find each other's work: DIR/cluster records the layout and
// DIR/nodeK holds node K's config, allow file, log, pid file, run dir and the file its IPC
// namespace is bind-mounted on. docs/cluster.md and dipc-cluster(1) describe the layout.
//
// The commands need root (CAP_SYS_ADMIN) for the namespaces. Callbacks return normally
// on success and throw CLI::RuntimeError(code) otherwise, after printing the reason.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace dipc::tools {

// Absolute paths of the installed (or built) programs, found by the caller relative to
// /proc/self/exe so that a build tree works without installing.
struct ToolPaths {
  std::string dipcd;  // the daemon, started once per node
  std::string shim;   // libdipc.so, preloaded into commands run with `cluster exec`
  std::string dipc;   // this tool
};

// Adds the "cluster" subcommand, with "up", "exec" and "down" below it, to app.
void add_cluster_commands(CLI::App& app, const ToolPaths& paths);

}  // namespace dipc::tools
