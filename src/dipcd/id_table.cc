#include "dipcd/id_table.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace dipc::daemon {

IdTableWriter::~IdTableWriter() {
  if (map_) munmap(map_, idtable::kFileSize);
}

bool IdTableWriter::open(const std::string& run_dir, std::string& err) {
  std::string path = run_dir + "/" + idtable::kFileName;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = path + ": " + strerror(errno);
    return false;
  }
  fchmod(fd, 0644);
  // Never shrink a table that processes may have mapped (they would fault): give it its
  // size if it has none, then clear the entries in place.
  struct stat st;
  if (fstat(fd, &st) != 0 ||
      (size_t(st.st_size) != idtable::kFileSize && ftruncate(fd, off_t(idtable::kFileSize)) != 0)) {
    err = path + ": " + strerror(errno);
    ::close(fd);
    return false;
  }
  void* p = mmap(nullptr, idtable::kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    err = path + ": mmap: " + strerror(errno);
    return false;
  }
  map_ = p;
  slots_ = reinterpret_cast<std::atomic<uint64_t>*>(static_cast<char*>(p) + sizeof(idtable::Header));
  rules_ = reinterpret_cast<std::atomic<uint64_t>*>(static_cast<char*>(p) + idtable::kRulesOffset);
  clear_all();
  auto* h = static_cast<idtable::Header*>(p);
  h->slots = idtable::kSlots;
  std::atomic_thread_fence(std::memory_order_release);
  h->magic = idtable::kMagic;
  return true;
}

void IdTableWriter::clear_all() {
  if (!slots_) return;
  for (size_t i = 0; i < 3 * size_t(idtable::kSlots); ++i)
    slots_[i].store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  publish_rules(false, {});
}

void IdTableWriter::publish_rules(bool all_keyed, std::span<const keys::KeyRange> ranges) {
  if (!rules_) return;
  size_t n = std::min(ranges.size(), keys::kMaxRanges);
  // Seqlock writer: odd counter, the words, even counter. Readers in other processes retry
  // while the counter is odd or has moved.
  uint64_t seq = rules_[0].load(std::memory_order_relaxed);
  if (seq & 1) ++seq;  // a previous dipcd died mid-write
  rules_[0].store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  rules_[1].store((uint64_t(all_keyed ? idtable::kRulesAllKeyed : 0) << 32) | n,
                  std::memory_order_relaxed);
  for (size_t i = 0; i < keys::kMaxRanges; ++i)
    rules_[2 + i].store(i < n ? (uint64_t(ranges[i].lo) << 32) | ranges[i].hi : 0,
                        std::memory_order_relaxed);
  rules_[0].store(seq + 2, std::memory_order_release);
}

bool IdTableWriter::set(proto::Kind kind, int32_t id, uint32_t flags) {
  auto& slot = slots_[idtable::slot_index(kind, id)];
  uint64_t cur = slot.load(std::memory_order_relaxed);
  if (cur != 0 && uint32_t(cur >> 32) != uint32_t(id)) return false;
  slot.store(idtable::make_entry(id, flags | idtable::kFlagDistributed), std::memory_order_release);
  return true;
}

void IdTableWriter::clear(proto::Kind kind, int32_t id) {
  auto& slot = slots_[idtable::slot_index(kind, id)];
  uint64_t cur = slot.load(std::memory_order_relaxed);
  if (cur != 0 && uint32_t(cur >> 32) == uint32_t(id)) slot.store(0, std::memory_order_release);
}

}  // namespace dipc::daemon
