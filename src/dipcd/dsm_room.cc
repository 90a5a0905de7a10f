#include "dipcd/dsm_room.h"

#include <spdlog/spdlog.h>

#include "dipcd/dsm/fault_server.h"
#include "dipcd/peer_links.h"

namespace dipc::daemon {

using proto::FrameType;

namespace {

bool owner_to_holder(FrameType t) {
  return t == FrameType::kDsmGrant || t == FrameType::kDsmFail || t == FrameType::kDsmRecall ||
         t == FrameType::kDsmData || t == FrameType::kDsmGrantData;
}

}  // namespace

DsmRoom::DsmRoom(asio::io_context& io, const Config& cfg, PeerLinks& links)
    : io_(io), cfg_(cfg), links_(links) {
  for (auto t : {FrameType::kDsmAcquire, FrameType::kDsmGrant, FrameType::kDsmFail,
                 FrameType::kDsmRecall, FrameType::kDsmRecallAck, FrameType::kDsmData,
                 FrameType::kDsmJoin, FrameType::kDsmGone, FrameType::kDsmDataToOwner,
                 FrameType::kDsmGrantData}) {
    links_.on(t, [this](const std::shared_ptr<Link>& l, Frame& f) {
      if (!fs_) return;  // no DSM here: nothing of ours to talk about
      FrameType type = f.header.type;
      fs_->peer_frame(l->name, owner_to_holder(type), type, f.header.request_id,
                      std::move(f.payload));
    });
  }
}

DsmRoom::~DsmRoom() { stop(); }

bool DsmRoom::start() {
  std::string why;
  bool whole = cfg_.dsm_attach_whole;
  if (!whole && !dsm::FaultServer::kernel_check(why)) {
    std::string serve_why;
    if (!dsm::FaultServer::serve_check(serve_why)) {
      spdlog::warn("distributed shared memory is unavailable: {}; shmget with IPC_DIPC fails "
                   "with ENOSYS", serve_why);
      unavailable_ = serve_why;
      return false;
    }
    // No userfaultfd (qemu-user, docs/hetero.md): processes here attach whole segments.
    spdlog::warn("distributed shared memory without userfaultfd here: {}; this node's "
                 "processes attach whole segments (as with [dsm] attach = \"whole\": the "
                 "pages are held from shmat to shmdt)", why);
    whole = true;
  } else if (whole && !dsm::FaultServer::serve_check(why)) {
    spdlog::warn("distributed shared memory is unavailable: {}; shmget with IPC_DIPC fails "
                 "with ENOSYS", why);
    unavailable_ = why;
    return false;
  }
  attach_whole_ = whole;
  dsm::Options o{cfg_.node_name, cfg_.run_dir, cfg_.dsm_segment_mode, cfg_.dsm_quantum,
                 cfg_.peer_timeout, [this](std::function<void()> f) { asio::post(io_, f); }};
  o.attach_whole = whole;
  fs_ = std::make_unique<dsm::FaultServer>(
      o, [this](const std::string& n, OutFrame f) {
        send(n, std::move(f));
      });
  if (!fs_->start(why)) {
    spdlog::warn("distributed shared memory is unavailable: {}", why);
    unavailable_ = why;
    fs_.reset();
    return false;
  }
  if (std::string w = dsm::FaultServer::huge_page_warning(); !w.empty()) spdlog::warn("{}", w);
  return true;
}

std::string DsmRoom::status_line() const {
  if (!fs_) return "unavailable (" + unavailable_ + "): shmget with IPC_DIPC fails with ENOSYS";
  const auto& c = fs_->counters();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.dsm_quantum).count();
  return fmt::format("{} mode, quantum {} ms, attach {}; faults {} read {} write; requests {} answers {} "
                     "recalls {}; frames {} out {} in; pages {} out {} in",
                     cfg_.dsm_segment_mode ? "segment" : "page", ms,
                     attach_whole_ ? "whole" : "fault", c.read_faults.load(),
                     c.write_faults.load(), c.requests.load(), c.answers.load(),
                     c.recalls.load(), c.frames_out.load(), c.frames_in.load(),
                     c.pages_out.load(), c.pages_in.load());
}

void DsmRoom::stop() {
  if (fs_) fs_->stop();
}

void DsmRoom::segment_known(int32_t local_id, const std::string& owner, int32_t owner_id,
                            uint64_t size) {
  if (fs_) fs_->segment_known(local_id, owner, owner_id, size);
}

void DsmRoom::segment_removed(int32_t local_id) {
  if (fs_) fs_->segment_removed(local_id);
}

void DsmRoom::sync() {
  if (fs_) fs_->sync();
  // Frames the fault server's thread handed before this (a detach's notice) leave now,
  // ahead of the call this sync is made for, which the io thread sends next.
  std::lock_guard g(mu_);
  for (auto& [node, r] : routes_)
    if (!r.waiting.empty()) send_waiting(node, r);
}

void DsmRoom::node_dead(const std::string& node) {
  if (fs_) fs_->node_dead(node);
  std::lock_guard g(mu_);
  routes_.erase(node);
}

// On the fault server's thread, or on the io thread (see the header).
void DsmRoom::send(const std::string& node, OutFrame frame) {
  if (frame.head.size() < proto::kHeaderSize) return;
  bool on_io = io_.get_executor().running_in_this_thread();
  std::lock_guard g(mu_);
  Route& r = routes_[node];
  if (r.refusing) return;
  if (r.waiting.empty()) {
    auto l = r.link.lock();
    auto c = r.conn.lock();
    if (l && c && c->is_open() && !l->faulty.load()) {
      c->send_now(std::move(frame));  // a link closed meanwhile is a node that died
      return;
    }
  }
  if (r.waiting.size() >= Conn::kMaxQueuedFrames) {
    r.refusing = true;
    r.waiting.clear();
    asio::post(io_, [this, node] {
      if (auto l = links_.find(node))
        links_.drop(l, fmt::format("more than {} shared-memory frames waiting for the link",
                                   Conn::kMaxQueuedFrames));
    });
    return;
  }
  r.waiting.push_back(std::move(frame));
  if (on_io) return send_waiting(node, r);
  if (r.drain_posted) return;
  r.drain_posted = true;
  asio::post(io_, [this, node] {
    std::lock_guard g(mu_);
    Route& r = routes_[node];
    r.drain_posted = false;
    send_waiting(node, r);
  });
}

void DsmRoom::send_waiting(const std::string& node, Route& r) {
  auto frames = std::move(r.waiting);
  r.waiting.clear();
  auto l = links_.find(node);
  if (!l) return;  // no link: the node is dead, and what it was to get with it
  // As the fault server's own writes: bounded by frames, not by send()'s bytes (a grant's
  // copied pages are not answers left unread); a faulty link goes its injected way.
  for (auto& f : frames) {
    if (l->faulty.load()) l->send(std::move(f));
    else if (l->conn) l->conn->send_now(std::move(f));
  }
  r.link = l;
  r.conn = l->conn;
}

DsmRoom::Counters DsmRoom::counters() const {
  if (!fs_) return {};
  const auto& c = fs_->counters();
  return {c.read_faults.load() + c.write_faults.load(), c.pages_out.load(), c.pages_in.load()};
}

}  // namespace dipc::daemon
