// A peer's refused DSM frames are logged at most once a second per node, with a count of
// the rest: a hostile peer sending bad frames in a loop cannot fill dipcd's log.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "dipcd/dsm/fault_server.h"

namespace dipc::daemon::dsm {
namespace {

size_t lines_with(const std::vector<std::string>& lines, const std::string& what) {
  size_t n = 0;
  for (auto& l : lines) n += l.find(what) != std::string::npos;
  return n;
}

TEST(DsmRefusals, ABurstOfBadFramesIsOneLogLinePerNode) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000);
  auto before = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("refusals", sink));
  {
    Options o;
    o.node_name = "node1";  // no post_io: lines are written in place
    FaultServer fs(o, [](const std::string&, OutFrame) {});
    for (int i = 0; i < 1000; ++i) {
      // A grant too short to decode, from two peers.
      fs.peer_frame("evil", true, proto::FrameType::kDsmGrant, 1, {1, 2, 3});
      fs.peer_frame("other", true, proto::FrameType::kDsmGrant, 1, {1, 2, 3});
    }
  }
  auto lines = sink->last_formatted();
  spdlog::set_default_logger(before);
  EXPECT_EQ(lines_with(lines, "from evil refused"), 1u);
  EXPECT_EQ(lines_with(lines, "from other refused"), 1u);
}

}  // namespace
}  // namespace dipc::daemon::dsm
