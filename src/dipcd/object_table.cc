#include "dipcd/object_table.h"

#include <errno.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "dipcd/background.h"
#include "dipcd/ipc_ops.h"

namespace dipc::daemon {

const char* kind_name(proto::Kind k) {
  switch (k) {
    case proto::Kind::kMsg: return "msg";
    case proto::Kind::kSem: return "sem";
    case proto::Kind::kShm: return "shm";
  }
  return "?";
}


bool ObjectTable::open(std::string& err) {
  if (!ids_.open(run_dir_, err)) return false;
  remove_stale("placeholders", "removed {} placeholders left by a previous dipcd");
  remove_stale("owned", "removed {} objects a previous dipcd owned (fail-stop: they are gone)");
  return true;
}

bool ObjectTable::add_owned(ObjId id, int32_t key) {
  DIPC_ON_THREAD(thread_);
  owned_[id] = key;
  owned_by_key_[ObjKey{id.kind, key}] = id.id;
  note(own_log_, false, id.kind, key, id.id);
  save_lists();
  return ids_.set(id.kind, id.id, idtable::kFlagOwnedHere);
}

std::optional<int32_t> ObjectTable::owned_key(ObjId id) const {
  auto it = owned_.find(id);
  if (it == owned_.end()) return std::nullopt;
  return it->second;
}

std::optional<int32_t> ObjectTable::owned_id(ObjKey key) const {
  auto it = owned_by_key_.find(key);
  if (it == owned_by_key_.end()) return std::nullopt;
  return it->second;
}

void ObjectTable::remove_owned(ObjId id) {
  DIPC_ON_THREAD(thread_);
  auto it = owned_.find(id);
  if (it == owned_.end()) return;
  auto k = owned_by_key_.find(ObjKey{id.kind, it->second});
  if (k != owned_by_key_.end() && k->second == id.id) owned_by_key_.erase(k);
  note(own_log_, true, id.kind, it->second, id.id);
  owned_.erase(it);
  ids_.clear(id.kind, id.id);
  save_lists();
}

const Placeholder* ObjectTable::placeholder(ObjId id) const {
  auto it = placeholders_.find(id);
  return it == placeholders_.end() ? nullptr : &it->second;
}

const Placeholder* ObjectTable::placeholder(ObjKey key) const {
  auto it = placeholder_by_key_.find(key);
  return it == placeholder_by_key_.end() ? nullptr : placeholder(ObjId{key.kind, it->second});
}

bool ObjectTable::add_placeholder(const Placeholder& p) {
  DIPC_ON_THREAD(thread_);
  if (!ids_.set(p.key.kind, p.local_id, 0)) return false;
  placeholders_[ObjId{p.key.kind, p.local_id}] = p;
  placeholder_by_key_[p.key] = p.local_id;
  note(ph_log_, false, p.key.kind, p.key.key, p.local_id);
  save_lists();
  return true;
}

bool ObjectTable::drop_placeholder(ObjKey key) {
  DIPC_ON_THREAD(thread_);
  auto it = placeholder_by_key_.find(key);
  if (it == placeholder_by_key_.end()) return false;
  int32_t id = it->second;
  placeholder_by_key_.erase(it);
  placeholders_.erase(ObjId{key.kind, id});
  note(ph_log_, true, key.kind, key.key, id);
  // The kernel object goes first (for a segment, with dipcd's own attachment when nothing
  // else has it), and only then the id's entry: a call made meanwhile still comes to
  // dipcd (EINVAL), never to a removed placeholder that the kernel still has.
  remove_object(key.kind, id);
  if (on_placeholder_dropped) on_placeholder_dropped(key.kind, id);
  ids_.clear(key.kind, id);
  save_lists();
  spdlog::info("placeholder {} key {} id {} dropped", kind_name(key.kind), key.key, id);
  return true;
}

std::vector<ObjKey> ObjectTable::placeholders_of(const std::string& owner) const {
  std::vector<ObjKey> out;
  for (auto& [id, p] : placeholders_)
    if (p.owner == owner) out.push_back(p.key);
  return out;
}

void ObjectTable::clear_all() {
  // Placeholders belong to this run of dipcd: no stale object with a remote key stays.
  for (auto& [id, p] : placeholders_) remove_object(id.kind, id.id);
  placeholders_.clear();
  placeholder_by_key_.clear();
  write_file_atomically(run_dir_ + "/placeholders", "");
  ph_log_ = Journal{};
  ids_.clear_all();
}

namespace {

// One line of a journal: "KIND KEY ID", "- KIND KEY ID" for one that went.
std::string entry(bool gone, proto::Kind kind, int32_t key, int32_t id) {
  return fmt::format("{}{} {} {}\n", gone ? "- " : "", int(kind), key, id);
}

bool append_file(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += size_t(n);
  }
  ::close(fd);
  return done == content.size();
}

}  // namespace

