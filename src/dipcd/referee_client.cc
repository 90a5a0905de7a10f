#include "dipcd/referee_client.h"

#include <spdlog/spdlog.h>

#include "dipcd/peer_links.h"

namespace dipc::daemon {

using proto::FrameType;
using proto::RegRecord;
using proto::RegStatus;

std::vector<uint8_t> reg_frame(FrameType t, uint64_t reqid, const RegRecord& r) {
  return make_frame(t, reqid, r, kRegRecordMax + r.holders.size());
}

namespace {

RegRecord error_record(int err) {
  RegRecord e;
  e.status = RegStatus::kError;
  e.err = err;
  return e;
}

}  // namespace

ListedObject ListedObject::from(const RegRecord& r) {
  ListedObject o;
  o.kind = r.kind;
  o.key = r.key;
  o.id = r.id;
  o.status = r.status;
  o.owner = std::string(r.owner);
  o.owner_addr = std::string(r.owner_addr);
  o.owner_port = r.owner_port;
  o.mode = r.mode;
  o.uid = r.uid;
  o.gid = r.gid;
  o.size = r.size;
  o.holders = std::string(r.holders);
  return o;
}

Member Member::from(const proto::MemberRow& r) {
  Member m;
  m.name = std::string(r.name);
  m.address = std::string(r.address);
  m.why = std::string(r.why);
  m.port = r.port;
  m.state = r.state;
  m.since = r.since;
  m.heard_ms = r.heard_ms;
  m.rtt_us = r.rtt_us;
  return m;
}

proto::MemberRow Member::row() const {
  proto::MemberRow r;
  r.name = name;
  r.address = address;
  r.why = why;
  r.port = port;
  r.state = state;
  r.since = since;
  r.heard_ms = heard_ms;
  r.rtt_us = rtt_us;
  return r;
}

RemoteReferee::RemoteReferee(asio::io_context& io, PeerLinks& links, std::string host,
                             uint16_t port)
    : io_(io), links_(links), host_(std::move(host)), port_(port), timer_(io) {
  auto from_ref = [this](const Link& l) { return from_referee(l); };
  links_.on(
      FrameType::kRegReply,
      [this](const std::shared_ptr<Link>& l, Frame& f) {
        RegRecord rec;
        auto r = f.reader();
        if (!rec.decode(r) || !r.at_end()) return links_.drop(l, "malformed referee reply");
        auto done = pending_.take(f.header.request_id, Tag{l->serial});
        if (!done) return links_.drop(l, "referee reply to no pending look-up");
        (*done)(rec);
      },
      from_ref);
  links_.on(
      FrameType::kRegRemoved,
      [this](const std::shared_ptr<Link>& l, Frame& f) {
        RegRecord rec;
        auto r = f.reader();
        if (!rec.decode(r) || !r.at_end()) return links_.drop(l, "malformed removal notice");
        if (on_removed) on_removed(rec.kind, rec.key, std::string(rec.owner), rec.id);
      },
      from_ref);
  // A page of the listing or the member list: the pending request decodes it.
  for (auto t : {FrameType::kRegListReply, FrameType::kRegMembersReply})
    links_.on(
        t,
        [this](const std::shared_ptr<Link>& l, Frame& f) {
          auto done = lists_.take(f.header.request_id, Tag{l->serial});
          if (!done) return links_.drop(l, "referee list to no pending request");
          (*done)(&f);
        },
        from_ref);
}

bool RemoteReferee::from_referee(const Link& l) const {
  return link_serial_ != 0 && l.serial == link_serial_;
}

void RemoteReferee::start() {
  if (on_state) on_state("connecting");
  connect();
}

void RemoteReferee::retry(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([this](std::error_code e) {
    if (!e) connect();
  });
}

void RemoteReferee::connect() {
  DIPC_ON_THREAD(thread_);
  links_.with_link(
      "", host_, port_,
      [this](const LinkResult& r) {
        if (!r.link) {
          last_error_ = r.why;
          if (r.refused) {
            refused_ = true;
            if (on_state) on_state(r.why);
            return retry(std::chrono::seconds(3));
          }
          // Retried every second: say so once, not every second.
          if (!unreachable_logged_)
            spdlog::warn("cannot reach the referee at {}:{}: {} (retrying every second)", host_,
                         port_, r.why);
          unreachable_logged_ = true;
          if (!refused_ && on_state) on_state("connecting");
          return retry(std::chrono::seconds(1));
        }
        unreachable_logged_ = false;
        refused_ = false;
        if (referee_run_ != 0 && r.link->incarnation == referee_run_ && on_declared_dead) {
          spdlog::warn("the referee {} declared this node dead while it was away",
                       r.link->describe());
          referee_run_ = 0;
          on_declared_dead();  // closes every link, this one too
          return retry(std::chrono::seconds(1));
        }
        referee_run_ = r.link->incarnation;
        name_ = r.link->name;
        link_serial_ = r.link->serial;
        if (on_state) on_state("joined");
        spdlog::info("joined the cluster of referee {}", r.link->describe());
        if (on_joined) on_joined();
      },
      true);
}

void RemoteReferee::link_superseded(uint64_t serial, const std::shared_ptr<Link>& kept) {
  if (link_serial_ == 0 || serial != link_serial_) return;
  for (auto& done : pending_.take_if([](const Tag&) { return true; })) done(error_record(ENOLINK));
  for (auto& done : lists_.take_if([](const Tag&) { return true; })) done(nullptr);
  link_serial_ = kept->serial;  // the same referee, on the link both nodes kept
}

void RemoteReferee::node_dead(const std::string& name) {
  if (link_serial_ == 0 || name != name_) return;
  link_serial_ = 0;
  // Referee calls in flight can no longer be answered.
  for (auto& done : pending_.take_if([](const Tag&) { return true; })) done(error_record(ENOLINK));
  for (auto& done : lists_.take_if([](const Tag&) { return true; })) done(nullptr);
  if (!refused_ && on_state) on_state("connecting");
  retry(std::chrono::seconds(1));
}

void RemoteReferee::send(FrameType t, uint64_t reqid, const RegRecord& r) {
  if (!joined()) return;
  if (!links_.send_to(name_, reg_frame(t, reqid, r)))
    spdlog::warn("referee link gone: {} not sent", int(t));
}

void RemoteReferee::lookup(proto::Kind kind, int32_t key, int32_t flags, Done done) {
  DIPC_ON_THREAD(thread_);
  if (!joined()) return done(error_record(ENOLINK));
  RegRecord q;
  q.kind = kind;
  q.key = key;
  q.flags = flags;
  uint64_t id = pending_.add(Tag{link_serial_}, std::move(done));
  send(FrameType::kRegLookup, id, q);
}

void RemoteReferee::commit(const RegRecord& r) { send(FrameType::kRegCommit, 0, r); }

void RemoteReferee::abort(proto::Kind kind, int32_t key) {
  RegRecord r;
  r.kind = kind;
  r.key = key;
  send(FrameType::kRegAbort, 0, r);
}

void RemoteReferee::remove(proto::Kind kind, int32_t key) {
  RegRecord r;
  r.kind = kind;
  r.key = key;
  send(FrameType::kRegRemove, 0, r);
}

void RemoteReferee::hold(proto::Kind kind, int32_t key, const std::string& owner, int32_t id) {
  RegRecord r;
  r.kind = kind;
  r.key = key;
  r.owner = owner;
  r.id = id;
  send(FrameType::kRegHold, 0, r);
}

void RemoteReferee::list(ListDone done) {
  if (!joined()) return done(ENOLINK, {});
  list_page(0, std::make_shared<std::vector<ListedObject>>(), std::move(done), proto::Kind::kMsg, 0,
            true);
}

// One page at a time, each after the last record of the one before.
void RemoteReferee::list_page(uint64_t, std::shared_ptr<std::vector<ListedObject>> acc,
                              ListDone done, proto::Kind after_kind, int32_t after_key, bool first) {
  if (!joined()) return done(ENOLINK, {});
  RegListRequest q{uint8_t(first ? 1 : 0), after_kind, after_key};
  uint64_t id = lists_.add(Tag{link_serial_}, [this, acc, done](Frame* f) {
    if (!f) return done(ENOLINK, {});
    auto r = f->reader();
    uint32_t n = r.u32();
    if (!r.ok() || n > kListPage) return done(EPROTO, {});
    for (uint32_t i = 0; i < n; ++i) {
      RegRecord x;
      if (!x.decode(r)) return done(EPROTO, {});
      acc->push_back(ListedObject::from(x));
    }
    if (!r.at_end()) return done(EPROTO, {});
    if (n == 0) return done(0, std::move(*acc));
    auto& last = acc->back();
    list_page(0, acc, done, last.kind, last.key, false);
  });
  if (!links_.send_to(name_, make_frame(FrameType::kRegList, id, q, 16))) {
    if (auto d = lists_.take(id)) (*d)(nullptr);
  }
}

void RemoteReferee::members(MembersDone done) {
  DIPC_ON_THREAD(thread_);
  if (!joined()) return done(ENOLINK, {});
  uint64_t id = lists_.add(Tag{link_serial_}, [done](Frame* f) {
    if (!f) return done(ENOLINK, {});
    proto::MemberRows rows;
    auto r = f->reader();
    if (!rows.decode(r)) return done(EPROTO, {});
    std::vector<Member> out;
    for (auto& row : rows.rows) out.push_back(Member::from(row));
    done(0, std::move(out));
  });
  if (!links_.send_to(name_, make_empty_frame(FrameType::kRegMembers, id))) {
    if (auto d = lists_.take(id)) (*d)(nullptr);
  }
}

std::string RemoteReferee::owner_address(std::string_view addr) const {
  if (addr.empty() || addr == "0.0.0.0" || addr == "::") return host_;
  return std::string(addr);
}

}  // namespace dipc::daemon
