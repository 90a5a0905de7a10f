#include "dipcd/object_table.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
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
  ids_.clear_all();
}

// Coalesced: every change of one io-thread turn leads to one rewrite, on the worker.
void ObjectTable::save_lists() {
  if (save_pending_) return;
  save_pending_ = true;
  asio::post(bg_.io(), [this] {
    save_pending_ = false;
    std::ostringstream ph, own;
    for (auto& [id, p] : placeholders_)
      ph << int(p.key.kind) << " " << p.key.key << " " << p.local_id << "\n";
    for (auto& [id, key] : owned_) own << int(id.kind) << " " << key << " " << id.id << "\n";
    std::string dir = run_dir_;
    if (!bg_.run([dir, ph = ph.str(), own = own.str()] {
          write_file_atomically(dir + "/placeholders", ph);
          write_file_atomically(dir + "/owned", own);
        }))
      spdlog::warn("background queue full: {}/placeholders and owned not rewritten this time",
                   dir);
  });
}

// Lines "KIND KEY ID" of a previous run: each object is removed if it still has that key
// (the id may have been reused since).
void ObjectTable::remove_stale(const char* file, const char* removed_n) {
  std::string path = run_dir_ + "/" + file;
  std::ifstream f(path);
  int kind = 0;
  int32_t key = 0, id = 0;
  size_t n = 0;
  while (f >> kind >> key >> id) {
    if (!proto::is_valid_kind(uint8_t(kind))) continue;
    ObjectInfo info;
    if (stat_object(proto::Kind(kind), id, info) && info.key == key &&
        remove_object(proto::Kind(kind), id) == 0)
      ++n;
  }
  if (n) spdlog::info(fmt::runtime(removed_n), n);
  write_file_atomically(path, "");
}

}  // namespace dipc::daemon
