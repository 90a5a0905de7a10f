#include "tools/preload.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "tools/exit_codes.h"

namespace dipc::tools {
namespace {

struct Preload {
  std::string root;  // "" for /
  std::string line;  // the shim's path as seen inside root
  std::string file() const { return root + "/etc/ld.so.preload"; }
};

bool names_shim(const std::string& item) {
  std::string base = item.substr(item.rfind('/') + 1);
  return base.rfind("libdipc.so", 0) == 0;
}

// The file's lines (none when it does not exist); false, with the error printed, when it
// cannot be read.
bool read_lines(const std::string& path, std::vector<std::string>& lines) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return true;
    std::cerr << "dipc preload: " << path << ": " << std::strerror(errno) << "\n";
    return false;
  }
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return true;
}

// Writes lines to path through a temporary file in the same directory and a rename.
bool replace_file(const std::string& path, const std::vector<std::string>& lines,
                  std::string& why) {
  std::string tmp = path + ".dipc-XXXXXX";
  std::vector<char> name(tmp.begin(), tmp.end());
  name.push_back(0);
  int fd = mkstemp(name.data());
  if (fd < 0) {
    why = tmp + ": " + std::strerror(errno);
    return false;
  }
  std::string text;
  for (auto& l : lines) text += l + "\n";
  bool ok = fchmod(fd, 0644) == 0;
  for (size_t at = 0; ok && at < text.size();) {
    ssize_t n = write(fd, text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) at += size_t(n);
  }
  ok = ok && fsync(fd) == 0;
  int e = errno;
  ok = close(fd) == 0 && ok;
  if (ok && rename(name.data(), path.c_str()) == 0) return true;
  if (ok) e = errno;
  why = path + ": " + std::strerror(e);
  unlink(name.data());
  return false;
}

int enable(const Preload& p) {
  std::vector<std::string> lines;
  if (!read_lines(p.file(), lines)) return kExitFailed;
  for (auto& l : lines)
    if (l == p.line) {
      std::cout << "already enabled: " << p.line << " in " << p.file() << "\n";
      return kExitOk;
    }
  // The file before the line: never a preload line naming a file that is not there.
  struct stat st {};
  std::string real = p.root + p.line;
  if (stat(real.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    std::cerr << "dipc preload: the shim " << real << " is missing: not enabling\n";
    return kExitFailed;
  }
  for (auto& l : lines)
    if (names_shim(l)) {
      std::cerr << "dipc preload: " << p.file() << " already preloads another shim (" << l
                << "): run dipc preload disable first\n";
      return kExitFailed;
    }
  lines.push_back(p.line);
  std::string why;
  if (!replace_file(p.file(), lines, why)) {
    std::cerr << "dipc preload: " << why << "\n";
    return kExitFailed;
  }
  std::cout << "enabled: " << p.line << " in " << p.file()
            << " (programs started from now on load the shim)\n";
  return kExitOk;
}

int disable(const Preload& p) {
  std::vector<std::string> lines, kept;
  if (!read_lines(p.file(), lines)) return kExitFailed;
  for (auto& l : lines)
    if (!names_shim(l)) kept.push_back(l);
  if (kept.size() == lines.size()) {
    std::cout << "not enabled in " << p.file() << "\n";
    return kExitOk;
  }
  std::string why;
  if (!replace_file(p.file(), kept, why)) {
    std::cerr << "dipc preload: " << why << "\n";
    return kExitFailed;
  }
  std::cout << "disabled: the shim's line left " << p.file() << "\n";
  return kExitOk;
}

int status(const Preload& p) {
  std::vector<std::string> lines;
  if (!read_lines(p.file(), lines)) return kExitFailed;
  for (auto& l : lines)
    if (names_shim(l)) {
      struct stat st {};
      bool there = stat((p.root + l).c_str(), &st) == 0;
      std::cout << "enabled: " << l << " in " << p.file()
                << (there ? "" : " (that file is missing!)") << "\n";
      return there ? kExitOk : kExitFailed;
    }
  std::cout << "disabled: " << p.file() << " does not preload the shim\n";
  return kExitNotEnabled;
}

}  // namespace

void add_preload_command(CLI::App& app, const std::string& shim) {
  auto* pre = app.add_subcommand(
      "preload", "the shim in /etc/ld.so.preload, for every program of this machine");
  pre->require_subcommand(1);
  auto root = std::make_shared<std::string>();
  if (const char* r = getenv("DIPC_ROOT"); r && *r) *root = r;
  pre->add_option("--root", *root,
                  "act on DIR/etc/ld.so.preload (a throwaway root, an image); default / or "
                  "$DIPC_ROOT")
      ->type_name("DIR");
  pre->footer(
      "enable adds the shim's line once the shim file exists; disable removes it (do that\n"
      "before the shim is deleted); status says which (exit 0 enabled, 4 not). The file is\n"
      "replaced through a temporary file and a rename, never written in place.\n"
      "Example: dipc preload enable && dipc preload status");
  auto make = [root, shim] {
    Preload p;
    std::string r = *root;
    while (r.size() > 1 && r.back() == '/') r.pop_back();
    if (r == "/") r.clear();
    char buf[PATH_MAX];
    std::string path = realpath(shim.c_str(), buf) ? std::string(buf) : shim;
    // The soname the loader knows, not the versioned file behind it (upgrades keep it).
    std::string dir = path.substr(0, path.rfind('/') + 1);
    std::string base = path.substr(dir.size());
    if (base.rfind("libdipc.so.0", 0) == 0) path = dir + "libdipc.so.0";
    if (!r.empty() && path.rfind(r + "/", 0) == 0) path = path.substr(r.size());
    p.root = r;
    p.line = path;
    return p;
  };
  pre->add_subcommand("enable", "add the shim to ld.so.preload (it must exist)")
      ->callback([make] { std::exit(enable(make())); });
  pre->add_subcommand("disable", "remove the shim from ld.so.preload")
      ->callback([make] { std::exit(disable(make())); });
  pre->add_subcommand("status", "whether ld.so.preload loads the shim")
      ->callback([make] { std::exit(status(make())); });
}

}  // namespace dipc::tools
