// Small file helpers of the `dipc cluster` commands (see cluster_files.h).
#include "tools/cluster_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dipc::tools::cluster {

std::string ErrnoText(int err) { return std::strerror(err); }

bool ReadFile(const std::string& path, std::string* out, off_t offset) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  if (offset > 0 && lseek(fd, offset, SEEK_SET) < 0) {
    close(fd);
    return false;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

namespace {

void WriteAll(int fd, const std::string& content, const std::string& path) {
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      throw Failure("cannot write " + path + ": " + ErrnoText(err));
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace

void WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Failure("cannot write " + tmp + ": " + ErrnoText(errno));
  WriteAll(fd, content, tmp);
  if (close(fd) != 0) throw Failure("cannot write " + tmp + ": " + ErrnoText(errno));
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    throw Failure("cannot rename " + tmp + " to " + path + ": " + ErrnoText(errno));
  }
}

off_t AppendFile(const std::string& path, const std::string& content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw Failure("cannot write " + path + ": " + ErrnoText(errno));
  WriteAll(fd, content, path);
  off_t size = lseek(fd, 0, SEEK_END);
  close(fd);
  return size < 0 ? 0 : size;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

void RemoveIfExists(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw Failure("cannot remove " + path + ": " + ErrnoText(errno));
  }
}

void MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0) {
    // The umask may have taken o+x away, and other users must reach the sockets below.
    if (chmod(path.c_str(), 0755) != 0) {
      throw Failure("cannot set the mode of " + path + ": " + ErrnoText(errno));
    }
    return;
  }
  if (errno == EEXIST) {
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
    throw Failure("cannot create directory " + path + ": " + ErrnoText(ENOTDIR));
  }
  throw Failure("cannot create directory " + path + ": " + ErrnoText(errno));
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> SplitList(const std::string& list, const char* separators) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find_first_of(separators, start);
    if (end == std::string::npos) end = list.size();
    if (end > start) items.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

std::string OneLine(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

std::optional<long> ParseNumber(const std::string& text, long lo, long hi) {
  std::string s = Trim(text);
  if (s.empty() || s.size() > 9) return std::nullopt;
  long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

std::string LogTail(const std::string& path, off_t offset, int lines) {
  std::string text;
  if (!ReadFile(path, &text, offset)) return "  (no log at " + path + ")\n";
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty()) return "  (the log is empty)\n";
  size_t pos = text.size();
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  std::string tail = (pos == std::string::npos || pos == 0) ? text : text.substr(pos + 1);
  std::string out;
  size_t start = 0;
  while (start <= tail.size()) {
    size_t end = tail.find('\n', start);
    if (end == std::string::npos) end = tail.size();
    out += "  | " + tail.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace dipc::tools::cluster
