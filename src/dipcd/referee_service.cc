#include "dipcd/referee_service.h"

#include <spdlog/spdlog.h>

#include "dipcd/object_table.h"
#include "dipcd/peer_links.h"

namespace dipc::daemon {

using proto::FrameType;
using proto::RegRecord;


// This node's own client of the referee it runs.
class RefereeService::Local : public RefereeClient {
 public:
  explicit Local(RefereeService& s) : s_(s) {}
  void lookup(proto::Kind kind, int32_t key, int32_t flags, Done done) override {
    uint64_t id = pending_.add(0, std::move(done));
    asio::post(s_.io_, [this, id, kind, key, flags] {
      s_.referee_.lookup(s_.my_name_, id, kind, key, flags);
    });
  }
  void commit(const RegRecord& r) override {
    if (!s_.referee_.commit(s_.my_name_, r))
      spdlog::warn("referee: this node may not register {} key {}", kind_name(r.kind), r.key);
  }
  void abort(proto::Kind kind, int32_t key) override { s_.referee_.abort(s_.my_name_, kind, key); }
  void remove(proto::Kind kind, int32_t key) override { s_.referee_.remove(s_.my_name_, kind, key); }
  void hold(proto::Kind kind, int32_t key, const std::string& owner, int32_t id) override {
    RegRecord r;
    r.kind = kind;
    r.key = key;
    r.owner = owner;
    r.id = id;
    s_.referee_.hold(s_.my_name_, r);
  }
  void members(MembersDone done) override { done(0, s_.members()); }
  void list(ListDone done) override {
    std::vector<std::string> storage;
    std::vector<ListedObject> out;
    for (auto& r : s_.referee_.records(storage)) out.push_back(ListedObject::from(r));
    done(0, std::move(out));
  }
  bool joined() const override { return true; }
  const std::string& referee_name() const override { return s_.my_name_; }
  std::string owner_address(std::string_view addr) const override { return std::string(addr); }

  void answered(uint64_t reqid, const RegRecord& r) {
    // Copy the strings: the record's views die when this returns.
    auto owner = std::make_shared<std::string>(r.owner);
    auto addr = std::make_shared<std::string>(r.owner_addr);
    RegRecord copy = r;
    asio::post(s_.io_, [this, reqid, copy, owner, addr]() mutable {
      copy.owner = *owner;
      copy.owner_addr = *addr;
      if (auto done = pending_.take(reqid)) (*done)(copy);
    });
  }

