// Unit tests for the published id table's key rules (layout 2, proto/id_table.h): what
// dipcd's IdTableWriter writes is what a reader mapping the file read-only, as the shim
// does, finds; clear_all takes the rules away; the reader never matches IPC_PRIVATE.
#include "dipcd/id_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace dipc::daemon {
namespace {

class IdTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // On tmpfs, as a run_dir under /run normally is. (On an ext4 file the concurrent
    // reader of ReaderNeverSeesAHalfWrittenSet has been seen to read a consistent sequence
    // number around an inconsistent set; docs/design.md says to keep run_dir on tmpfs.)
    const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string tmpl = std::string(base) + "/dipc_idtable_test.XXXXXX";
    std::vector<char> dir(tmpl.begin(), tmpl.end());
    dir.push_back('\0');
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    dir_ = dir.data();
    std::string err;
    ASSERT_TRUE(writer_.open(dir_, err)) << err;
    int fd = ::open((dir_ + "/" + idtable::kFileName).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    struct stat st;
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_EQ(size_t(st.st_size), idtable::kFileSize);
    map_ = mmap(nullptr, idtable::kFileSize, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    ASSERT_NE(map_, MAP_FAILED);
  }
  void TearDown() override {
    if (map_ != MAP_FAILED) munmap(map_, idtable::kFileSize);
    std::filesystem::remove_all(dir_);
  }
  const std::atomic<uint64_t>* rules() const {
    return reinterpret_cast<const std::atomic<uint64_t>*>(static_cast<const char*>(map_) +
                                                          idtable::kRulesOffset);
  }
  bool match(uint32_t key) const { return idtable::rules_match(rules(), key); }

  std::string dir_;
  IdTableWriter writer_;
  void* map_ = MAP_FAILED;
};

TEST_F(IdTableTest, HeaderIsLayout2) {
  auto* h = static_cast<const idtable::Header*>(map_);
  EXPECT_EQ(h->magic, 0x4449504349445432ull);  // "DIPCIDT2"
  EXPECT_EQ(h->slots, idtable::kSlots);
  EXPECT_EQ(idtable::kRulesOffset, 64u + 3u * 32768u * 8u);  // the slots did not move
  EXPECT_EQ(idtable::kFileSize, idtable::kRulesOffset + (2u + 256u) * 8u);
}

TEST_F(IdTableTest, PublishedRulesAreFound) {
  EXPECT_FALSE(match(40));  // a fresh table distributes nothing
  std::vector<keys::KeyRange> r = {{40, 40}, {0x7000, 0x70ff}, {0, 5}};
  writer_.publish_rules(false, r);
  EXPECT_EQ(rules()[0].load() % 2, 0u);  // the sequence counter is even when done
  EXPECT_TRUE(match(40));
  EXPECT_FALSE(match(41));
  EXPECT_FALSE(match(0x6fff));
  EXPECT_TRUE(match(0x7000));
  EXPECT_TRUE(match(0x70ff));
  EXPECT_FALSE(match(0x7100));
  EXPECT_TRUE(match(5));
  EXPECT_FALSE(match(0));  // IPC_PRIVATE, even inside a range
  // Republished with fewer ranges: the old ones are gone.
  writer_.publish_rules(false, std::vector<keys::KeyRange>{{41, 41}});
  EXPECT_FALSE(match(40));
  EXPECT_FALSE(match(0x7000));
  EXPECT_TRUE(match(41));
  writer_.publish_rules(true, {});
  EXPECT_TRUE(match(1));
  EXPECT_TRUE(match(0xffffffff));
  EXPECT_FALSE(match(0));
  writer_.clear_all();  // a clean stop: nothing distributed any more
  EXPECT_FALSE(match(1));
  EXPECT_FALSE(match(41));
}

TEST_F(IdTableTest, AllRangesFit) {
  std::vector<keys::KeyRange> r;
  for (uint32_t i = 0; i < keys::kMaxRanges; ++i) r.push_back({1000 + 10 * i, 1000 + 10 * i});
  writer_.publish_rules(false, r);
  EXPECT_TRUE(match(1000));
  EXPECT_TRUE(match(1000 + 10 * (keys::kMaxRanges - 1)));
  EXPECT_FALSE(match(1001));
}

TEST_F(IdTableTest, ReopenKeepsTheFileAndClearsTheRules) {
  writer_.publish_rules(false, std::vector<keys::KeyRange>{{40, 40}});
  ASSERT_TRUE(match(40));
  IdTableWriter again;  // a restarted dipcd reuses the file in place
  std::string err;
  ASSERT_TRUE(again.open(dir_, err)) << err;
  EXPECT_FALSE(match(40));  // seen through the old mapping
  again.publish_rules(false, std::vector<keys::KeyRange>{{42, 42}});
  EXPECT_TRUE(match(42));
}

// The seqlock: while dipcd rewrites the rules, a reader sees the old set or the new one,
// never a mix. Both sets hold key 100, at different places; a torn read (the new count with
// the old ranges, or half of each) would miss it.
TEST_F(IdTableTest, ReaderNeverSeesAHalfWrittenSet) {
  // a has it first, b last: while a is overwritten by b, 100 is nowhere for a long moment.
  const std::vector<keys::KeyRange> a = {{100, 100}};
  std::vector<keys::KeyRange> b;
  for (uint32_t i = 0; i + 1 < keys::kMaxRanges; ++i) b.push_back({1000 + i, 1000 + i});
  b.push_back({100, 100});
  writer_.publish_rules(false, a);  // before the reader starts: every state it sees has 100
  std::atomic<bool> done{false};
  std::atomic<long> misses{0}, reads{0}, unknown{0};
  std::thread reader([&] {
    while (!done.load(std::memory_order_relaxed)) {
      // -1 (gave up: the writer was preempted in the middle of a write) is allowed; 0 is a
      // torn read.
      int r = idtable::rules_lookup(rules(), 100);
      if (r == 0) misses.fetch_add(1, std::memory_order_relaxed);
      if (r < 0) unknown.fetch_add(1, std::memory_order_relaxed);
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  });
  // Publish for at least 300 ms and until the reader has made 200000 reads alongside
  // (at most 3 s), yielding now and then so that both threads get CPUs on a busy machine.
  auto start = std::chrono::steady_clock::now();
  for (long i = 0;; ++i) {
    writer_.publish_rules(false, i % 2 ? b : a);
    if (i % 64 == 0) std::this_thread::yield();
    auto t = std::chrono::steady_clock::now() - start;
    bool enough = t > std::chrono::milliseconds(300) && reads.load() >= 200000;
    if (enough || t > std::chrono::seconds(3)) break;
  }
  done = true;
  reader.join();
  EXPECT_EQ(misses.load(), 0) << "of " << reads.load() << " reads (" << unknown.load()
                              << " gave up)";
  EXPECT_GT(reads.load(), 0);
}

}  // namespace
}  // namespace dipc::daemon
