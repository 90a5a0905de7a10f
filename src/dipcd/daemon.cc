#include "dipcd/daemon.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace dipc::daemon {

namespace {

PeerLinks::Settings link_settings(const Config& c, const std::string& secret) {
  PeerLinks::Settings s;
  s.my_name = c.node_name;
  s.listen_address = c.listen_address;
  s.listen_port = c.listen_port;
  s.secret = secret;
  s.secret_file = c.secret_file;
  s.allow_file = c.allow_file;
  s.heartbeat = c.heartbeat_interval;
  s.peer_timeout = c.peer_timeout;
  s.connect_timeout = c.connect_timeout;
  return s;
}

}  // namespace

Daemon::Daemon(asio::io_context& io, Config cfg, AllowList allow, std::string secret)
    : io_(io),
      cfg_(std::move(cfg)),
      bg_(io),
      executor_(io),
      identities_(bg_, std::chrono::seconds(10), cfg_.remote_root),
      table_(cfg_.run_dir, bg_),
      local_(io),
      links_(io, link_settings(cfg_, secret), std::move(allow)),
      remote_(links_),
      owner_(io, cfg_, links_, table_, identities_, executor_),
      holder_(io, cfg_, local_, links_, table_, identities_, owner_, remote_),
      admin_(Admin::Parts{cfg_, local_, links_, table_, identities_, owner_, remote_}),
      dsm_(io, cfg_, links_),
      sweep_timer_(io) {
  if (cfg_.referee) {
    service_ = std::make_unique<RefereeService>(io, links_, cfg_.node_name, cfg_.listen_address);
    referee_ = &service_->local_client();
  } else {
    remote_referee_ =
        std::make_unique<RemoteReferee>(io, links_, cfg_.referee_host, cfg_.referee_port);
    referee_ = remote_referee_.get();
  }
  owner_.set_referee(referee_);
  holder_.set_referee(referee_);
  admin_.set_referee(referee_, service_.get());
  admin_.state = [this] { return state_; };
  admin_.dsm_status = [this] { return dsm_.status_line(); };
  referee_->on_joined = [this] { rejoined(); };
  referee_->on_removed = [this](proto::Kind kind, int32_t key, const std::string& owner,
                                int32_t id) { holder_.object_gone(kind, key, owner, id); };
  referee_->on_state = [this](const std::string& s) {
    if (s != state_) write_state(s);
  };
  holder_.shm_available = [this] { return dsm_.available(); };
  holder_.shm_sync = [this] { dsm_.sync(); };
  holder_.on_known = [this](proto::Kind kind, int32_t id, const std::string& owner,
                            int32_t owner_id, uint64_t size) {
    if (kind == proto::Kind::kShm) dsm_.segment_known(id, owner, owner_id, size);
  };
  owner_.on_removed = [this](proto::Kind kind, int32_t id) {
    if (kind == proto::Kind::kShm) dsm_.segment_removed(id);
  };
  table_.on_placeholder_dropped = [this](proto::Kind kind, int32_t id) {
    if (kind == proto::Kind::kShm) dsm_.segment_removed(id);
  };
  links_.on_dead = [this](const std::string& name, const std::string& why) { node_dead(name, why); };
  links_.on_superseded = [this](uint64_t serial, const std::shared_ptr<Link>& kept) {
    remote_.link_superseded(serial);
    if (remote_referee_) remote_referee_->link_superseded(serial, kept);
  };
  links_.on_stalled = [this](std::chrono::milliseconds gap) {
    start_over(fmt::format("it was stalled for {} ms", gap.count()));
  };
  if (remote_referee_)
    remote_referee_->on_declared_dead = [this] { start_over("the referee declared it dead"); };
  links_.on_ready = [this](const std::shared_ptr<Link>& l) {
    if (service_) service_->node_ready(l->name, l->address, l->port);
  };
}

Daemon::~Daemon() = default;