 private:
  RefereeService& s_;
  PendingCalls<int, Done> pending_;
};

RefereeService::RefereeService(asio::io_context& io, PeerLinks& links, std::string my_name,
                               std::string my_address)
    : io_(io),
      links_(links),
      my_name_(std::move(my_name)),
      my_address_(std::move(my_address)),
      referee_(*this),
      local_(std::make_unique<Local>(*this)),
      lease_timer_(io) {
  auto request = [this](const std::shared_ptr<Link>& l, Frame& f) {
    RegRecord rec;
    auto r = f.reader();
    if (!rec.decode(r) || !r.at_end()) return links_.drop(l, "malformed referee request");
    switch (f.header.type) {
      case FrameType::kRegLookup:
        referee_.lookup(l->name, f.header.request_id, rec.kind, rec.key, rec.flags);
        break;
      case FrameType::kRegCommit:
        if (!referee_.commit(l->name, rec))
          spdlog::warn("referee: {} may not register {} key {} (another node's, or over its "
                       "quota of {} entries)",
                       l->name, kind_name(rec.kind), rec.key, referee_.limits().entries_per_node);
        break;
      case FrameType::kRegAbort: referee_.abort(l->name, rec.kind, rec.key); break;
      case FrameType::kRegHold: referee_.hold(l->name, rec); break;
      default: referee_.remove(l->name, rec.kind, rec.key); break;
    }
  };
  for (auto t : {FrameType::kRegLookup, FrameType::kRegCommit, FrameType::kRegAbort,
                 FrameType::kRegRemove, FrameType::kRegHold})
    links_.on(t, request);
  links_.on(FrameType::kRegList, [this](const std::shared_ptr<Link>& l, Frame& f) {
    RegListRequest q;
    auto rd = f.reader();
    // An empty request is a first page (as older nodes ask).
    if (!f.payload.empty() && !q.decode(rd)) return links_.drop(l, "malformed list request");
    std::vector<uint8_t> out(proto::kHeaderSize + proto::kMaxPayload);
    proto::Writer w(out.data() + proto::kHeaderSize, proto::kMaxPayload);
    w.u32(0);
    uint32_t n = 0;
    std::vector<std::string> storage;
    std::vector<uint8_t> one(kRegRecordMax + proto::kMaxText);
    for (auto& x : referee_.records(storage)) {
      if (!q.first && std::pair(uint8_t(x.kind), x.key) <= std::pair(uint8_t(q.kind), q.key))
        continue;
      proto::Writer rw(one.data(), one.size());
      x.encode(rw);
      if (!rw.ok() || rw.size() > proto::kMaxPayload - w.size()) break;  // the page is full
      w.raw(one.data(), rw.size());
      if (++n == kListPage) break;
    }
    size_t len = w.size();
    uint8_t* p = out.data() + proto::kHeaderSize;
    p[0] = uint8_t(n >> 24), p[1] = uint8_t(n >> 16), p[2] = uint8_t(n >> 8), p[3] = uint8_t(n);
    proto::Header h;
    h.type = FrameType::kRegListReply;
    h.request_id = f.header.request_id;
    h.length = uint32_t(len);
    proto::encode_header(h, out.data());
    out.resize(proto::kHeaderSize + len);
    l->send(std::move(out));
  });
  links_.on(FrameType::kRegMembers, [this](const std::shared_ptr<Link>& l, Frame& f) {
    if (!f.payload.empty()) return links_.drop(l, "malformed member list request");
    std::vector<Member> all = members();
    proto::MemberRows rows;
    size_t bytes = 64;
    for (auto& m : all) {
      rows.rows.push_back(m.row());
      bytes += 64 + m.name.size() + m.address.size() + m.why.size();
    }
    l->send(make_frame(FrameType::kRegMembersReply, f.header.request_id, rows, bytes));
  });
}

namespace {

int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::vector<Member> RefereeService::members() const {
  std::vector<Member> out;
  auto now = Referee::Clock::now();
  for (auto& [name, info] : referee_.nodes()) {
    if (out.size() == proto::kMaxMembers) break;
    Member m;
    m.name = name;
    m.address = info.address;
    m.port = info.port;
    m.state = name == my_name_ ? proto::MemberState::kReferee : proto::MemberState::kMember;
    if (auto j = joined_at_.find(name); j != joined_at_.end()) m.since = unix_seconds(j->second);
    if (auto l = links_.find(name)) {
      m.heard_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - l->last_heard).count();
      m.rtt_us = l->rtt_us();
    }
    out.push_back(std::move(m));
  }
  for (auto& [name, d] : dead_) {
    if (out.size() == proto::kMaxMembers) break;
    Member m;
    m.name = name;
    m.address = d.address;
    m.port = d.port;
    m.why = d.why.substr(0, proto::kMaxName);
    m.state = proto::MemberState::kDead;
    m.since = unix_seconds(d.since);
    out.push_back(std::move(m));
  }
  return out;
}

RefereeService::~RefereeService() = default;

void RefereeService::start(uint16_t my_port) {
  referee_.node_joined(my_name_, my_address_, my_port);
  joined_at_[my_name_] = SystemClock::now();
  spdlog::info("this node is the referee");
  expire_leases();
}

// Once a second: creation locks not committed within their lease are released.
void RefereeService::expire_leases() {
  if (size_t n = referee_.expire())
    spdlog::warn("referee: {} creation lock(s) not committed within {} ms released", n,
                 referee_.limits().lock_lease.count());
  lease_timer_.expires_after(std::chrono::seconds(1));
  lease_timer_.async_wait([this](std::error_code ec) {
    if (!ec) expire_leases();
  });
}

void RefereeService::node_ready(const std::string& name, const std::string& address,
                                uint16_t port) {
  referee_.node_joined(name, address, port);
  joined_at_[name] = SystemClock::now();
  dead_.erase(name);
}

void RefereeService::node_dead(const std::string& name, const std::string& why) {
  auto n = referee_.nodes().find(name);
  if (n != referee_.nodes().end()) {
    Dead& d = dead_[name];
    d = Dead{n->second.address, why, n->second.port, SystemClock::now()};
    while (dead_.size() > proto::kMaxMembers) {
      auto oldest = dead_.begin();
      for (auto it = dead_.begin(); it != dead_.end(); ++it)
        if (it->second.since < oldest->second.since) oldest = it;
      dead_.erase(oldest);
    }
  }
  joined_at_.erase(name);
  referee_.node_dead(name);
}

RefereeClient& RefereeService::local_client() { return *local_; }

void RefereeService::reg_reply(const std::string& node, uint64_t reqid, const RegRecord& r) {
  if (node == my_name_) return local_->answered(reqid, r);
  if (!links_.send_to(node, reg_frame(FrameType::kRegReply, reqid, r)))
    spdlog::debug("referee answer for {} dropped: no link", node);
}

void RefereeService::reg_removed(const std::string& holder, const RegRecord& r) {
  if (holder == my_name_) {
    proto::Kind kind = r.kind;
    int32_t key = r.key, id = r.id;
    asio::post(io_, [this, kind, key, owner = std::string(r.owner), id] {
      if (local_->on_removed) local_->on_removed(kind, key, owner, id);
    });
    return;
  }
  links_.send_to(holder, reg_frame(FrameType::kRegRemoved, 0, r));
}

}  // namespace dipc::daemon
