// ObjectTable: the distributed objects this node knows of.
//
// Two kinds of entry: objects this node owns (created here with IPC_DIPC) and placeholders
// (local objects standing for another node's object, with its key and mode). Objects are
// found by ObjId (kind and local id: what a process names in a call) or by ObjKey (kind
// and key: what a *get names); the two are distinct types so that one can never be passed
// for the other. The table keeps the published id table (RUN_DIR/ids, read by the shim)
// in step, and RUN_DIR/placeholders and RUN_DIR/owned, so that a dipcd started after a crash
// can remove the placeholders and the objects its predecessor left in the kernel (fail-stop:
// the cluster declared that run dead, so what it owned is gone). Those files are journals:
// a line "KIND KEY ID" records an object, "- KIND KEY ID" that it went. A change burst (one
// io-thread turn) appends its lines, with one write on the background worker; once a file
// has grown past twice its live entries (plus 64 lines) it is rewritten whole instead, so
// that a change costs O(1) on the io thread (amortised) and the files stay in proportion.
// Thread safety: io thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dipcd/id_table.h"
#include "dipcd/thread_check.h"
#include "proto/wire.h"

namespace dipc::daemon {

class BackgroundWorker;

struct ObjId {
  proto::Kind kind{};
  int32_t id = 0;
  auto operator<=>(const ObjId&) const = default;
};
struct ObjKey {
  proto::Kind kind{};
  int32_t key = 0;
  auto operator<=>(const ObjKey&) const = default;
};

struct Placeholder {
  ObjKey key;
  int32_t local_id = 0;
  std::string owner;  // the owner node
  int32_t owner_id = 0;
};

class ObjectTable {
 public:
  ObjectTable(std::string run_dir, BackgroundWorker& bg) : run_dir_(std::move(run_dir)), bg_(bg) {}
  // Opens the id table (and removes the placeholders and owned objects a previous dipcd
  // left), before serving.
  bool open(std::string& err);

  // Owned objects.
  bool add_owned(ObjId id, int32_t key);
  std::optional<int32_t> owned_key(ObjId id) const;
  std::optional<int32_t> owned_id(ObjKey key) const;
  bool owns(ObjId id) const { return owned_.count(id) != 0; }
  void remove_owned(ObjId id);
  const std::map<ObjId, int32_t>& owned() const { return owned_; }

  // Placeholders.
  const Placeholder* placeholder(ObjId id) const;
  const Placeholder* placeholder(ObjKey key) const;
  // Adds one for an object made in the kernel; false (nothing added) if the id table is full.
  bool add_placeholder(const Placeholder& p);
  // Removes the placeholder of key from the table and the kernel; false if there was none.
  bool drop_placeholder(ObjKey key);
  // Every placeholder standing for an object of owner.
  std::vector<ObjKey> placeholders_of(const std::string& owner) const;
  const std::map<ObjId, Placeholder>& placeholders() const { return placeholders_; }

  // Set by the daemon root: a placeholder was dropped (its local id is gone).
  std::function<void(proto::Kind, int32_t local_id)> on_placeholder_dropped;

  // On shutdown: placeholders removed from the kernel, the id table cleared.
  void clear_all();

  // The keys this node distributes without the flag ([distribute]), for the shim to read
  // from the id table.
  void publish_rules(bool all_keyed, std::span<const keys::KeyRange> ranges) {
    ids_.publish_rules(all_keyed, ranges);
  }

 private:
  void save_lists();
  void remove_stale(const char* file, const char* removed_n);

  std::string run_dir_;
  BackgroundWorker& bg_;
  ThreadCheck thread_;
  IdTableWriter ids_;
  std::map<ObjId, int32_t> owned_;             // -> key
  std::map<ObjKey, int32_t> owned_by_key_;     // -> id
  std::map<ObjId, Placeholder> placeholders_;  // by local id
  std::map<ObjKey, int32_t> placeholder_by_key_;  // -> local id
  bool save_pending_ = false;
  // One journal file (see the header): lines waiting to be written, and lines in the file
  // once they are.
  struct Journal {
    std::string add;
    size_t lines = 0;
    bool rewrite = false;  // the last write could not be queued: rewrite it whole
  };
  Journal ph_log_, own_log_;
  static void note(Journal& j, bool gone, proto::Kind kind, int32_t key, int32_t id);
};

const char* kind_name(proto::Kind k);

}  // namespace dipc::daemon