bool Daemon::start(std::string& err) {
  ::mkdir(cfg_.run_dir.c_str(), 0755);
  std::string sock = cfg_.run_dir + "/dipcd.sock";
  // Before anything in run_dir is touched (id table, placeholders):
  {
    // A socket that answers belongs to a running dipcd: never take it from under it.
    asio::local::stream_protocol::socket probe(io_);
    std::error_code ec;
    probe.connect(asio::local::stream_protocol::endpoint(sock), ec);
    if (!ec) {
      err = fmt::format(
          "another dipcd is already serving {} (stop it, or give this one its "
          "own [node] run_dir)",
          cfg_.run_dir);
      return false;
    }
  }
  if (!table_.open(err)) return false;
  dsm_.start();  // without it, distributed segments fail with ENOSYS (logged)
  table_.publish_rules(cfg_.distribute.all_keyed, cfg_.distribute.keys);
  if (!local_.listen(sock, err)) return false;
  if (!links_.listen(err)) {
    err += " in " + cfg_.source;
    local_.shutdown();
    return false;
  }
  if (!write_file_atomically(cfg_.run_dir + "/dipcd.port", std::to_string(links_.port()) + "\n")) {
    err = fmt::format("cannot write {}/dipcd.port", cfg_.run_dir);
    return false;
  }
  spdlog::info("node {} listening on {}:{} and {}", cfg_.node_name, cfg_.listen_address,
               links_.port(), sock);
  if (cfg_.metrics) {
    metrics_ = std::make_unique<Metrics>(
        io_, Metrics::Sources{links_, remote_, table_, owner_, dsm_,
                              [this] { return referee_ && referee_->joined(); }});
    if (!metrics_->listen(cfg_.metrics_address, cfg_.metrics_port, err) ||
        !write_file_atomically(cfg_.run_dir + "/metrics.port",
                               std::to_string(metrics_->port()) + "\n")) {
      if (err.empty()) err = fmt::format("cannot write {}/metrics.port", cfg_.run_dir);
      local_.shutdown();
      links_.shutdown();
      return false;
    }
    spdlog::info("metrics at http://{}:{}/metrics", cfg_.metrics_address, metrics_->port());
  }
  if (cfg_.secret_file.empty())
    spdlog::warn(
        "no cluster secret ([security] secret_file): links are neither authenticated "
        "nor encrypted; any host the allow file names can join");
  if (service_) {
    service_->start(links_.port());
    write_state("joined");
  } else {
    write_state("connecting");
    remote_referee_->start();
  }
  sweep();
  return true;
}

void Daemon::shutdown() {
  if (stopping_) return;
  stopping_ = true;
  sweep_timer_.cancel();
  if (metrics_) metrics_->shutdown();
  local_.shutdown();
  links_.shutdown();
  table_.clear_all();
  executor_.shutdown();
  dsm_.stop();
  write_state("stopped");
}

void Daemon::reload(AllowList allow) {
  links_.reload_allow(std::move(allow));
  identities_.clear();
}

void Daemon::write_state(const std::string& s) {
  state_ = s;
  write_file_atomically(cfg_.run_dir + "/state", s + "\n");
  if (on_state) on_state(s);
}

// Fail-stop: a node whose link was lost is dead; its objects are gone for us.
void Daemon::node_dead(const std::string& name, const std::string& why) {
  if (name.empty() || stopping_) return;
  spdlog::warn("node {} declared dead ({})", name, why);
  remote_.node_dead(name);
  admin_.node_dead(name, why);
  dsm_.node_dead(name);
  holder_.node_dead(name);
  owner_.node_dead(name);
  if (service_) service_->node_dead(name, why);
  if (remote_referee_) remote_referee_->node_dead(name);
}

