#include "tools/admin_client.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "proto/key_rules.h"

namespace dipc::tools {

using proto::FrameType;

std::string run_dir() {
  const char* d = getenv("DIPC_RUNDIR");
  return d && *d ? d : "/run/dipc";
}

namespace {

bool read_full(int fd, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

bool dipcd_reachable() {
  std::string path = run_dir() + "/dipcd.sock";
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return false;
  std::strcpy(sa.sun_path, path.c_str());
  Fd s;
  s.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  return s.fd >= 0 && connect(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
}

bool admin_call(const std::string& command, proto::Kind kind, int32_t key, AdminAnswer& out,
                std::string& why) {
  std::string path = run_dir() + "/dipcd.sock";
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    why = "socket path too long: " + path;
    return false;
  }
  std::strcpy(sa.sun_path, path.c_str());
  Fd s;
  s.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s.fd < 0 || connect(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    why = "cannot reach dipcd at " + path + ": " + strerror(errno) +
          "\n(is dipcd running on this node? set DIPC_RUNDIR if its run_dir is not /run/dipc)";
    return false;
  }
  timeval tv{30, 0};
  setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  proto::Admin a{command, kind, key};
  uint8_t buf[proto::kHeaderSize + 256];
  proto::Writer w(buf + proto::kHeaderSize, sizeof buf - proto::kHeaderSize);
  a.encode(w);
  if (!w.ok()) {
    why = "command too long";
    return false;
  }
  proto::Header h;
  h.type = FrameType::kAdmin;
  h.request_id = 1;
  h.length = uint32_t(w.size());
  proto::encode_header(h, buf);
  if (write(s.fd, buf, proto::kHeaderSize + w.size()) < 0) {
    why = strerror(errno);
    return false;
  }
  for (;;) {
    uint8_t rh[proto::kHeaderSize];
    proto::Header got;
    if (!read_full(s.fd, rh, sizeof rh) ||
        proto::decode_header(rh, got) != proto::HeaderError::kNone ||
        (got.type != FrameType::kAdminReply && got.type != FrameType::kAdminMore &&
         got.type != FrameType::kAdminRows)) {
      why = "no valid answer from dipcd";
      return false;
    }
    std::vector<uint8_t> payload(got.length);
    if (!read_full(s.fd, payload.data(), payload.size())) {
      why = "answer cut short";
      return false;
    }
    if (got.type == FrameType::kAdminRows) {
      out.pages.push_back(std::move(payload));
      continue;
    }
    proto::AdminReply rep;
    proto::Reader r(payload.data(), payload.size());
    if (!rep.decode(r)) {
      why = "malformed answer from dipcd";
      return false;
    }
    out.text.append(rep.text);
    if (got.type == FrameType::kAdminReply) {
      out.err = rep.err;
      return true;
    }
  }
}

bool parse_key(const std::string& s, int32_t& key, std::string& why) {
  if (s.size() > 1 && s[0] == '-') {
    uint32_t v = 0;
    auto e = keys::parse_number(s.data() + 1, s.data() + s.size(), &v);
    if (e != keys::ParseError::kNone || (s[1] == '0' && s.size() > 2 && s[2] == 'x') ||
        v > 0x80000000u) {
      why = "'" + s + "' is not a key (decimal from -2147483648, or hex 0x0..0xffffffff)";
      return false;
    }
    key = int32_t(-int64_t(v));
    return true;
  }
  uint32_t v = 0;
  auto e = keys::parse_number(s.data(), s.data() + s.size(), &v);
  if (e != keys::ParseError::kNone) {
    why = "'" + s + "' is not a key: " + keys::describe(e);
    return false;
  }
  key = int32_t(v);
  return true;
}

}  // namespace dipc::tools
