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

TEST(TrimPolicy, TrimsOnceWhenUsageFellBackAfterABurst) {
  TrimPolicy p;
  EXPECT_FALSE(p.observe(10 * kMiB));
  EXPECT_FALSE(p.observe(20 * kMiB));
  EXPECT_FALSE(p.observe(60 * kMiB));  // the burst
  EXPECT_FALSE(p.observe(40 * kMiB));  // still above half the rise (35)
  EXPECT_TRUE(p.observe(30 * kMiB));   // fell back by half
  EXPECT_FALSE(p.observe(30 * kMiB)) << "trimmed again with no new burst";
  EXPECT_FALSE(p.observe(12 * kMiB));
  EXPECT_FALSE(p.observe(12 * kMiB));
}

TEST(TrimPolicy, SmallRisesAreNoBurst) {
  TrimPolicy p;
  p.observe(10 * kMiB);
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(p.observe(10 * kMiB + TrimPolicy::kBurst - 1));
    EXPECT_FALSE(p.observe(10 * kMiB));
  }
}

TEST(TrimPolicy, ABurstCountsFromTheLowestPoint) {
  TrimPolicy p;
  p.observe(50 * kMiB);
  p.observe(5 * kMiB);                 // a new low
  EXPECT_FALSE(p.observe(25 * kMiB));  // a rise of 20 from 5
  EXPECT_TRUE(p.observe(14 * kMiB));   // back below 5 + 10
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
