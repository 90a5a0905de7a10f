// IdentityCache: account look-ups off the io thread, answered once each, bounded.
#include "dipcd/identity.h"

#include <gtest/gtest.h>

#include "dipcd/background.h"

namespace dipc::daemon {
namespace {

class IdentityTest : public ::testing::Test {
 protected:
  // Runs the io context until n answers came (bounded: 2 s).
  void run_until(const int& answers, int n) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (answers < n && std::chrono::steady_clock::now() < end) {
      io_.run_for(std::chrono::milliseconds(5));
      io_.restart();
    }
  }
  asio::io_context io_;
  BackgroundWorker bg_{io_};
};

TEST_F(IdentityTest, RootIsNobodyUnlessRemoteRootAndBadNamesNeverReachNss) {
  IdentityCache plain(bg_, std::chrono::seconds(10), false);
  IdentityCache rr(bg_, std::chrono::seconds(10), true);
  int answers = 0;
  std::optional<Identity> a, b, c;
  plain.for_name("root", [&](const std::optional<Identity>& w) { a = w, ++answers; });
  rr.for_name("root", [&](const std::optional<Identity>& w) { b = w, ++answers; });
  // A name that is no login name is refused at once, without a look-up.
  plain.for_name(std::string("root\0x", 6), [&](const std::optional<Identity>& w) {
    c = w, ++answers;
  });
  EXPECT_EQ(answers, 1);
  EXPECT_FALSE(c.has_value());
  run_until(answers, 3);
  ASSERT_EQ(answers, 3);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->name, "nobody");
  EXPECT_NE(a->uid, 0u);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->uid, 0u);
}

TEST_F(IdentityTest, AnAccountThatDoesNotExistIsNone) {
  IdentityCache ids(bg_, std::chrono::seconds(10), false);
  int answers = 0;
  std::optional<Identity> w{Identity{}};
  ids.for_name("no-such-user-dipc-test", [&](const std::optional<Identity>& r) { w = r, ++answers; });
  run_until(answers, 1);
  ASSERT_EQ(answers, 1);
  EXPECT_FALSE(w.has_value());
}

TEST_F(IdentityTest, CallersWaitingForOneLookupShareItAndLaterOnesAreAnsweredAtOnce) {
  IdentityCache ids(bg_, std::chrono::seconds(10), false);
  int answers = 0;
  for (int i = 0; i < 5; ++i)
    ids.for_uid(0, 0, [&](const Identity& w) {
      EXPECT_EQ(w.name, "root");
      ++answers;
    });
  EXPECT_EQ(answers, 0);  // none answered inside the call: the look-up is on the worker
  run_until(answers, 5);
  EXPECT_EQ(answers, 5);
  ids.for_uid(0, 0, [&](const Identity&) { ++answers; });
  EXPECT_EQ(answers, 6);  // cached: answered at once
  // clear() while a look-up is in flight loses no waiter.
  ids.clear();
  ids.for_uid(0, 0, [&](const Identity&) { ++answers; });
  ids.clear();
  run_until(answers, 7);
  EXPECT_EQ(answers, 7);
}

}  // namespace
}  // namespace dipc::daemon
