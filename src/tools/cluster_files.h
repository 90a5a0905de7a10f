// Small file helpers of the `dipc cluster` commands, and Failure, the error they throw.
//
// Every `dipc cluster` command is a short-lived, single-threaded process; nothing here
// keeps state. The helpers report errno text because "Permission denied" or "Read-only
// file system" is usually the whole answer to what went wrong. A Failure carries a message
// already phrased for the user and the exit status; the subcommand's entry point
// (cluster.cc) prints it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dipc::tools::cluster {

// A reason to stop, already phrased for the user; code is the exit status.
class Failure : public std::runtime_error {
 public:
  explicit Failure(const std::string& message, int code = 1)
      : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

std::string ErrnoText(int err);

// Reads path (from offset on) into out; false with errno set when it cannot be opened.
bool ReadFile(const std::string& path, std::string* out, off_t offset = 0);

// Writes through a temporary file and a rename, so a reader (dipcd reading its config, a
// concurrent exec reading DIR/cluster) never sees half a file.
void WriteFileAtomic(const std::string& path, const std::string& content);

// Appends and returns the file's size afterwards.
off_t AppendFile(const std::string& path, const std::string& content);

bool Exists(const std::string& path);  // lstat: also a dangling symlink
void RemoveIfExists(const std::string& path);

// mkdir, and an existing directory is fine. A directory it creates gets mode 0755 whatever
// the umask, so that other users can reach the nodes' sockets below it.
void MakeDir(const std::string& path);

std::string Trim(const std::string& s);

// The non-empty items of list between any of separators: "a b:c" with " :" gives a, b, c.
std::vector<std::string> SplitList(const std::string& list, const char* separators);

// s with control characters shown as '?': for a comment line or a message that must stay
// one line whatever a path or a file holds.
std::string OneLine(std::string s);

// A whole-string decimal in [lo, hi] (surrounding white space allowed), or nullopt.
std::optional<long> ParseNumber(const std::string& text, long lo, long hi);

// The last `lines` lines of path from offset on, each prefixed "  | ", for failure reports.
std::string LogTail(const std::string& path, off_t offset, int lines);

}  // namespace dipc::tools::cluster
