#include "dipcd/metrics.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "dipcd/dsm_room.h"
#include "dipcd/object_table.h"
#include "dipcd/owner_side.h"
#include "dipcd/peer_links.h"
#include "dipcd/remote_calls.h"

namespace dipc::daemon {

namespace {

const char* op_label(proto::Op o) {
  switch (o) {
    case proto::Op::kGet: return "get";
    case proto::Op::kMsgSnd: return "msgsnd";
    case proto::Op::kMsgRcv: return "msgrcv";
    case proto::Op::kMsgCtl: return "msgctl";
    case proto::Op::kSemOp: return "semop";
    case proto::Op::kSemCtl: return "semctl";
    case proto::Op::kShmCtl: return "shmctl";
  }
  return "unknown";
}

// Node names are [A-Za-z0-9._-] (checked on the wire), so they need no escaping in a label.
void family(std::string& o, const char* name, const char* type, const char* help) {
  o += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

struct Metrics::Session {
  explicit Session(asio::io_context& io) : socket(io), timer(io) {}
  asio::ip::tcp::socket socket;
  asio::steady_timer timer;
  std::string in;
  std::string out;
  char buf[1024];
};

Metrics::Metrics(asio::io_context& io, Sources s) : io_(io), src_(std::move(s)) {}

Metrics::~Metrics() = default;

bool Metrics::listen(const std::string& address, uint16_t port, std::string& err) {
  std::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) {
    err = fmt::format("[metrics] listen: bad address {}: {}", address, ec.message());
    return false;
  }
  acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(io_);
  asio::ip::tcp::endpoint ep(addr, port);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(16, ec);
  if (ec) {
    err = fmt::format("[metrics] listen: cannot listen on {}:{}: {}", address, port, ec.message());
    acceptor_.reset();
    return false;
  }
  port_ = acceptor_->local_endpoint(ec).port();
  accept_loop();
  return true;
}

void Metrics::shutdown() {
  stopping_ = true;
  if (acceptor_) {
    std::error_code ec;
    acceptor_->close(ec);
  }
}

void Metrics::accept_loop() {
  if (stopping_ || !acceptor_) return;
  auto s = std::make_shared<Session>(io_);
  acceptor_->async_accept(s->socket, [this, s](std::error_code ec) {
    if (stopping_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        spdlog::warn("metrics accept: {}", ec.message());
        // Out of descriptors and the like: try again shortly, not in a tight loop.
        auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
        t->async_wait([this, t](std::error_code) { accept_loop(); });
      }
      return;
    }
    if (open_ >= kMaxConnections) {
      std::error_code ignored;
      s->socket.close(ignored);
      return accept_loop();
    }
    ++open_;
    std::error_code ignored;
    s->socket.non_blocking(true, ignored);
    s->timer.expires_after(kTimeout);
    std::weak_ptr<Session> ws = s;
    s->timer.async_wait([ws](std::error_code e) {
      if (e) return;
      if (auto s = ws.lock()) {
        std::error_code ignored;
        s->socket.close(ignored);  // too slow: the pending read or write ends with an error
      }
    });
    read_more(s);
    accept_loop();
  });
}

void Metrics::read_more(const std::shared_ptr<Session>& s) {
  s->socket.async_read_some(asio::buffer(s->buf), [this, s](std::error_code ec, size_t n) {
    if (ec) {
      --open_;
      s->timer.cancel();
      return;
    }
    s->in.append(s->buf, n);
    if (s->in.size() > kMaxRequest)
      return respond(s, "431 Request Header Fields Too Large", "request too large\n");
    size_t end = s->in.find("\r\n\r\n");
    if (end == std::string::npos) end = s->in.find("\n\n");
    if (end == std::string::npos) return read_more(s);
    std::string_view line(s->in);
    line = line.substr(0, line.find_first_of("\r\n"));
    if (line.rfind("GET ", 0) != 0 && line.rfind("HEAD ", 0) != 0)
      return respond(s, "405 Method Not Allowed", "only GET /metrics\n");
    size_t sp = line.find(' ');
    std::string_view target = line.substr(sp + 1);
    target = target.substr(0, target.find(' '));
    if (target != "/metrics" && target.rfind("/metrics?", 0) != 0)
      return respond(s, "404 Not Found", "see /metrics\n");
    respond(s, "200 OK", line.rfind("HEAD ", 0) == 0 ? std::string() : render());
  });
}

void Metrics::respond(const std::shared_ptr<Session>& s, const std::string& status,
                      const std::string& body) {
  s->out = fmt::format(
      "HTTP/1.0 {}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
      "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
      status, body.size(), body);
  asio::async_write(s->socket, asio::buffer(s->out), [this, s](std::error_code, size_t) {
    std::error_code ignored;
    s->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    s->socket.close(ignored);
    s->timer.cancel();
    --open_;
  });
}

std::string Metrics::render() const {
  std::string o;
  o.reserve(8192);
  family(o, "dipc_joined", "gauge", "1 when this node has joined its cluster's referee.");
  o += fmt::format("dipc_joined {}\n", src_.joined && src_.joined() ? 1 : 0);

  const auto& ops = src_.remote.per_op();
  family(o, "dipc_remote_calls_total", "counter",
         "Calls this node sent to the owners of objects, by kind and operation.");
  for (auto& [k, c] : ops)
    o += fmt::format("dipc_remote_calls_total{{kind=\"{}\",op=\"{}\"}} {}\n", kind_name(k.first),
                     op_label(k.second), c.calls);
  family(o, "dipc_remote_call_failures_total", "counter",
         "Calls that failed without the owner's answer (ENOLINK, EIDRM).");
  for (auto& [k, c] : ops)
    o += fmt::format("dipc_remote_call_failures_total{{kind=\"{}\",op=\"{}\"}} {}\n",
                     kind_name(k.first), op_label(k.second), c.errors);
  family(o, "dipc_remote_call_duration_seconds", "histogram",
         "Time from sending a call to the owner's answer (blocking calls include the wait).");
  for (auto& [k, c] : ops) {
    std::string labels = fmt::format("kind=\"{}\",op=\"{}\"", kind_name(k.first), op_label(k.second));
    uint64_t cum = 0;
    for (size_t i = 0; i < RemoteCalls::kLatencyBoundsUs.size(); ++i) {
      cum += c.buckets[i];
      o += fmt::format("dipc_remote_call_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels,
                       double(RemoteCalls::kLatencyBoundsUs[i]) / 1e6, cum);
    }
    o += fmt::format("dipc_remote_call_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels,
                     c.answered);
    o += fmt::format("dipc_remote_call_duration_seconds_sum{{{}}} {}\n", labels,
                     double(c.latency_us_sum) / 1e6);
    o += fmt::format("dipc_remote_call_duration_seconds_count{{{}}} {}\n", labels, c.answered);
  }

  auto now = std::chrono::steady_clock::now();
  std::string rtt, in, out, heard;
  for (auto& l : src_.links.links()) {
    if (!l->ready || l->name.empty()) continue;
    int64_t r = l->rtt_us();
    if (r >= 0) rtt += fmt::format("dipc_link_rtt_seconds{{node=\"{}\"}} {}\n", l->name, double(r) / 1e6);
    uint64_t bi = l->conn ? l->conn->bytes_in() : 0, bo = l->conn ? l->conn->bytes_out() : 0;
    in += fmt::format("dipc_link_received_bytes_total{{node=\"{}\"}} {}\n", l->name, bi);
    out += fmt::format("dipc_link_sent_bytes_total{{node=\"{}\"}} {}\n", l->name, bo);
    heard += fmt::format(
        "dipc_link_last_heard_seconds{{node=\"{}\"}} {}\n", l->name,
        double(std::chrono::duration_cast<std::chrono::microseconds>(now - l->last_heard).count()) /
            1e6);
  }
  family(o, "dipc_link_rtt_seconds", "gauge", "The kernel's smoothed round-trip time of each ready link.");
  o += rtt;
  family(o, "dipc_link_received_bytes_total", "counter", "Bytes received on each ready link.");
  o += in;
  family(o, "dipc_link_sent_bytes_total", "counter", "Bytes sent on each ready link.");
  o += out;
  family(o, "dipc_link_last_heard_seconds", "gauge", "Seconds since anything was heard on each ready link.");
  o += heard;

  family(o, "dipc_owned_objects", "gauge", "Distributed objects this node owns.");
  o += fmt::format("dipc_owned_objects {}\n", src_.table.owned().size());
  family(o, "dipc_placeholders", "gauge", "Placeholders of objects other nodes own.");
  o += fmt::format("dipc_placeholders {}\n", src_.table.placeholders().size());
  family(o, "dipc_calls_running_for_others", "gauge",
         "Calls from other nodes running (or blocked) here on objects this node owns.");
  o += fmt::format("dipc_calls_running_for_others {}\n", src_.owner.busy());
  family(o, "dipc_calls_waiting_on_others", "gauge",
         "Calls of this node's processes waiting for another node's answer (blocked callers).");
  o += fmt::format("dipc_calls_waiting_on_others {}\n", src_.remote.pending());
  auto dsm = src_.dsm.counters();
  family(o, "dipc_dsm_faults_total", "counter",
         "Page faults on distributed segments served by this node's fault server.");
  o += fmt::format("dipc_dsm_faults_total {}\n", dsm.faults);
  family(o, "dipc_dsm_pages_sent_total", "counter", "4 KiB pages of distributed segments sent to other nodes.");
  o += fmt::format("dipc_dsm_pages_sent_total {}\n", dsm.pages_sent);
  family(o, "dipc_dsm_pages_received_total", "counter",
         "4 KiB pages of distributed segments received from other nodes.");
  o += fmt::format("dipc_dsm_pages_received_total {}\n", dsm.pages_received);
  return o;
}

}  // namespace dipc::daemon
