// Memory given back after a burst. glibc keeps freed memory in its arenas for reuse; after
// a burst (thousands of blocked calls, a flood of answers, a big listing) dipcd would keep
// its peak size for ever. TrimPolicy is asked once a second with the heap's bytes in use
// and the resident set: the resident bytes that are not heap in use ("idle") are compared
// with what they were after the last trim. Once they grew by kBurst or more (memory freed
// after a burst but still resident), it is time: give_back() calls malloc_trim(0), which
// returns the free pages of every arena to the kernel, and done() takes the new level as
// the baseline (so memory glibc cannot give back does not make it trim every second). A
// later burst that touches those pages again and frees them makes the idle bytes grow again.
// Thread safety: TrimPolicy is used by one thread (the background worker, from the
// daemon's sweep); the free functions may be called on any thread.
#pragma once

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <fstream>

namespace dipc::daemon {

class TrimPolicy {
 public:
  static constexpr size_t kBurst = 8u << 20;  // idle resident bytes that make a trim due

  // True when memory should be given back now.
  bool due(size_t in_use, size_t resident) {
    size_t idle = resident > in_use ? resident - in_use : 0;
    if (first_) {
      first_ = false;
      base_ = idle;
      return false;
    }
    if (idle < base_) base_ = idle;  // a new low: later growth counts from it
    return idle >= base_ + kBurst;
  }
  // After a trim: what is idle now is the new baseline.
  void done(size_t in_use, size_t resident) { base_ = resident > in_use ? resident - in_use : 0; }

 private:
  bool first_ = true;
  size_t base_ = 0;
};

// Bytes the heap has handed out (every arena, and chunks mapped on their own).
inline size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// The process's resident set, in bytes.
inline size_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

// Returns free heap memory to the kernel; the resident bytes it gave back.
inline size_t give_back() {
  size_t before = resident_bytes();
  malloc_trim(0);
  size_t after = resident_bytes();
  return before > after ? before - after : 0;
}

}  // namespace dipc::daemon
