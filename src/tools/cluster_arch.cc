// Nodes of another architecture (see cluster_arch.h).
#include "tools/cluster_arch.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "tools/cluster_files.h"
#include "tools/cluster_layout.h"

namespace dipc::tools::cluster {
namespace {

constexpr Arch kArchs[] = {
    {"s390x", "s390x-linux-gnu", "s390x", ELFCLASS64, ELFDATA2MSB, EM_S390},
};

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

std::string ProgramPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  for (const std::string& dir : SplitList(path != nullptr ? path : "/usr/bin:/bin", ":")) {
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

const Arch* FindArch(const std::string& name) {
  for (const Arch& a : kArchs)
    if (name == a.name) return &a;
  return nullptr;
}

std::string KnownArchs() {
  std::string out;
  for (const Arch& a : kArchs) out += (out.empty() ? "" : ", ") + std::string(a.name);
  return out;
}

std::string CrossRoot(const ToolPaths& paths, const Arch& a) {
  const char* env = std::getenv("DIPC_CROSS_DIR");
  std::string base = (env != nullptr && *env != '\0') ? env : DirOf(paths.dipc) + "/../cross";
  // Canonical when it exists, so that a node's command line names the same path each time.
  char real[PATH_MAX];
  if (realpath(base.c_str(), real) != nullptr) base = real;
  return base + "/" + a.name;
}

std::string CrossDipcd(const ToolPaths& paths, const Arch& a) {
  return CrossRoot(paths, a) + "/sbin/dipcd";
}

std::string CrossShim(const ToolPaths& paths, const Arch& a) {
  return CrossRoot(paths, a) + "/lib/libdipc.so";
}

std::string FindQemu(const Arch& a) {
  std::string q = ProgramPath(std::string("qemu-") + a.qemu + "-static");
  return q.empty() ? ProgramPath(std::string("qemu-") + a.qemu) : q;
}

std::vector<std::string> QemuPrefix(const std::string& qemu, const Arch& a) {
  return {qemu, "-L", std::string("/usr/") + a.triplet};
}

bool IsElfFor(const std::string& path, const Arch& a) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char h[20];
  bool ok = read(fd, h, sizeof h) == ssize_t(sizeof h);
  close(fd);
  if (!ok || std::memcmp(h, ELFMAG, SELFMAG) != 0) return false;
  if (h[EI_CLASS] != a.elf_class || h[EI_DATA] != a.elf_data) return false;
  // e_machine: the half-word at offset 18, in the file's own byte order.
  unsigned machine = a.elf_data == ELFDATA2MSB ? (h[18] << 8 | h[19]) : (h[19] << 8 | h[18]);
  return machine == a.elf_machine;
}

std::vector<std::string> ParseArchOptions(const std::vector<std::string>& items, int nodes) {
  std::vector<std::string> arch(nodes + 1);
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos) {
      throw Failure("--arch " + item + ": expected NODE=ARCH, e.g. --arch node2=s390x");
    }
    std::string node = item.substr(0, eq), name = item.substr(eq + 1);
    std::optional<int> k = ParseNodeName(node, nodes);
    if (!k) {
      throw Failure("--arch " + item + ": no node '" + node + "' in a cluster of " +
                    std::to_string(nodes) + (nodes == 1 ? " node" : " nodes"));
    }
    if (FindArch(name) == nullptr) {
      throw Failure("--arch " + item + ": unknown architecture '" + name +
                    "' (known: " + KnownArchs() + ")");
    }
    arch[*k] = name;
  }
  return arch;
}

}  // namespace dipc::tools::cluster
