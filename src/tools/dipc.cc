// dipc: the DIPC command line.
//
//   dipc run [--keys LIST] [--all-keyed] [--strict] -- CMD...
//                            run CMD with the shim preloaded (and keys distributed by rule)
//   dipc ls                  every distributed object of the cluster (like ipcs)
//   dipc rm TYPE KEY         remove a distributed object (like ipcrm)
//   dipc status [--cluster]  this node: referee, state, links (--cluster: every member)
//   dipc preload enable|disable|status   the shim in /etc/ld.so.preload
//   dipc cluster ...         a local cluster of nodes on this machine (dipc-cluster(1))
//
// ls, rm and status talk to the node's dipcd over its Unix socket (RUN_DIR/dipcd.sock,
// RUN_DIR from $DIPC_RUNDIR or /run/dipc). The shim is found relative to this program:
// ../lib/libdipc.so in the build tree, ../lib/ARCH/libdipc.so.0 in an installed tree.
#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "common/key_rules.h"
#include "proto/key_rules.h"
#include "proto/wire.h"
#include "tools/admin_client.h"
#include "tools/cluster.h"
#include "tools/exit_codes.h"
#include "tools/ls.h"
#include "tools/preload.h"
#include "tools/rm.h"

namespace {

using dipc::proto::FrameType;

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  std::string p(buf);
  return p.substr(0, p.rfind('/'));
}

