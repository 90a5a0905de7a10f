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
      "--netns); everything a cluster owns is under DIR. Needs root.\n"
      "Examples:\n"
      "  sudo dipc cluster up --nodes 3                  node1..node3 in /tmp/dipc-cluster\n"
      "  sudo dipc cluster exec node2 -- ./hello2        a program on node2, with the shim\n"
      "  sudo dipc cluster down                          stop it, keep the logs\n"
      "`dipc cluster SUBCOMMAND --help` says more; see dipc-cluster(1).");

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
  up_cmd
      ->add_option("--set", up->settings,
                   "Put KEY = VALUE in section [SECTION] of every node's dipc.conf (see "
                   "dipc.conf(5)); VALUE in TOML syntax; repeatable, the last one of a key wins. "
                   "Checked with dipcd's own parser before anything starts")
      ->type_name("SECTION.KEY=VALUE")
      ->allow_extra_args(false);
  up_cmd->add_flag("--no-secret", up->no_secret,
                   "Make no cluster secret. By default up writes a fresh DIR/cluster.secret "
                   "(mode 0600) and names it in every node's [security] secret_file, so the "
                   "links are authenticated and encrypted; with --no-secret they are neither");
  up_cmd
      ->add_option("--arch", up->arch,
                   "Run NODE (node2, or 2) as a node of architecture ARCH (s390x): its dipcd "
                   "from the cross build (scripts/cross.sh) under qemu-user; `exec` runs that "
                   "architecture's programs there with its shim. Repeatable")
      ->type_name("NODE=ARCH")
      ->allow_extra_args(false);
  up_cmd->add_flag("--fix-perms", up->fix_perms,
                   "Add search permission for others (chmod o+x) to DIR and its parents where "
                   "it is missing, instead of refusing such a DIR");
  up_cmd->footer(
      "Prints one line per node, \"NAME ADDRESS:PORT pid PID\", once every node has joined;\n"
      "exits 0 then. On failure (or after 15 s) prints the failing node's log, tears the\n"
      "cluster down and exits 1. Refuses a DIR that already holds a running cluster, and a\n"
      "DIR that other users cannot reach (a `mktemp -d` directory is 0700): their programs\n"
      "would silently use plain local objects. Fix it with chmod o+x, or pass --fix-perms.\n"
      "Examples:\n"
      "  dipc cluster up --nodes 3\n"
      "  dipc cluster up --nodes 2 --dir /tmp/c1 --netns          own network per node\n"
      "  dipc cluster up --nodes 2 --set security.remote_root=true --set log.level=debug\n"
      "  dipc cluster up --nodes 2 --set 'log.level=\"debug\"'      (quotes optional for words)\n"
      "  dipc cluster up --nodes 3 --heartbeat-ms 100 --peer-timeout-ms 500\n"
      "  dipc cluster up --nodes 2 --allow 10.0.0.0/8               (nodes are refused)\n"
      "  dipc cluster up --nodes 2 --arch node2=s390x               big-endian node2 (qemu)\n"
      "  d=$(mktemp -d); dipc cluster up --nodes 2 --dir $d --fix-perms");
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
      "CMD gets DIPC_RUNDIR=DIR/NODE/run and LD_PRELOAD=libdipc.so (before any existing\n"
      "LD_PRELOAD). Its exit status becomes dipc's (128+N if killed by signal N; 127 if CMD\n"
      "was not found; 126 if it could not be run or the namespaces not entered).\n"
      "Examples:\n"
      "  dipc cluster exec node2 -- ipcs -q                 what node2's kernel holds\n"
      "  dipc cluster exec 1 -- ./hello1                    node1, by number\n"
      "  dipc cluster exec node2 --dir /tmp/c1 -- dipc status\n"
      "  dipc cluster exec node2 -- setpriv --reuid=nobody --regid=nogroup --clear-groups \\\n"
      "      ./hello2                                       as another user\n"
      "  dipc cluster exec node2 -- ip link set eth0 down   (--netns) cut node2 off\n"
      "On a node of another architecture (up --arch), a program built for it runs under\n"
      "qemu-user with that architecture's shim; other programs run natively.");
  exec_cmd->callback(
      [paths, exec] { Finish("exec", [&] { return cluster::CmdExec(paths, *exec); }); });

  auto down = std::make_shared<DownOptions>();
  CLI::App* down_cmd =
      cluster->add_subcommand("down", "Stop every node, remove the namespaces, keep the logs");
  down_cmd->add_option("--dir", down->dir, kDirHelp)->type_name("DIR");
  down_cmd->footer(
      "SIGTERM to every dipcd, SIGKILL after 5 s; unmounts the IPC namespaces and deletes the\n"
      "network namespaces. Safe to run on a half-made or already stopped cluster (exit 0);\n"
      "exits 1 only when something could not be removed, and says what.\n"
      "Examples:\n"
      "  dipc cluster down                       the cluster in $DIPC_CLUSTER_DIR or "
      "/tmp/dipc-cluster\n"
      "  dipc cluster down --dir /tmp/c1");
  down_cmd->callback([down] { Finish("down", [&] { return cluster::CmdDown(*down); }); });
}

}  // namespace dipc::tools
