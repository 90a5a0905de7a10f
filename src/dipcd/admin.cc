#include "dipcd/admin.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <ctime>
#include <sstream>
#include <utility>

#include "common/key_rules.h"
#include "dipcd/identity.h"
#include "dipcd/ipc_ops.h"
#include "dipcd/local_server.h"
#include "dipcd/object_table.h"
#include "dipcd/owner_side.h"
#include "dipcd/peer_links.h"
#include "dipcd/referee_client.h"
#include "dipcd/referee_service.h"
#include "dipcd/remote_calls.h"
#include "proto/admin_rows.h"

namespace dipc::daemon {

using proto::FrameType;
using proto::RegRecord;
using proto::RegStatus;
using Clock = std::chrono::steady_clock;

namespace {

// Sends text as parts and a final answer.
void answer(const std::shared_ptr<LocalClient>& c, uint64_t reqid, int err,
            const std::string& text) {
  size_t at = 0;
  while (text.size() - at > Admin::kPart) {
    proto::AdminReply part{0, std::string_view(text).substr(at, Admin::kPart)};
    c->conn->send(make_frame(FrameType::kAdminMore, reqid, part, Admin::kPart + 64));
    at += Admin::kPart;
  }
  proto::AdminReply rep{err, std::string_view(text).substr(at)};
  c->conn->send(make_frame(FrameType::kAdminReply, reqid, rep, text.size() - at + 64));
}

// The content of an object this node owns, read from the kernel here (dipcd sees every
// object of its node, as ipcs does).
// A segment's content fields from the IpcStat its owner's shmctl(IPC_STAT) gives.
void fill_shm(proto::ObjectRow& row, const proto::IpcStat& st) {
  row.nattch = st.qnum;  // shm_nattch, cluster-wide
  row.lspid = st.lspid;  // shm_cpid
  row.lrpid = st.lrpid;  // shm_lpid
  row.ctime = st.ctime;
  row.stat_err = 0;
}

void local_stat(proto::ObjectRow& row) {
  switch (row.kind) {
    case proto::Kind::kMsg: {
      msqid_ds ds{};
      if (sysv::msgctl(row.id, IPC_STAT, &ds) < 0) break;
      row.qnum = ds.msg_qnum;
      row.cbytes = ds.__msg_cbytes;
      row.lspid = ds.msg_lspid;
      row.lrpid = ds.msg_lrpid;
      row.ctime = ds.msg_ctime;
      row.stat_err = 0;
      return;
    }
    case proto::Kind::kSem: {
      semid_ds ds{};
      if (sysv::semctl(row.id, 0, IPC_STAT, &ds) < 0) break;
      row.ctime = ds.sem_ctime;
      row.stat_err = 0;
      return;
    }
    case proto::Kind::kShm: {
      // As shmctl(IPC_STAT) answers a program: attachments on every node (the fault
      // server's count), not the kernel's, which counts dipcd's own mapping.
      OwnedOp op;
      op.kind = proto::Kind::kShm;
      op.op = proto::Op::kShmCtl;
      op.id = row.id;
      op.arg1 = IPC_STAT;
      OpResult r = run_op(op);
      proto::IpcStat st;
      proto::Reader rd(reinterpret_cast<const uint8_t*>(r.data.data()), r.data.size());
      if (r.ret < 0 || !st.decode(rd)) {
        errno = r.ret < 0 ? r.err : EBADMSG;
        break;
      }
      fill_shm(row, st);
      return;
    }
  }
  row.stat_err = errno;
}

}  // namespace

// One dipc ls in progress: the referee's records, then the content of each object, from
// this node's kernel or from its owner (at most kStatWindow IPC_STATs in flight), then the
// rows leave in pages.
struct Listing {
  static constexpr size_t kStatWindow = 64;
  std::weak_ptr<LocalClient> client;
  uint64_t reqid = 0;
  std::string user;  // the caller's login name: remote IPC_STATs run as the caller
  std::vector<ListedObject> recs;
  std::vector<proto::ObjectRow> rows;
  std::vector<std::pair<size_t, size_t>> remote;  // rows owned elsewhere: row, record
  size_t next = 0, running = 0;
};

namespace {

void send_rows(const std::shared_ptr<LocalClient>& c, uint64_t reqid,
               const std::vector<proto::ObjectRow>& rows) {
  proto::AdminRows page;
  size_t bytes = 0;
  auto flush = [&] {
    if (page.rows.empty()) return;
    c->conn->send(make_frame(FrameType::kAdminRows, reqid, page, bytes + 64));
    page.rows.clear();
    bytes = 0;
  };
  for (auto& r : rows) {
    size_t n = 120 + r.owner.size() + r.holders.size();
    if (page.rows.size() == proto::kMaxRowsPerPage || bytes + n > Admin::kPart) flush();
    page.rows.push_back(r);
    bytes += n;
  }
  flush();
  answer(c, reqid, 0, "");
}

}  // namespace

void Admin::list(const std::shared_ptr<LocalClient>& c, uint64_t reqid) {
  std::weak_ptr<LocalClient> wc = c;
  p_.identities.for_uid(c->cred.uid, c->cred.gid, [this, wc, reqid](const Identity& who) {
    if (wc.expired()) return;
    auto job = std::make_shared<Listing>();
    job->client = wc;
    job->reqid = reqid;
    job->user = who.name;
    referee_->list([this, job](int err, std::vector<ListedObject> recs) {
      auto c = job->client.lock();
      if (!c) return;
      if (err) return answer(c, job->reqid, err, "referee lost\n");
      job->recs = std::move(recs);
      for (size_t ri = 0; ri < job->recs.size(); ++ri) {
        const ListedObject& r = job->recs[ri];
        if (r.status == RegStatus::kCreate) continue;  // being created
        proto::ObjectRow row;
        row.kind = r.kind;
        row.key = r.key;
        row.id = r.id;
        row.owner = r.owner;
        row.mode = r.mode;
        row.uid = r.uid;
        row.gid = r.gid;
        row.size = r.size;
        row.holders = r.holders;
        row.stat_err = EHOSTUNREACH;
        if (r.owner == p_.cfg.node_name) {
          local_stat(row);
        } else {
          job->remote.emplace_back(job->rows.size(), ri);
        }
        job->rows.push_back(row);
      }
      stat_next(job);
    });
  });
}

void Admin::stat_next(const std::shared_ptr<Listing>& job) {
  while (job->running < Listing::kStatWindow && job->next < job->remote.size()) {
    auto [i, ri] = job->remote[job->next++];
    const ListedObject& rec = job->recs[ri];
    OwnedOp op;
    op.kind = rec.kind;
    op.op = ctl_op(rec.kind);
    op.id = rec.id;
    op.arg1 = IPC_STAT;
    op.user = job->user;
    ++job->running;
    p_.remote.forward(rec.owner, referee_->owner_address(rec.owner_addr), rec.owner_port, op,
                      [this, job, i](OpResult res) {
                        --job->running;
                        auto& row = job->rows[i];
                        proto::IpcStat st;
                        proto::Reader r(reinterpret_cast<const uint8_t*>(res.data.data()),
                                        res.data.size());
                        if (res.ret < 0) {
                          row.stat_err = res.err > 0 ? res.err : EIO;
                        } else if (!st.decode(r)) {
                          row.stat_err = EBADMSG;
                        } else {
                          row.stat_err = 0;
                          if (row.kind == proto::Kind::kMsg) {
                            row.qnum = st.qnum;
                            row.cbytes = st.cbytes;
                            row.lspid = st.lspid;
                            row.lrpid = st.lrpid;
                          }
                          row.ctime = st.ctime;
                          if (row.kind == proto::Kind::kShm) fill_shm(row, st);
                        }
                        stat_next(job);
                      });
  }
  if (job->running > 0 || job->next < job->remote.size()) return;
  if (auto c = job->client.lock()) send_rows(c, job->reqid, job->rows);
}

Admin::Admin(Parts p) : p_(p) {
  p_.local.on(FrameType::kAdmin, [this](const std::shared_ptr<LocalClient>& c, Frame& f) {
    uint64_t reqid = f.header.request_id;
    proto::Admin a;
    auto r = f.reader();
    if (!a.decode(r)) return answer(c, reqid, EINVAL, "malformed admin request");
    std::string cmd(a.command);
    // Not joined is an answer too, with an errno the tool turns into its exit status 3.
    if (cmd == "status")
      return answer(c, reqid, referee_ && referee_->joined() ? 0 : ENOTCONN, status_text());
    if (cmd == "ls") {
      if (!referee_) return answer(c, reqid, ENOLINK, "no referee\n");
      if (!referee_->joined())
        return answer(c, reqid, ENOLINK,
                      "not connected to the referee (state: " + (state ? state() : "") + ")\n");
      return list(c, reqid);
    }
    if (cmd == "rm") {
      if (!referee_) return answer(c, reqid, ENOLINK, "");
      proto::Kind kind = a.kind;
      std::weak_ptr<LocalClient> wc = c;
      p_.identities.for_uid(
          c->cred.uid, c->cred.gid, [this, wc, reqid, kind, key = a.key](const Identity& who) {
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

void Admin::node_dead(const std::string& name, const std::string& why) {
  dead_[name] = Dead{why, std::chrono::system_clock::now()};
}

namespace {

std::string clock_text(std::chrono::system_clock::time_point t) {
  time_t s = std::chrono::system_clock::to_time_t(t);
  tm tmv{};
  gmtime_r(&s, &tmv);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  return b;
}

// The kernel's smoothed round-trip time of a TCP socket, in microseconds, or -1.
int64_t tcp_rtt_us(int fd) {
  tcp_info ti{};
  socklen_t n = sizeof ti;
  if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n) != 0) return -1;
  return ti.tcpi_rtt;
}

}  // namespace

std::string Admin::status_text() {
  const Config& cfg = p_.cfg;
  std::ostringstream o;
  o << "node:      " << cfg.node_name << "\n";
  o << "version:   dipcd " << DIPC_VERSION << ", protocol " << proto::kProtocolVersion << "\n";
  o << "listening: " << cfg.listen_address << ":" << p_.links.port() << "\n";
  if (service_)
    o << "referee:   this node\n";
  else
    o << "referee:   " << cfg.referee_host << ":" << cfg.referee_port
      << (referee_ && !referee_->referee_name().empty() ? " (" + referee_->referee_name() + ")"
                                                        : "")
      << "\n";
  o << "state:     " << (state ? state() : "") << "\n";
  if (referee_ && !referee_->joined() && !referee_->last_error().empty())
    o << "last error: " << referee_->last_error() << "\n";
  o << "security:  "
    << (cfg.secret_file.empty()
            ? std::string("no cluster secret: links are neither authenticated nor encrypted")
            : "links authenticated and encrypted (secret " + cfg.secret_file + ")")
    << "; remote_root " << (cfg.remote_root ? "on" : "off") << "\n";
  o << "keys:      " << format_key_rules(cfg.distribute) << "\n";
  o << "objects:   " << p_.table.owned().size() << " owned, " << p_.table.placeholders().size()
    << " placeholders, " << p_.owner.busy() << " calls running for others, " << p_.remote.pending()
    << " calls waiting on others\n";
  if (dsm_status) o << "dsm:       " << dsm_status() << "\n";
  o << "links:\n";
  if (p_.links.links().empty()) o << "  (none)\n";
  auto now = Clock::now();
  const auto& calls = p_.remote.per_node();
  for (auto& l : p_.links.links()) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - l->last_heard).count();
    int64_t rtt = l->conn ? tcp_rtt_us(l->conn->native_handle()) : -1;
    RemoteCalls::NodeCalls nc;
    if (auto it = calls.find(l->name); it != calls.end()) nc = it->second;
    o << fmt::format(
        "  {:<12} {:<3} {}:{}  {}  last heard {} ms ago  rtt {}  calls {}  errors {}  "
        "bytes in {} out {}",
        l->name.empty() ? "?" : l->name, l->outgoing ? "out" : "in", l->address, l->port,
        l->ready ? "ready" : "connecting", ms,
        rtt < 0 ? std::string("?") : fmt::format("{:.3f} ms", double(rtt) / 1000), nc.calls,
        nc.errors, l->conn ? l->conn->bytes_in() : 0, l->conn ? l->conn->bytes_out() : 0);
    if (nc.answered)
      o << fmt::format("  answer avg {:.3f} ms max {:.3f} ms",
                       double(nc.latency_us_sum) / double(nc.answered) / 1000,
                       double(nc.latency_us_max) / 1000);
    o << "\n";
  }
  // One line, so that the lines under "links:" are links only (scripts grep "^  NODE ").
  std::string dead;
  for (auto& [name, d] : dead_) {
    if (p_.links.find(name)) continue;  // linked again since
    dead += fmt::format("{}{} since {} ({})", dead.empty() ? "" : "; ", name, clock_text(d.since),
                        d.why);
  }
  if (!dead.empty()) o << "declared dead: " << dead << "\n";
  if (service_) {
    o << "cluster (referee view):\n";
    for (auto& [n, info] : service_->referee().nodes())
      o << fmt::format("  {:<12} {}:{}\n", n, info.address, info.port);
  }
  return o.str();
}

}  // namespace dipc::daemon
