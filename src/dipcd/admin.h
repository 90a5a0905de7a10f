// Admin: the dipc command's requests on the local socket (kAdmin): status, ls, rm.
//
// Answers are text; a long one (the listing of thousands of objects) leaves as kAdminMore
// parts of at most kPart bytes and a final kAdminReply, so no answer has a size limit.
// The listing comes from the referee in pages (RefereeClient::list). rm looks the key up at
// the referee and removes the object at its owner, as the caller.
// Thread safety: io thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/config.h"

namespace dipc::daemon {

class LocalServer;
class PeerLinks;
class ObjectTable;
class IdentityCache;
class OwnerSide;
class RemoteCalls;
class RefereeClient;
class RefereeService;
struct LocalClient;

class Admin {
 public:
  static constexpr size_t kPart = 60000;
  struct Parts {
    const Config& cfg;
    LocalServer& local;
    PeerLinks& links;
    ObjectTable& table;
    IdentityCache& identities;
    OwnerSide& owner;
    RemoteCalls& remote;
  };
  explicit Admin(Parts p);
  void set_referee(RefereeClient* r, RefereeService* service) {
    referee_ = r;
    service_ = service;
  }
  std::function<std::string()> state;  // the node's state, for status

 private:
  std::string status_text();
  Parts p_;
  RefereeClient* referee_ = nullptr;
  RefereeService* service_ = nullptr;
};

}  // namespace dipc::daemon
