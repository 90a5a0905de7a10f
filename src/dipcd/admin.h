// Admin: the dipc command's requests on the local socket (kAdmin): status, ls, rm.
//
// Answers are text, in kAdminMore parts of at most kPart bytes and a final kAdminReply, so
// no answer has a size limit. ls answers with records instead (kAdminRows pages of
// proto::ObjectRow, then an empty kAdminReply) that the tool formats: the referee's list
// (RefereeClient::list, paged), each object's content from this node's kernel when it owns
// the object, else an IPC_STAT forwarded to the owner as the caller (at most 64 at once).
// rm looks the key up at the referee and removes the object at its owner, as the caller.
// Thread safety: io thread only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <cstdint>
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
struct Listing;

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
  std::function<std::string()> dsm_status;  // shared memory's line in status
  // A node declared dead: status shows it, with when and why, until it links again.
  void node_dead(const std::string& name, const std::string& why);

 private:
  std::string status_text();
  void list(const std::shared_ptr<LocalClient>& c, uint64_t reqid);
  void stat_next(const std::shared_ptr<Listing>& job);
  Parts p_;
  RefereeClient* referee_ = nullptr;
  RefereeService* service_ = nullptr;
  struct Dead {
    std::string why;
    std::chrono::system_clock::time_point since;
  };
  std::map<std::string, Dead> dead_;  // bounded by the nodes this node ever linked to
};

}  // namespace dipc::daemon
