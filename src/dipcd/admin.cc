#include "dipcd/admin.h"

#include <fmt/format.h>

#include <sstream>

#include "common/key_rules.h"
#include "dipcd/identity.h"
#include "dipcd/local_server.h"
#include "dipcd/object_table.h"
#include "dipcd/owner_side.h"
#include "dipcd/peer_links.h"
#include "dipcd/referee_client.h"
#include "dipcd/referee_service.h"
#include "dipcd/remote_calls.h"

namespace dipc::daemon {

using proto::FrameType;
using proto::RegRecord;
using proto::RegStatus;
using Clock = std::chrono::steady_clock;

namespace {

// Sends text as parts and a final answer.
void answer(const std::shared_ptr<LocalClient>& c, uint64_t reqid, int err, const std::string& text) {
  size_t at = 0;
  while (text.size() - at > Admin::kPart) {
    proto::AdminReply part{0, std::string_view(text).substr(at, Admin::kPart)};
    c->conn->send(make_frame(FrameType::kAdminMore, reqid, part, Admin::kPart + 64));
    at += Admin::kPart;
  }
  proto::AdminReply rep{err, std::string_view(text).substr(at)};
  c->conn->send(make_frame(FrameType::kAdminReply, reqid, rep, text.size() - at + 64));
}

std::string list_text(const std::vector<ListedObject>& recs) {
  std::string o = fmt::format("{:<4} {:>11} {:>10} {:<12} {:>5} {:>10}  {}\n", "TYPE", "KEY", "ID",
                              "OWNER", "MODE", "SIZE", "HOLDERS");
  for (auto& r : recs) {
    if (r.status == RegStatus::kCreate) continue;  // being created
    o += fmt::format("{:<4} {:>11} {:>10} {:<12} {:>5o} {:>10}  {}\n", kind_name(r.kind), r.key,
                     r.id, r.owner, r.mode & 0777, r.size, r.holders.empty() ? "-" : r.holders);
  }
  return o;
}

}  // namespace

Admin::Admin(Parts p) : p_(p) {
  p_.local.on(FrameType::kAdmin, [this](const std::shared_ptr<LocalClient>& c, Frame& f) {
    uint64_t reqid = f.header.request_id;
    proto::Admin a;
    auto r = f.reader();
    if (!a.decode(r)) return answer(c, reqid, EINVAL, "malformed admin request");
    std::string cmd(a.command);
    if (cmd == "status") return answer(c, reqid, 0, status_text());
    if (cmd == "ls") {
      if (!referee_) return answer(c, reqid, ENOLINK, "no referee\n");
      if (!referee_->joined())
        return answer(c, reqid, ENOLINK,
                      "not connected to the referee (state: " + (state ? state() : "") + ")\n");
      std::weak_ptr<LocalClient> wc = c;
      referee_->list([wc, reqid](int err, std::vector<ListedObject> recs) {
        auto c = wc.lock();
        if (!c) return;
        if (err) return answer(c, reqid, err, "referee lost\n");
        answer(c, reqid, 0, list_text(recs));
      });
      return;
    }
    if (cmd == "rm") {
      if (!referee_) return answer(c, reqid, ENOLINK, "");
      proto::Kind kind = a.kind;
      std::weak_ptr<LocalClient> wc = c;
      p_.identities.for_uid(c->cred.uid, c->cred.gid, [this, wc, reqid, kind, key = a.key](
                                                          const Identity& who) {
        if (wc.expired()) return;
        referee_->lookup(kind, key, 0, [this, who, kind, wc, reqid](const RegRecord& r) {
          auto c = wc.lock();
          if (!c) return;
          if (r.status == RegStatus::kError) return answer(c, reqid, r.err, "");
          OwnedOp op;
          op.kind = kind;
          op.op = ctl_op(kind);
          op.id = r.id;
          op.arg1 = IPC_RMID;
          op.user = who.name;
          auto done = [wc, reqid](OpResult res) {
            if (auto c = wc.lock()) answer(c, reqid, res.ret < 0 ? res.err : 0, "");
          };
          if (r.owner == p_.cfg.node_name) {
            p_.owner.execute(who, op, done);
          } else {
            p_.remote.forward(std::string(r.owner), referee_->owner_address(r.owner_addr),
                              r.owner_port, op, done);
          }
        });
      });
      return;
    }
    if (cmd.rfind("fault ", 0) == 0) {
      if (!p_.cfg.fault_injection)
        return answer(c, reqid, EPERM,
                      "fault injection is off on this node ([debug] fault_injection)\n");
      if (c->cred.uid != 0) return answer(c, reqid, EPERM, "fault injection needs root\n");
      std::istringstream in(cmd.substr(6));
      std::string node, mode;
      int64_t ms = 0;
      in >> node >> mode >> ms;
      std::string why = p_.links.inject(node, mode, ms);
      return answer(c, reqid, why.empty() ? 0 : EINVAL, why.empty() ? "" : why + "\n");
    }
    answer(c, reqid, EINVAL, "unknown command '" + cmd + "'\n");
  });
}

std::string Admin::status_text() {
  const Config& cfg = p_.cfg;
  std::ostringstream o;
  o << "node:      " << cfg.node_name << "\n";
  o << "listening: " << cfg.listen_address << ":" << p_.links.port() << "\n";
  if (service_)
    o << "referee:   this node\n";
  else
    o << "referee:   " << cfg.referee_host << ":" << cfg.referee_port
      << (referee_ && !referee_->referee_name().empty() ? " (" + referee_->referee_name() + ")" : "")
      << "\n";
  o << "state:     " << (state ? state() : "") << "\n";
  o << "keys:      " << format_key_rules(cfg.distribute) << "\n";
  o << "objects:   " << p_.table.owned().size() << " owned, " << p_.table.placeholders().size()
    << " placeholders, " << p_.owner.busy() << " calls running for others, "
    << p_.remote.pending() << " calls waiting on others\n";
  o << "links:\n";
  if (p_.links.links().empty()) o << "  (none)\n";
  auto now = Clock::now();
  for (auto& l : p_.links.links()) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - l->last_heard).count();
    o << fmt::format("  {:<12} {:<3} {}:{}  {}  last heard {} ms ago\n",
                     l->name.empty() ? "?" : l->name, l->outgoing ? "out" : "in", l->address,
                     l->port, l->ready ? "ready" : "connecting", ms);
  }
  if (service_) {
    o << "cluster (referee view):\n";
    for (auto& [n, info] : service_->referee().nodes())
      o << fmt::format("  {:<12} {}:{}\n", n, info.address, info.port);
  }
  return o.str();
}

}  // namespace dipc::daemon