// Sends one admin command and prints the answer. Returns the exit status.
int admin(const std::string& command, dipc::proto::Kind kind = {}, int32_t key = 0) {
  dipc::tools::AdminAnswer rep;
  std::string why;
  if (!dipc::tools::admin_call(command, kind, key, rep, why)) {
    std::cerr << "dipc: " << why << "\n";
    return dipc::tools::kExitFailed;
  }
  std::cout << rep.text;
  if (command.rfind("status", 0) == 0 && rep.err == ENOTCONN) {
    std::cerr << "dipc status: this node has not joined its cluster (see state above)\n";
    return dipc::tools::kExitNotJoined;
  }
  if (rep.err != 0) {
    std::cerr << "dipc: " << command << ": " << strerror(rep.err);
    if (rep.err == ENOLINK) std::cerr << " (this node has no link to the referee: see dipc status)";
    std::cerr << "\n";
    return dipc::tools::kExitFailed;
  }
  return dipc::tools::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "dipc: DIPC, System V IPC across a cluster. Add IPC_DIPC to msgget/semget/"
      "shmget and processes on different machines share the object by its key."};
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  dipc run -- ./hello1            run a program with the shim (IPC_DIPC works)\n"
      "  dipc run --keys 40 -- ./prog    key 40 distributed without the flag\n"
      "  dipc ls                         the cluster's distributed objects\n"
      "  dipc rm msg 40                  remove the distributed queue with key 40\n"
      "  dipc cluster up --nodes 3       a 3-node cluster on this machine\n"
      "The node's dipcd is reached at $DIPC_RUNDIR/dipcd.sock (default /run/dipc).\n"
      "See dipc(1), dipc-cluster(1), dipcd(8), dipc.conf(5).");
  app.set_version_flag("--version", "dipc " DIPC_VERSION " (protocol " +
                                        std::to_string(dipc::proto::kProtocolVersion) + ")");
  std::string dir = self_dir();
  // The build tree's shim, else the installed one (the multiarch directory, by soname).
  std::string shim = dir + "/../lib/libdipc.so";
  if (access(shim.c_str(), R_OK) != 0) shim = dir + "/" DIPC_SHIM_INSTALLED;
  dipc::tools::ToolPaths paths{dir + "/../sbin/dipcd", shim, dir + "/dipc"};

  auto* run = app.add_subcommand("run", "run a command with the DIPC shim preloaded");
  std::vector<std::string> cmd;
  std::string run_keys;
  bool all_keyed = false;
  bool strict = false;
  CLI::Option* keys_opt =
      run->add_option("--keys", run_keys,
                      "keys distributed without IPC_DIPC: KEY or LO-HI items separated by commas "
                      "(decimal or 0x hex), e.g. 40,0x7000-0x70ff; sets DIPC_KEYS")
          ->type_name("LIST");
  run->add_flag("--all-keyed", all_keyed,
                "every key but IPC_PRIVATE is distributed without IPC_DIPC; sets DIPC_ALL_KEYED=1");
  run->add_flag("--strict", strict,
                "a distributed call that cannot reach dipcd fails with ENOLINK instead of "
                "falling back to a plain local object; sets DIPC_STRICT=1");
  run->add_option("cmd", cmd, "the command and its arguments (after --)")->required();
  run->footer(
      "The keys add to those of the node's [distribute] section (dipc.conf(5)): a key is\n"
      "distributed when the call passes IPC_DIPC, or --keys/--all-keyed, or the node names it.\n"
      "The variables reach the command's children. Example:\n"
      "  dipc run --keys 40,41 -- python3 hello1.py");
  run->callback([&] {
    if (access(paths.shim.c_str(), R_OK) != 0) {
      std::cerr << "dipc: shim not found at " << paths.shim << "\n";
      std::exit(1);
    }
    if (keys_opt->count() > 0) {
      if (std::string why = dipc::check_key_list(run_keys); !why.empty()) {
        std::cerr << "dipc run: --keys " << why << "\n";
        std::exit(2);
      }
      // Nested launchers add up: dipc run --keys 40 -- dipc run --keys 41 -- CMD has both.
      std::string list = run_keys;
      if (const char* old = getenv(dipc::keys::kEnvKeys); old && *old)
        list = std::string(old) + "," + list;
      if (std::string why = dipc::check_key_list(list); !why.empty()) {
        std::cerr << "dipc run: --keys with the inherited " << dipc::keys::kEnvKeys << ": " << why
                  << "\n";
        std::exit(2);
      }
      setenv(dipc::keys::kEnvKeys, list.c_str(), 1);
    }
    if (all_keyed) setenv(dipc::keys::kEnvAllKeyed, "1", 1);
    if (strict) setenv(dipc::keys::kEnvStrict, "1", 1);
    bool strict_on = strict || [] {
      const char* s = getenv(dipc::keys::kEnvStrict);
      return s && std::strcmp(s, "1") == 0;
    }();
    // As without DIPC the program still runs, with plain local objects: say so once here.
    if (!dipc::tools::dipcd_reachable())
      std::cerr << "dipc run: warning: no dipcd answers at " << dipc::tools::run_dir()
                << "/dipcd.sock: "
                << (strict_on ? "in strict mode every distributed call will fail with ENOLINK"
                              : "IPC_DIPC objects will be plain local objects")
                << " (start dipcd, or set DIPC_RUNDIR)\n";
    // The shim first, unless it is preloaded already (dipc run inside dipc cluster exec).
    std::string pre = paths.shim;
    if (const char* old = getenv("LD_PRELOAD"); old && *old) {
      std::string items = std::string(" ") + old + " ";
      for (char& ch : items)
        if (ch == ':') ch = ' ';
      pre = items.find(" " + paths.shim + " ") != std::string::npos ? std::string(old)
                                                                     : pre + " " + old;
    }
    setenv("LD_PRELOAD", pre.c_str(), 1);
    std::vector<char*> av;
    for (auto& s : cmd) av.push_back(s.data());
    av.push_back(nullptr);
    execvp(av[0], av.data());
    std::cerr << "dipc: cannot run " << cmd[0] << ": " << strerror(errno) << "\n";
    std::exit(127);
  });

  dipc::tools::add_ls_command(app);

  auto* status = app.add_subcommand("status", "this node: referee, state, links, objects");
  bool whole_cluster = false;
  status->add_flag("--cluster", whole_cluster,
                   "every member of the cluster as its referee sees it (health, round trip), "
                   "and the nodes declared dead with since when");
  status->callback([&] { std::exit(admin(whole_cluster ? "status --cluster" : "status")); });

  dipc::tools::add_rm_command(app);
  dipc::tools::add_preload_command(app, paths.shim);

  auto* fault = app.add_subcommand(
      "fault",
      "inject a link fault on this node, for tests: needs root and [debug] fault_injection");
  fault->footer(
      "Modes: delay MS (frames to NODE leave MS ms late, in order), stall (nothing is sent to\n"
      "or heard from NODE, as in a network partition: both nodes time out), cut (the link is\n"
      "closed now: NODE is declared dead), clear (back to normal).\n"
      "Example, inside a local cluster started with --set debug.fault_injection=true:\n"
      "  dipc cluster exec node2 -- dipc fault node1 delay 50");
  std::string fault_node, fault_mode;
  int64_t fault_ms = 0;
  fault->add_option("node", fault_node, "the peer node whose link to act on")->required();
  fault->add_option("mode", fault_mode, "delay, stall, cut or clear")
      ->required()
      ->check(CLI::IsMember({"delay", "stall", "cut", "clear"}));
  fault->add_option("ms", fault_ms, "for delay: milliseconds, 1..60000")
      ->check(CLI::Range(int64_t{1}, int64_t{60000}));
  fault->callback([&] {
    if (fault_mode == "delay" && fault_ms == 0) {
      std::cerr << "dipc: fault ... delay needs the delay in milliseconds\n";
      std::exit(2);
    }
    std::exit(admin("fault " + fault_node + " " + fault_mode + " " + std::to_string(fault_ms)));
  });

  dipc::tools::add_cluster_commands(app, paths);
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (auto* sub : app.get_subcommands([](CLI::App*) { return true; }))
      known = known || sub->check_name(argv[1]);
    if (!known) {
      std::cerr << "dipc: unknown command '" << argv[1] << "' (dipc --help lists them)\n";
      return dipc::tools::kExitUsage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a command's own status (dipc cluster ...)
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits with the documented status
    // (dipc(1) EXIT STATUS), not CLI11's internal codes.
    int rc = app.exit(e);
    return rc == 0 ? dipc::tools::kExitOk : dipc::tools::kExitUsage;
  }
  return dipc::tools::kExitOk;
}
