// PendingCalls: answers complete only the call they belong to, once.
#include "dipcd/pending.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace dipc::daemon {
namespace {

using Table = PendingCalls<std::string, std::function<void(int)>>;

TEST(PendingCalls, AnswerCompletesOnlyWithItsTagAndOnce) {
  Table t;
  int got = 0;
  uint64_t id = t.add("link1", [&](int v) { got = v; });
  EXPECT_FALSE(t.take(id, "link2"));  // from another link: not taken
  EXPECT_TRUE(t.contains(id));
  auto d = t.take(id, "link1");
  ASSERT_TRUE(d);
  (*d)(7);
  EXPECT_EQ(got, 7);
  EXPECT_FALSE(t.take(id, "link1"));  // a second answer finds nothing
  EXPECT_FALSE(t.take(id + 100));     // nor does one to an id never used
}

TEST(PendingCalls, TakeIfFailsEveryCallOfOneLinkInOrder) {
  Table t;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) t.add(i % 2 ? "a" : "b", [&order, i](int) { order.push_back(i); });
  for (auto& d : t.take_if([](const std::string& tag) { return tag == "b"; })) d(0);
  EXPECT_EQ(order, (std::vector<int>{0, 2, 4}));
  EXPECT_EQ(t.size(), 2u);
}

TEST(PendingCalls, RetagMovesACallToTheLinkItLeftOn) {
  Table t;
  uint64_t id = t.next_id();
  t.put(id, "", [](int) {});
  t.retag(id, "link9");
  ASSERT_NE(t.tag_of(id), nullptr);
  EXPECT_EQ(*t.tag_of(id), "link9");
  EXPECT_FALSE(t.take(id, ""));
  EXPECT_TRUE(t.take(id, "link9"));
  EXPECT_EQ(t.tag_of(id), nullptr);
}

TEST(PendingCalls, IdsAreNeverReused) {
  Table t;
  uint64_t a = t.add("x", [](int) {});
  ASSERT_TRUE(t.take(a));
  uint64_t b = t.add("x", [](int) {});
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace dipc::daemon
