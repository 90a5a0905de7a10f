// IdTableWriter: dipcd's side of the distributed-id table (layout in proto/id_table.h).
// The file is cleared in place and reused, never replaced or shrunk, so processes that mapped it before a
// restart of dipcd keep seeing the live table. Thread safety: io thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>

#include "proto/id_table.h"

namespace dipc::daemon {

class IdTableWriter {
 public:
  IdTableWriter() = default;
  ~IdTableWriter();
  // Creates or clears RUN_DIR/ids; on failure returns false and fills err.
  bool open(const std::string& run_dir, std::string& err);
  // Returns false when the slot holds another live id (only on kernels with a larger IPCMNI).
  bool set(proto::Kind kind, int32_t id, uint32_t flags);
  void clear(proto::Kind kind, int32_t id);
  // Every entry and the key rules: on a clean shutdown, so that no process takes its ids
  // or keys for distributed.
  void clear_all();
  // Publishes the node's key rules ([distribute]); at most keys::kMaxRanges ranges (the
  // configuration never holds more).
  void publish_rules(bool all_keyed, std::span<const keys::KeyRange> ranges);

 private:
  std::atomic<uint64_t>* slots_ = nullptr;
  std::atomic<uint64_t>* rules_ = nullptr;
  void* map_ = nullptr;
};

}  // namespace dipc::daemon