// Fail-stop for this node itself: the cluster has declared it dead (the referee forgot what
// it owned and told the holders; blocked callers elsewhere got EIDRM), so it comes back as
// a new node, as if dipcd had restarted: every link closed (each peer then declares the old
// run dead, if it had not yet), what it owned removed from the kernel (local callers
// blocked on those objects get EIDRM), its placeholders dropped, and a new incarnation.
void Daemon::start_over(const std::string& why) {
  if (stopping_) return;
  size_t owned = table_.owned().size(), held = table_.placeholders().size();
  spdlog::warn("this node was declared dead ({}): it starts over as a new node, removing "
               "the {} objects it owned and its {} placeholders", why, owned, held);
  links_.start_over("this node starts over as a new node");
  if (remote_referee_) remote_referee_->forget_referee_run();
  std::vector<ObjId> ids;
  for (auto& [id, key] : table_.owned()) ids.push_back(id);
  for (auto& id : ids) {
    remove_object(id.kind, id.id);
    owner_.object_removed(id.kind, id.id);
  }
  std::vector<ObjKey> keys;
  for (auto& [id, p] : table_.placeholders()) keys.push_back(p.key);
  for (auto& key : keys) table_.drop_placeholder(key);
}

// Rebuild the referee's table with what this node owns and holds (it may have restarted).
void Daemon::rejoined() {
  for (auto& [id, p] : table_.placeholders())
    referee_->hold(p.key.kind, p.key.key, p.owner, p.owner_id);
  for (auto& [id, key] : table_.owned()) {
    proto::RegRecord r;
    r.kind = id.kind;
    r.key = key;
    r.id = id.id;
    ObjectInfo info;
    if (stat_object(r.kind, r.id, info)) {
      r.mode = info.mode;
      r.uid = info.uid;
      r.gid = info.gid;
      r.size = info.size;
    }
    referee_->commit(r);
  }
}

// Notices objects removed behind dipcd's back (ipcrm without the shim). The kernel is
// asked on the background worker; what is gone is handled back here. The same job gives
// memory back after a burst (memory_trim.h).
void Daemon::sweep() {
  if (stopping_) return;
  owner_.expire_exited();
  if (!sweeping_) {
    struct Seen {
      std::vector<ObjId> owned;
      std::vector<std::pair<ObjId, ObjKey>> ph;
    };
    auto seen = std::make_shared<Seen>();
    for (auto& [id, key] : table_.owned()) seen->owned.push_back(id);
    for (auto& [id, p] : table_.placeholders()) seen->ph.push_back({id, p.key});
    sweeping_ = true;
    bool queued = bg_.run<std::shared_ptr<Seen>>(
        [this, seen] {
          // Memory back to the kernel once a burst is over (the policy lives on this thread).
          if (trim_.due(heap_in_use(), resident_bytes())) {
            size_t freed = give_back();
            trim_.done(heap_in_use(), resident_bytes());
            if (freed >= (1u << 20))
              spdlog::info("gave {} MiB back to the system after a burst", freed >> 20);
          }
          auto gone = std::make_shared<Seen>();
          ObjectInfo info;
          for (auto& id : seen->owned)
            if (!stat_object(id.kind, id.id, info)) gone->owned.push_back(id);
          for (auto& [id, key] : seen->ph)
            if (!stat_object(id.kind, id.id, info)) gone->ph.push_back({id, key});
          return gone;
        },
        [this](std::shared_ptr<Seen> gone) {
          sweeping_ = false;
          if (stopping_) return;
          // Checked again here: an id may have been reused since the worker looked.
          ObjectInfo info;
          for (auto& id : gone->owned)
            if (!stat_object(id.kind, id.id, info)) owner_.object_removed(id.kind, id.id);
          for (auto& [id, key] : gone->ph) {
            const Placeholder* p = table_.placeholder(key);
            if (p && p->local_id == id.id && !stat_object(id.kind, id.id, info))
              table_.drop_placeholder(key);
          }
        });
    if (!queued) sweeping_ = false;
  }
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](std::error_code ec) {
    if (!ec) sweep();
  });
}

}  // namespace dipc::daemon
