#include "dipcd/remote_calls.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "dipcd/conn.h"
#include "dipcd/peer_links.h"

namespace dipc::daemon {

using proto::FrameType;

RemoteCalls::RemoteCalls(PeerLinks& links) : links_(links) {
  links_.on(FrameType::kOpReply, [this](const std::shared_ptr<Link>& l, Frame& f) {
    proto::OpReply rep;
    auto r = f.reader();
    if (!rep.decode(r)) return links_.drop(l, "malformed reply");
    auto call = pending_.take(f.header.request_id, Tag{l->name, l->serial});
    if (!call) {
      spdlog::warn("{} sent a reply to no call pending on its link (ignored)", l->describe());
      return;
    }
    if (rep.ret >= 0 && call->still_wanted && !call->still_wanted()) {
      // The message left its queue for a caller that is gone: it goes back.
      l->send(make_empty_frame(FrameType::kRequeue, f.header.request_id));
    } else if (rep.ret >= 0 && call->still_wanted && call->on_handed) {
      std::weak_ptr<Link> wl = l;
      call->on_handed([wl, reqid = f.header.request_id] {
        if (auto l = wl.lock(); l && l->is_open())
          l->send(make_empty_frame(FrameType::kRequeue, reqid));
      });
    }
    if (call->relay) return call->relay(rep, f);
    (*call)(OpResult{rep.ret, rep.err, rep.aux, std::string(rep.data)});
  });
}

std::function<void()> RemoteCalls::forward(const std::string& owner, const std::string& addr,
                                           uint16_t port, OwnedOp op, OpDone done,
                                           std::function<bool()> still_wanted, Relay relay,
                                           std::function<void(GiveBack)> on_handed) {
  DIPC_ON_THREAD(thread_);
  ++per_node_[owner].calls;
  ++per_op_[OpKey{op.kind, op.op}].calls;
  // Counted and logged once per call, whichever way it completes.
  auto account = [this, owner, kind = op.kind, op_code = op.op, id = op.id,
                  t0 = std::chrono::steady_clock::now()](int64_t ret, int err, bool answered) {
    NodeCalls& n = per_node_[owner];
    OpCalls& o = per_op_[OpKey{kind, op_code}];
    if (!answered) {
      ++n.errors;
      ++o.errors;
      spdlog::debug("call op {} id {} at {}: failed without an answer (errno {})", int(op_code), id,
                    owner, err);
      return;
    }
    auto us = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - t0)
                           .count());
    ++n.answered;
    n.latency_us_sum += us;
    n.latency_us_max = std::max(n.latency_us_max, us);
    ++o.answered;
    o.latency_us_sum += us;
    size_t b = 0;
    while (b < kLatencyBoundsUs.size() && us > kLatencyBoundsUs[b]) ++b;
    ++o.buckets[b];
    spdlog::debug("call op {} id {} at {}: ret {} errno {} in {} us", int(op_code), id, owner, ret,
                  err, us);
  };
  done = [account, done = std::move(done)](OpResult r) {
    account(r.ret, r.err, !(r.ret < 0 && (r.err == ENOLINK || r.err == EIDRM)));
    done(std::move(r));
  };
  if (relay) {
    relay = [account, relay = std::move(relay)](const proto::OpReply& rep, Frame& f) {
      account(rep.ret, rep.err, true);
      relay(rep, f);
    };
  }
  bool takes_message = op.op == proto::Op::kMsgRcv && !(op.flags & MSG_COPY);
  uint64_t reqid = pending_.add(
      Tag{owner, 0},
      Call{std::move(done), takes_message ? std::move(still_wanted) : nullptr, std::move(relay),
           takes_message ? std::move(on_handed) : nullptr});
  auto fail = [this, reqid](int err) {
    if (auto d = pending_.take(reqid)) (*d)(OpResult::error(err));
  };
  // The fixed fields in one buffer, the data (message text, sembufs) as the frame's body.
  OutFrame frame;
  {
    proto::OpRequest v = op.view();
    size_t fixed = v.fixed_size();
    frame.head.resize(proto::kHeaderSize + fixed);
    proto::Writer w(frame.head.data() + proto::kHeaderSize, fixed);
    v.encode_fixed(w);  // everything up to and with the data's length
    proto::Header h;
    h.type = FrameType::kOp;
    h.request_id = reqid;
    h.length = uint32_t(fixed + op.data.size());
    proto::encode_header(h, frame.head.data());
    if (!w.ok() || op.data.size() > proto::kMaxData) {
      fail(EINVAL);
      return [] {};
    }
    frame.body = std::move(op.data);
  }
  auto f = std::make_shared<OutFrame>(std::move(frame));
  links_.with_link(owner, addr, port, [this, reqid, owner, f, fail](const LinkResult& r) {
    if (!pending_.contains(reqid)) return;  // cancelled while the link was being made
    if (!r.link || r.link->name != owner) return fail(ENOLINK);  // nothing was sent
    pending_.retag(reqid, Tag{owner, r.link->serial});
    r.link->send(std::move(*f));
  });
  return [this, reqid, fail] {
    const Tag* t = pending_.tag_of(reqid);
    if (!t) return;
    // Not sent yet: it never will be, and the caller is told at once.
    if (t->link == 0) return fail(EINTR);
    auto l = links_.find(t->node);
    if (l && l->serial == t->link) l->send(make_empty_frame(FrameType::kCancel, reqid));
  };
}

void RemoteCalls::link_superseded(uint64_t serial) {
  for (auto& done : pending_.take_if([&](const Tag& t) { return t.link == serial; }))
    done(OpResult::error(ECOMM));
}

void RemoteCalls::node_dead(const std::string& name) {
  for (auto& done : pending_.take_if([&](const Tag& t) { return t.node == name; }))
    done(OpResult::error(EIDRM));
}

}  // namespace dipc::daemon
