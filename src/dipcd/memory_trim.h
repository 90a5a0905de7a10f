// Memory given back after a burst. glibc keeps freed memory in its arenas for reuse; after
// a burst (thousands of blocked calls, a flood of answers, a big listing) dipcd would keep
// its peak size for ever. TrimPolicy watches the heap's bytes in use once a second and says
// when a burst is over: usage rose by at least kBurst above its low point and has since
// fallen back by half of that rise. Then give_back() calls malloc_trim(0), which returns
// the free pages of every arena to the kernel.
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
  static constexpr size_t kBurst = 16u << 20;  // a rise smaller than this is not a burst

  // in_use: the heap's bytes in use now. True when memory should be given back now.
  bool observe(size_t in_use) {
    if (first_) {
      first_ = false;
      low_ = peak_ = in_use;
      return false;
    }
    if (in_use > peak_) peak_ = in_use;
    if (peak_ >= low_ + kBurst && in_use <= low_ + (peak_ - low_) / 2) {
      low_ = peak_ = in_use;
      return true;
    }
    if (in_use < low_) low_ = peak_ = in_use;  // a new low: a later burst counts from it
    return false;
  }

 private:
  bool first_ = true;
  size_t low_ = 0, peak_ = 0;
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
