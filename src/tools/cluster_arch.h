// Nodes of another architecture in a local cluster (`dipc cluster up --arch NODE=ARCH`):
// the architectures known, where their cross-built programs are, the qemu-user binary that
// runs them, and whether a program is built for one. docs/hetero.md.
//
// A node of architecture ARCH runs the dipcd of the cross build in CROSS/ARCH (made by
// scripts/cross.sh) under `qemu-ARCH-static -L /usr/TRIPLET`; `cluster exec` runs a
// program built for ARCH there the same way, with that build's libdipc.so preloaded.
// CROSS is $DIPC_CROSS_DIR if set, else ../cross next to the dipc binary (BUILD/cross in a
// build tree). Single-threaded, like the commands.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tools/cluster.h"

namespace dipc::tools::cluster {

struct Arch {
  const char* name;      // "s390x": as given to --arch, and the cross tree's directory
  const char* triplet;   // "s390x-linux-gnu": the qemu -L prefix is /usr/TRIPLET
  const char* qemu;      // "s390x": qemu-s390x-static, else qemu-s390x
  unsigned elf_class;    // ELFCLASS64
  unsigned elf_data;     // ELFDATA2MSB
  unsigned elf_machine;  // EM_S390
};

// nullptr for an architecture DIPC does not know.
const Arch* FindArch(const std::string& name);
// "s390x" (the known names, for messages).
std::string KnownArchs();

// The cross tree of arch (CROSS/ARCH above), and in it what a node runs.
std::string CrossRoot(const ToolPaths& paths, const Arch& a);
std::string CrossDipcd(const ToolPaths& paths, const Arch& a);
std::string CrossShim(const ToolPaths& paths, const Arch& a);

// Where execvp would find name: itself when it has a slash, else the first executable of
// that name in $PATH; "" when there is none.
std::string ProgramPath(const std::string& name);

// qemu-ARCH-static, else qemu-ARCH, from $PATH; "" when neither is there.
std::string FindQemu(const Arch& a);
// The argv prefix that runs a program of arch: {qemu, "-L", "/usr/TRIPLET"}.
std::vector<std::string> QemuPrefix(const std::string& qemu, const Arch& a);

// True when path is an ELF executable or library built for arch.
bool IsElfFor(const std::string& path, const Arch& a);

// --arch NODE=ARCH items (NODE as `exec` takes it: "node2" or "2") for a cluster of
// nodes nodes: the architecture of each node (index = node number, "" = this machine's).
// Throws a Failure naming a malformed item, an unknown node or architecture.
std::vector<std::string> ParseArchOptions(const std::vector<std::string>& items, int nodes);

}  // namespace dipc::tools::cluster
