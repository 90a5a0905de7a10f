// Unit tests for memory given back after a burst (src/dipcd/memory_trim.h): when the
// policy says a burst is over, and that give_back() really returns freed heap memory to the
// kernel (the resident set drops) where glibc alone keeps it.
#include "dipcd/memory_trim.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace dipc::daemon {
namespace {

constexpr size_t kMiB = 1u << 20;

// Sizes as (heap in use, resident set).
TEST(TrimPolicy, DueOnceFreedMemoryStaysResidentAfterABurst) {
  TrimPolicy p;
  EXPECT_FALSE(p.due(2 * kMiB, 8 * kMiB));    // 6 MiB idle: the baseline
  EXPECT_FALSE(p.due(60 * kMiB, 70 * kMiB));  // the burst: in use, not idle
  EXPECT_FALSE(p.due(55 * kMiB, 68 * kMiB));  // 13 idle: less than 6 + 8
  EXPECT_TRUE(p.due(2 * kMiB, 70 * kMiB));    // freed, still resident
  p.done(2 * kMiB, 9 * kMiB);                 // the trim gave it back
  EXPECT_FALSE(p.due(2 * kMiB, 9 * kMiB));
}

TEST(TrimPolicy, MemoryThatCannotBeGivenBackDoesNotMakeItTrimAgain) {
  TrimPolicy p;
  p.due(2 * kMiB, 8 * kMiB);
  EXPECT_TRUE(p.due(2 * kMiB, 40 * kMiB));
  p.done(2 * kMiB, 38 * kMiB);  // fragmented: little went back
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(p.due(2 * kMiB, 38 * kMiB));
  // A later burst that is freed and stays resident makes it due again.
  EXPECT_TRUE(p.due(2 * kMiB, 38 * kMiB + TrimPolicy::kBurst));
}

TEST(TrimPolicy, SmallGrowthIsNoBurstAndALowerLevelIsTheNewBaseline) {
  TrimPolicy p;
  p.due(1 * kMiB, 30 * kMiB);  // 29 idle
  EXPECT_FALSE(p.due(1 * kMiB, 30 * kMiB + TrimPolicy::kBurst - 1));
  EXPECT_FALSE(p.due(1 * kMiB, 6 * kMiB));  // idle threads ended: 5 idle
  EXPECT_TRUE(p.due(1 * kMiB, 6 * kMiB + TrimPolicy::kBurst));
}

TEST(GiveBack, FreedHeapMemoryLeavesTheResidentSet) {
  // 96 MiB in small chunks (below the mmap threshold: they live in the heap), touched, then
  // freed except one chunk allocated last, which keeps glibc from trimming the top itself.
  std::vector<char*> chunks;
  for (size_t i = 0; i < 96 * 1024; ++i) {
    char* c = static_cast<char*>(std::malloc(1000));
    ASSERT_NE(c, nullptr);
    std::memset(c, int(i), 1000);
    chunks.push_back(c);
  }
  char* pin = static_cast<char*>(std::malloc(1000));
  std::memset(pin, 1, 1000);
  for (char* c : chunks) std::free(c);
  chunks.clear();
  chunks.shrink_to_fit();
  size_t held = resident_bytes();
  size_t freed = give_back();
  std::free(pin);
  EXPECT_GE(freed, 48 * kMiB) << "resident " << held / kMiB << " MiB before, " << freed / kMiB
                              << " MiB given back";
}

}  // namespace
}  // namespace dipc::daemon
