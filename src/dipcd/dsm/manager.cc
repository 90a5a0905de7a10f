// The fault server as an owner (src/dipcd/dsm/fault_server.h): carrying out the decisions of
// the PageDirectory of each segment owned here (grants with their pages, recalls, failures,
// the owner's own copy), the frames holders send it (requests, recall answers, data given
// back, attach notices), and the frames that carry pages. Fault server's thread, or a
// thread holding its state lock.
#include <errno.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "dipcd/conn.h"
#include "dipcd/dsm/fault_server_state.h"
#include "proto/dsm.h"

namespace dipc::daemon::dsm {

using proto::FrameType;
using proto::kDsmPage;

namespace {

// Reads pages [first, first+n) of memfd into dst; what lies past the file's end is zero.
void read_pages(int memfd, uint64_t first, uint64_t n, uint8_t* dst) {
  size_t bytes = size_t(n * kDsmPage);
  ssize_t got = pread(memfd, dst, bytes, off_t(first * kDsmPage));
  if (got < 0) got = 0;
  if (size_t(got) < bytes) memset(dst + got, 0, bytes - size_t(got));
}

}  // namespace

// A frame of pages [first, first+n) of type, its fixed part (fixed bytes, the pages'
// length last) written by fill: the pages copied in after it, or sent from src (by file).
template <typename Fill>
OutFrame FaultServer::page_frame(Segment& s, FrameType type, uint64_t reqid, size_t fixed,
                                 Fill fill, uint64_t first, uint64_t n,
                                 const std::shared_ptr<FileSource>& src) {
  size_t bytes = size_t(n * kDsmPage);
  OutFrame f;
  f.head.resize(proto::kHeaderSize + fixed + (src ? 0 : bytes));
  proto::Writer w(f.head.data() + proto::kHeaderSize, fixed);
  fill(w);
  w.u32(uint32_t(bytes));
  if (src) {
    f.file = src;
    f.file_offset = first * kDsmPage;
    f.file_length = bytes;
  } else {
    read_pages(s.memfd, first, n, f.head.data() + proto::kHeaderSize + fixed);
  }
  proto::Header h;
  h.type = type;
  h.request_id = reqid;
  h.length = uint32_t(fixed + bytes);
  proto::encode_header(h, f.head.data());
  return f;
}

std::vector<OutFrame> FaultServer::data_frames(Segment& s, uint64_t first, uint64_t n,
                                               FrameType type, bool by_file, uint64_t reqid) {
  std::vector<OutFrame> out;
  std::shared_ptr<FileSource> src = by_file ? s.source(first, n) : nullptr;
  constexpr uint64_t kChunkPages = proto::kDsmMaxChunk / kDsmPage;
  for (uint64_t p = first; p < first + n; p += kChunkPages) {
    uint64_t k = std::min(kChunkPages, first + n - p);
    auto fill = [&](proto::Writer& w) {
      w.i32(s.owner_id);
      w.u64(p);
    };
    out.push_back(page_frame(s, type, reqid, proto::DsmData::kFixedSize, fill, p, k, src));
  }
  return out;
}

// A grant's pages go by file (the link reads them from the memfd when it sends them;
// Segment::by_file). Until the holder has read a read grant's pages they change in only one
// way: a write elsewhere (or here) needs the holder's copy invalidated first, and the holder
// answers that recall only after it has read every frame before the recall on the same
// link. The one way is the holder's own upgrade to write, which invalidates nobody there
// and drops the owner's copy at once: Segment::punch saves the pages of every source still
// sending them into memory before it punches. A write grant's pages are saved so by the
// punch right after it (run_actions): the memory moves from the memfd to the source. On a
// sealed link Conn reads the source when it seals: a copy made then.
std::vector<OutFrame> FaultServer::grant_frames(Segment& s, uint64_t first, uint64_t n, Access a,
                                                uint64_t reqid, bool with_data) {
  proto::DsmGrant g{{s.owner_id, first, uint32_t(n)},
                    a == Access::kWrite ? proto::DsmAccess::kWrite : proto::DsmAccess::kRead};
  bool by_file = s.by_file(n);
  std::vector<OutFrame> out;
  if (with_data && n * kDsmPage <= proto::kDsmMaxChunk) {
    // The usual answer to a fault: one frame, the grant and its pages.
    auto fill = [&](proto::Writer& w) { g.encode(w); };
    out.push_back(page_frame(s, FrameType::kDsmGrantData, reqid, proto::DsmGrantData::kFixedSize,
                             fill, first, n, by_file ? s.source(first, n) : nullptr));
    return out;
  }
  if (with_data) out = data_frames(s, first, n, FrameType::kDsmData, by_file, reqid);
  out.push_back(make_frame(FrameType::kDsmGrant, reqid, g, proto::DsmGrant::kSize));
  return out;
}

// The owner carries out its directory's decisions.
void FaultServer::run_actions(Segment& s, std::vector<Action>& acts) {
  auto keep = ref(s);  // a self-recall must not free the segment under us
  // Read grants of consecutive units to one node for one request (read-ahead) leave as one
  // run of data frames and one grant.
  struct Batch {
    std::string node;
    uint64_t first = 0, n = 0, reqid = 0;
    bool with_data = false;
  } batch;
  auto flush = [&] {
    if (batch.n == 0) return;
    for (auto& f : grant_frames(s, batch.first, batch.n, Access::kRead, batch.reqid, batch.with_data))
      send_(batch.node, std::move(f));
    batch.n = 0;
  };
  for (size_t i = 0; i < acts.size(); ++i) {
    Action a = acts[i];
    log_(spdlog::level::debug, "directory seg {}: action {} node {} unit {} access {} mode {} data {} req {}",
                  s.local_id, int(a.type), int(a.node), a.unit, int(a.access), int(a.mode),
                  a.with_data, a.reqid);
    uint64_t first = s.first_of(a.unit), n = s.count_of(a.unit);
    std::string node;
    if (a.node != kOwner) {
      for (auto& [name, id] : node_ids_)
        if (id == a.node) node = name;
      if (node.empty()) continue;
    }
    if (a.type == Action::Type::kGrant && a.node != kOwner && a.access == Access::kRead) {
      bool joins = batch.n && batch.node == node && batch.reqid == a.reqid &&
                   batch.with_data == a.with_data && batch.first + batch.n == first &&
                   batch.n + n <= proto::kDsmMaxChunk / kDsmPage;
      if (!joins) {
        flush();
        batch = {node, first, 0, a.reqid, a.with_data};
      }
      batch.n += n;
      continue;
    }
    flush();
    switch (a.type) {
      case Action::Type::kGrant: {
        if (a.node == kOwner) {
          holder_grant(s, first, n, a.access);
          break;
        }
        auto frames = grant_frames(s, first, n, a.access, a.reqid, a.with_data);
        if (a.access == Access::kWrite) {
          // The writer elsewhere has the only copy from now on; drop ours before the grant
          // leaves, so no local process reads past the new writer's first store.
          drop_copy(s, first, n);
          for (uint64_t p = first; p < first + n; ++p)
            if (s.state[p] != kStLost) s.set(p, Access::kNone);
        }
        for (auto& f : frames) send_(node, std::move(f));
        break;
      }
      case Action::Type::kRecall: {
        if (a.node == kOwner) {
          // Done at once; what the directory decides next joins this list, so that the
          // read grants of a read-ahead still leave together.
          if (holder_recall_or_defer(s, first, n, a.mode, a.with_data))
            s.dir->recall_done(kOwner, a.unit, std::chrono::steady_clock::now(), acts);
          break;
        }
        proto::DsmRecall r{{s.owner_id, first, uint32_t(n)},
                           a.mode == RecallMode::kInvalidate ? proto::DsmRecallMode::kInvalidate
                                                             : proto::DsmRecallMode::kDowngrade,
                           uint8_t(a.with_data)};
        send_(node, make_frame(FrameType::kDsmRecall, 0, r, proto::DsmRecall::kSize));
        break;
      }
      case Action::Type::kFail: {
        if (a.node == kOwner) {
          holder_fail(s, first, n);
          break;
        }
        proto::DsmFail f{{s.owner_id, first, uint32_t(n)}, EHOSTDOWN};
        send_(node, make_frame(FrameType::kDsmFail, a.reqid, f, proto::DsmFail::kSize));
        break;
      }
      case Action::Type::kFill:
        for (uint64_t p = first; p < first + n; ++p)
          if (s.state[p] != kStLost) s.set(p, Access::kRead);
        break;
    }
  }
  flush();
  acts.clear();
  if (s.dir) note_deadline(s.dir->next_deadline());
}

// A frame from a holder to us as the owner: only about segments owned here.
void FaultServer::on_owner_frame(const std::string& node, FrameType type, uint64_t reqid,
                                 const std::vector<uint8_t>& payload) {
  proto::Reader r(payload.data(), payload.size());
  auto bad = [&](const char* what) { refused(node, what); };
  Time now = std::chrono::steady_clock::now();
  auto find = [&](int32_t seg) -> Segment* {
    auto it = local_.find(seg);
    return it == local_.end() || !it->second->owned ? nullptr : it->second.get();
  };
  NodeId id = node_id(node);
  switch (type) {
    case FrameType::kDsmAcquire: {
      proto::DsmAcquire q;
      if (!q.decode(r)) return bad("malformed acquire");
      Segment* s = find(q.seg);
      if (!s || q.page >= s->pages || id >= kMaxNodes) {
        proto::DsmFail f{{q.seg, q.page, 1}, s ? ENOSPC : EIDRM};
        send_(node, make_frame(FrameType::kDsmFail, reqid, f, proto::DsmFail::kSize));
        return;
      }
      s->holders.insert(id);
      std::vector<Action> acts;
      uint64_t last = q.page + q.npages;
      if (last > s->pages) last = s->pages;
      for (uint64_t p = q.page; p < last; p = s->first_of(s->unit_of(p)) + s->unit_pages)
        s->dir->request(id, s->unit_of(p), to_access(q.access), reqid, now, acts);
      return run_actions(*s, acts);
    }
    case FrameType::kDsmDataToOwner: {  // a page given back with a recall
      proto::DsmData d;
      if (!d.decode(r)) return bad("malformed data");
      Segment* s = find(d.seg);
      if (!s || d.first_page + d.bytes.size() / kDsmPage > s->pages) return bad("data for an unknown segment");
      // Only the data a recall asked this node for, of the units it covers, before the
      // node answers that recall: anything else would change the owner's copy behind the
      // directory's back (readers elsewhere would keep the old bytes).
      uint64_t end = d.first_page + d.bytes.size() / kDsmPage;
      for (uint64_t p = d.first_page; p < end; p = s->first_of(s->unit_of(p)) + s->unit_pages)
        if (!s->dir->expects_data(id, s->unit_of(p))) return bad("data no recall asked for");
      (void)!pwrite(s->memfd, d.bytes.data(), d.bytes.size(), off_t(d.first_page * kDsmPage));
      return;
    }
    case FrameType::kDsmRecallAck: {
      proto::DsmRange a;
      if (!a.decode(r)) return bad("malformed recall answer");
      Segment* s = find(a.seg);
      if (!s || a.first >= s->pages) return;
      std::vector<Action> acts;
      if (!s->dir->recall_done(id, s->unit_of(a.first), now, acts)) return bad("unasked recall answer");
      return run_actions(*s, acts);
    }
    case FrameType::kDsmJoin: {
      proto::DsmJoin j;
      if (!j.decode(r)) return bad("malformed attach notice");
      Segment* s = find(j.seg);
      if (!s || id >= kMaxNodes) return;
      if (j.nattch) s->remote_nattch[id] = j.nattch;
      else s->remote_nattch.erase(id);
      count_attachments(*s);
      return maybe_destroy(*s);
    }
    default: return bad("frame of an owner");
  }
}

}  // namespace dipc::daemon::dsm
