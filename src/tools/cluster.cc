// The command line of `dipc cluster up|exec|down`: options, help texts, and the one place
// where a Failure becomes a message on stderr and an exit status (cluster.h).
//
// The commands themselves are in cluster_up.cc, cluster_exec.cc and cluster_down.cc, on
// the layout (cluster_layout.h), processes (cluster_processes.h) and namespaces
// (cluster_namespaces.h). docs/cluster.md and dipc-cluster(1) describe them for users.
#include "tools/cluster.h"

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>

#include "tools/cluster_commands.h"
#include "tools/cluster_files.h"

namespace dipc::tools {
namespace {

using cluster::DownOptions;
using cluster::ExecOptions;
using cluster::Failure;
using cluster::kMaxNodes;
using cluster::UpOptions;

// Prints a failure the same way for every subcommand and turns the result into the
// CLI11 convention: return on success, CLI::RuntimeError(code) otherwise.
void Finish(const char* name, const std::function<int()>& body) {
  int code = 0;
  try {
    code = body();
  } catch (const Failure& f) {
    std::fflush(stdout);
    std::fprintf(stderr, "dipc cluster %s: %s\n", name, f.what());
    code = f.code();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "dipc cluster %s: unexpected error: %s\n", name, e.what());
    code = 1;
  }
  std::fflush(stdout);
  if (code != 0) throw CLI::RuntimeError(code);
}

constexpr const char* kDirHelp =
    "Cluster directory (default: $DIPC_CLUSTER_DIR, else /tmp/dipc-cluster)";

}  // namespace

void add_cluster_commands(CLI::App& app, const ToolPaths& paths) {
  CLI::App* cluster =
      app.add_subcommand("cluster", "Run a cluster of dipcd nodes on this machine: up, exec, down");
  cluster->require_subcommand(1);
  cluster->footer(
      "Each node is a dipcd in its own System V IPC namespace (and network namespace with\n"
      "--netns). Needs root. See dipc-cluster(1).");

  auto up = std::make_shared<UpOptions>();
  CLI::App* up_cmd = cluster->add_subcommand(
      "up", "Start N nodes (node1..nodeN; node1 runs the referee) and wait until all have joined");
  up_cmd->add_option("--nodes", up->nodes, "Number of nodes, 1..16")
      ->type_name("N")
      ->required()
      ->check(CLI::Range(1, kMaxNodes).description(""));
  up_cmd->add_option("--dir", up->dir, kDirHelp)->type_name("DIR");
  up_cmd->add_flag("--netns", up->netns,
                   "Give each node its own network namespace and address 10.213.ID.K/24 on a "
                   "private bridge (ID comes from DIR)");
  up_cmd
      ->add_option("--heartbeat-ms", up->heartbeat_ms,
                   "Heartbeat interval written to every node's config")
      ->type_name("MS")
      ->check(CLI::Range(1, 3600000).description(""))
      ->capture_default_str();
  up_cmd
      ->add_option("--peer-timeout-ms", up->peer_timeout_ms,
                   "Silence after which a peer is declared dead, written to every node's config")
      ->type_name("MS")
      ->check(CLI::Range(1, 3600000).description(""))
      ->capture_default_str();
  up->allow_option = up_cmd->add_option(
      "--allow", up->allow,
      "Content of every node's allow file, replacing the default (the cluster's own "
      "addresses: 127.0.0.0/8, or 10.213.ID.0/24 with --netns)");
  up_cmd->footer(
      "Prints one line per node, \"NAME ADDRESS:PORT pid PID\", once every node has joined;\n"
      "exits 0 then. On failure (or after 15 s) prints the failing node's log, tears the\n"
      "cluster down and exits 1. Refuses a DIR that already holds a running cluster.");
  up_cmd->callback([paths, up] { Finish("up", [&] { return cluster::CmdUp(paths, *up); }); });

  auto exec = std::make_shared<ExecOptions>();
  CLI::App* exec_cmd = cluster->add_subcommand(
      "exec", "Run CMD inside a node: its IPC namespace (and network namespace), with the shim");
  exec_cmd->add_option("NODE", exec->node, "Node name: node1..nodeN (or just its number)")
      ->type_name("")
      ->required();
  exec_cmd->add_option("--dir", exec->dir, kDirHelp)->type_name("DIR");
  exec_cmd->add_option("CMD", exec->command, "Command and its arguments; put -- before it")
      ->type_name("")
      ->required();
  exec_cmd->footer(
      "Example: dipc cluster exec node2 -- ipcs -q\n"
      "CMD gets DIPC_RUNDIR=DIR/NODE/run and LD_PRELOAD=libdipc.so (before any existing\n"
      "LD_PRELOAD). Its exit status becomes dipc's (128+N if killed by signal N).");
  exec_cmd->callback(
      [paths, exec] { Finish("exec", [&] { return cluster::CmdExec(paths, *exec); }); });

  auto down = std::make_shared<DownOptions>();
  CLI::App* down_cmd =
      cluster->add_subcommand("down", "Stop every node, remove the namespaces, keep the logs");
  down_cmd->add_option("--dir", down->dir, kDirHelp)->type_name("DIR");
  down_cmd->footer(
      "SIGTERM to every dipcd, SIGKILL after 5 s; unmounts the IPC namespaces and deletes the\n"
      "network namespaces. Safe to run on a half-made or already stopped cluster.");
  down_cmd->callback([down] { Finish("down", [&] { return cluster::CmdDown(*down); }); });
}

}  // namespace dipc::tools
