// RefereeService: the referee, on the node whose configuration enables it.
//
// Owns the Referee (the pure name server and creation lock) and connects it to the world:
// referee requests from other nodes arrive on their links (kRegLookup, kRegCommit,
// kRegAbort, kRegRemove, kRegHold, kRegList, registered with PeerLinks), answers and
// removal notices leave on the link to the node concerned, and this node's own requests go through
// local_client(), the in-process RefereeClient (answers are posted, so that the referee
// never calls back into itself). Nodes join when their link is ready and are dead when it
// is lost. A timer releases, once a second, the creation locks whose lease has ended.
// It also answers kRegMembers (dipc status --cluster): every member with when it joined and
// how the referee hears it, and the nodes declared dead with since when and why (the last
// kMaxMembers of them; a node that joins again leaves that list).
// Thread safety: io thread only.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dipcd/referee.h"
#include "dipcd/referee_client.h"

namespace dipc::daemon {

class PeerLinks;

class RefereeService : public Referee::Outbox {
 public:
  RefereeService(asio::io_context& io, PeerLinks& links, std::string my_name,
                 std::string my_address);
  ~RefereeService() override;
  // This node joins its own referee once it listens.
  void start(uint16_t my_port);
  void node_ready(const std::string& name, const std::string& address, uint16_t port);
  void node_dead(const std::string& name, const std::string& why);
  RefereeClient& local_client();
  // The cluster as the referee sees it: itself, its members, the nodes declared dead.
  std::vector<Member> members() const;
  const Referee& referee() const { return referee_; }

  // Referee::Outbox
  void reg_reply(const std::string& node, uint64_t reqid, const proto::RegRecord& r) override;
  void reg_removed(const std::string& holder, const proto::RegRecord& r) override;

 private:
  class Local;
  void expire_leases();
  asio::io_context& io_;
  PeerLinks& links_;
  std::string my_name_;
  std::string my_address_;
  Referee referee_;
  std::unique_ptr<Local> local_;
  asio::steady_timer lease_timer_;
  using SystemClock = std::chrono::system_clock;
  std::map<std::string, SystemClock::time_point> joined_at_;  // as Referee::nodes()
  struct Dead {
    std::string address, why;
    uint16_t port = 0;
    SystemClock::time_point since;
  };
  std::map<std::string, Dead> dead_;  // at most proto::kMaxMembers: the oldest goes first
};

}  // namespace dipc::daemon
