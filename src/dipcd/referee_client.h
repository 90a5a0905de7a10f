// RefereeClient: how this node talks to its cluster's referee, whichever node runs it.
//
// One interface, two implementations: RemoteReferee (the referee is another node: frames on
// the link to it, which it reconnects with a back-off and re-registers this node's objects
// on every join) and the in-process client of RefereeService (this node is the referee).
// Callers never know which one they have.
//
// Fail-stop: when this node joins again the same run of the referee (the incarnation its
// link says) after its link to it was lost, the referee has declared this node dead and
// forgotten what it owned: on_declared_dead is called instead of on_joined, and this node
// starts over as a new node (docs/errors.md). A referee of another run (it restarted) is
// joined as usual: this node re-registers its objects there.
//
// Role checks: the remote implementation accepts referee answers (kRegReply, kRegRemoved,
// kRegListReply, kRegMembersReply) only from the link to the node it joined as referee, and an answer only
// for a request still pending on that link.
// Thread safety: io thread only.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dipcd/pending.h"
#include "dipcd/thread_check.h"
#include "proto/admin_rows.h"
#include "proto/wire.h"

namespace dipc::daemon {

class PeerLinks;
struct Link;
struct Frame;

// A referee frame (kRegLookup, kRegReply, ...) of a record: everything but the holder list
// fits in kRegRecordMax bytes.
inline constexpr size_t kRegRecordMax = 4096;
std::vector<uint8_t> reg_frame(proto::FrameType t, uint64_t reqid, const proto::RegRecord& r);

// A referee record that owns its strings (a RegRecord's views die with its frame).
struct ListedObject {
  proto::Kind kind{};
  int32_t key = 0;
  int32_t id = 0;
  proto::RegStatus status{};
  std::string owner;
  std::string owner_addr;  // as RegRecord: where to reach the owner
  uint16_t owner_port = 0;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0;
  std::string holders;
  static ListedObject from(const proto::RegRecord& r);
};

// A member of the cluster as the referee sees it (proto::MemberRow with its own strings).
struct Member {
  std::string name, address, why;
  uint16_t port = 0;
  proto::MemberState state{};
  int64_t since = 0, heard_ms = -1, rtt_us = -1;
  static Member from(const proto::MemberRow& r);
  proto::MemberRow row() const;
};

class RefereeClient {
 public:
  // The record's views are valid during the call only.
  using Done = std::function<void(const proto::RegRecord&)>;
  using ListDone = std::function<void(int err, std::vector<ListedObject>)>;
  using MembersDone = std::function<void(int err, std::vector<Member>)>;
  virtual ~RefereeClient() = default;

  // Asks for key: create it (locked for this node until commit or abort), it exists (owner
  // fields), or an error (ENOLINK when there is no referee to ask).
  virtual void lookup(proto::Kind kind, int32_t key, int32_t flags, Done done) = 0;
  virtual void commit(const proto::RegRecord& r) = 0;
  virtual void abort(proto::Kind kind, int32_t key) = 0;
  virtual void remove(proto::Kind kind, int32_t key) = 0;
  virtual void list(ListDone done) = 0;
  // The cluster's members and the nodes it declared dead (dipc status --cluster).
  virtual void members(MembersDone done) = 0;
  virtual bool joined() const = 0;
  virtual const std::string& referee_name() const = 0;
  // The address other nodes' records give for the referee node when it listens on a
  // wildcard address: the address this node reaches the referee at.
  virtual std::string owner_address(std::string_view addr) const = 0;
  // Why the last attempt to reach or join the referee failed ("" when it did not).
  virtual std::string last_error() const { return {}; }

  // From a node that holds a placeholder of owner's object id, on a (re)join: a referee
  // that restarted learns its holders again (it may answer with a removal notice).
  virtual void hold(proto::Kind kind, int32_t key, const std::string& owner, int32_t id) = 0;

  // Set by the daemon root: this node (re)joined (re-register owned objects, re-announce
  // placeholders) / the referee says the placeholder of owner's object id must go / the
  // state to show and write ("joined", ...).
  std::function<void()> on_joined;
  std::function<void(proto::Kind, int32_t key, const std::string& owner, int32_t id)> on_removed;
  std::function<void(const std::string& state)> on_state;
};

class RemoteReferee : public RefereeClient {
 public:
  RemoteReferee(asio::io_context& io, PeerLinks& links, std::string host, uint16_t port);
  void start();
  void node_dead(const std::string& name);
  // The link to the referee was superseded by kept (both nodes connected at once).
  void link_superseded(uint64_t serial, const std::shared_ptr<Link>& kept);
  // This node starts over: the next join is its first.
  void forget_referee_run() { referee_run_ = 0; }
  // Set by the daemon root: this node joined the referee run that had declared it dead.
  std::function<void()> on_declared_dead;

  void lookup(proto::Kind kind, int32_t key, int32_t flags, Done done) override;
  void commit(const proto::RegRecord& r) override;
  void abort(proto::Kind kind, int32_t key) override;
  void remove(proto::Kind kind, int32_t key) override;
  void hold(proto::Kind kind, int32_t key, const std::string& owner, int32_t id) override;
  void list(ListDone done) override;
  void members(MembersDone done) override;
  bool joined() const override { return link_serial_ != 0; }
  std::string last_error() const override { return last_error_; }
  const std::string& referee_name() const override { return name_; }
  std::string owner_address(std::string_view addr) const override;

 private:
  struct Tag {
    uint64_t link = 0;
    bool operator==(const Tag&) const = default;
  };
  void connect();
  void retry(std::chrono::milliseconds after);
  void send(proto::FrameType t, uint64_t reqid, const proto::RegRecord& r);
  bool from_referee(const Link& l) const;
  void list_page(uint64_t reqid, std::shared_ptr<std::vector<ListedObject>> acc, ListDone done,
                 proto::Kind after_kind, int32_t after_key, bool first);

  asio::io_context& io_;
  PeerLinks& links_;
  ThreadCheck thread_;
  std::string host_;
  uint16_t port_;
  asio::steady_timer timer_;
  std::string name_;          // the referee node's name, once joined
  uint64_t link_serial_ = 0;  // the link to it, while joined
  uint64_t referee_run_ = 0;  // the incarnation of the referee run last joined
  bool refused_ = false;
  bool unreachable_logged_ = false;
  std::string last_error_;
  PendingCalls<Tag, Done> pending_;
  PendingCalls<Tag, std::function<void(Frame*)>> lists_;
};

// kRegList paging: a page asks for the records after (kind, key) and gets at most
// kListPage of them (fewer when they would not fit in one frame); an empty page is the end.
inline constexpr uint32_t kListPage = 512;
struct RegListRequest {
  uint8_t first = 1;  // 1: from the start (kind and key ignored)
  proto::Kind kind{};
  int32_t key = 0;
  void encode(proto::Writer& w) const {
    w.u8(first);
    w.u8(uint8_t(kind));
    w.i32(key);
  }
  bool decode(proto::Reader& r) {
    first = r.u8();
    uint8_t k = r.u8();
    key = r.i32();
    if (!r.done() || first > 1 || (!first && !proto::is_valid_kind(k))) return false;
    kind = proto::Kind(k);
    return true;
  }
};

}  // namespace dipc::daemon