void ObjectTable::note(Journal& j, bool gone, proto::Kind kind, int32_t key, int32_t id) {
  j.add += entry(gone, kind, key, id);
  ++j.lines;
}

// Coalesced: the changes of one io-thread turn are one write (see the header), on the worker.
void ObjectTable::save_lists() {
  if (save_pending_) return;
  save_pending_ = true;
  asio::post(bg_.io(), [this] {
    save_pending_ = false;
    // What to write for one journal: its new lines, or the whole live list when it has
    // grown past twice that (or the last write was lost).
    auto take = [](Journal& j, size_t live, auto&& all) {
      struct Write {
        bool whole;
        std::string text;
      } w{j.rewrite || j.lines > 2 * live + 64, {}};
      if (w.whole) {
        all(w.text);
        j.lines = live;
        j.rewrite = false;
      } else {
        w.text = std::move(j.add);
      }
      j.add.clear();
      return w;
    };
    auto ph = take(ph_log_, placeholders_.size(), [this](std::string& o) {
      for (auto& [id, p] : placeholders_) o += entry(false, p.key.kind, p.key.key, p.local_id);
    });
    auto own = take(own_log_, owned_.size(), [this](std::string& o) {
      for (auto& [id, key] : owned_) o += entry(false, id.kind, key, id.id);
    });
    if (!ph.whole && ph.text.empty() && !own.whole && own.text.empty()) return;
    std::string dir = run_dir_;
    auto write = [](const std::string& path, bool whole, const std::string& text) {
      if (whole) return write_file_atomically(path, text);
      return text.empty() || append_file(path, text);
    };
    if (!bg_.run([dir, ph = std::move(ph), own = std::move(own), write] {
          if (!write(dir + "/placeholders", ph.whole, ph.text) ||
              !write(dir + "/owned", own.whole, own.text))
            spdlog::warn("cannot write {}/placeholders or owned: {}", dir, strerror(errno));
        })) {
      ph_log_.rewrite = own_log_.rewrite = true;
      spdlog::warn("background queue full: {}/placeholders and owned not written this time",
                   dir);
    }
  });
}

// The journal of a previous run (see the header): each object it records and does not
// record gone is removed if it still has that key (the id may have been reused since).
void ObjectTable::remove_stale(const char* file, const char* removed_n) {
  std::string path = run_dir_ + "/" + file;
  std::ifstream f(path);
  std::map<std::pair<int, int32_t>, int32_t> left;  // (kind, id) -> key
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    bool gone = line.rfind("- ", 0) == 0;
    if (gone) in.ignore(2);
    int kind = 0;
    int32_t key = 0, id = 0;
    if (!(in >> kind >> key >> id) || !proto::is_valid_kind(uint8_t(kind))) continue;
    auto k = std::make_pair(kind, id);
    if (!gone) left[k] = key;
    else if (auto it = left.find(k); it != left.end() && it->second == key) left.erase(it);
  }
  size_t n = 0;
  for (auto& [k, key] : left) {
    ObjectInfo info;
    if (stat_object(proto::Kind(k.first), k.second, info) && info.key == key &&
        remove_object(proto::Kind(k.first), k.second) == 0)
      ++n;
  }
  if (n) spdlog::info(fmt::runtime(removed_n), n);
  write_file_atomically(path, "");
}

}  // namespace dipc::daemon
