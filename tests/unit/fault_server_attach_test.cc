// FaultServer::segment_known makes dipcd's own System V attachment of the segment before it
// returns, on the calling (io) thread. While a shmat runs, Linux counts that attachment
// twice (do_shmat holds a count of its own around the mapping), so an attach made later on
// the fault server's thread could meet an IPC_STAT on the io thread half done, and
// run_shmctl, which takes dipcd's one attachment from the kernel's count, then answered
// shm_nattch 1 for a segment nothing had attached.
#include <gtest/gtest.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dipcd/dsm/fault_server.h"
#include "dipcd/dsm/shm_ctl.h"

namespace dipc::daemon::dsm {
namespace {

uint64_t kernel_nattch(int id) {
  shmid_ds ds{};
  if (syscall(SYS_shmctl, id, IPC_STAT, &ds) < 0) return ~uint64_t(0);
  return ds.shm_nattch;
}

TEST(SegmentKnown, DipcdsOwnAttachmentIsWholeWhenItReturns) {
  int id = int(syscall(SYS_shmget, IPC_PRIVATE, 8192, 0600));
  ASSERT_GE(id, 0) << strerror(errno);
  {
    Options o;
    o.node_name = "node1";
    // Not started: no thread takes the posted part, so only what segment_known did on
    // this thread is done.
    FaultServer fs(o, [](const std::string&, OutFrame) {});
    fs.segment_known(id, "node1", id, 8192);
    EXPECT_EQ(kernel_nattch(id), 1u) << "dipcd's own attachment is not made yet";
    // IPC_STAT as the owner answers it: nothing but dipcd has it attached.
    OwnedOp op;
    op.kind = proto::Kind::kShm;
    op.op = proto::Op::kShmCtl;
    op.id = id;
    op.arg1 = IPC_STAT;
    OpResult r = run_shmctl(op);
    ASSERT_EQ(r.ret, 0) << strerror(r.err);
    proto::IpcStat st;
    proto::Reader rd(reinterpret_cast<const uint8_t*>(r.data.data()), r.data.size());
    ASSERT_TRUE(st.decode(rd));
    EXPECT_EQ(st.qnum, 0u) << "shm_nattch of a segment nothing attached";
    // Known twice: still one attachment once the posted parts have run (the removal runs
    // them first), and none once the segment is gone.
    fs.segment_known(id, "node1", id, 8192);
    EXPECT_EQ(kernel_nattch(id), 2u);
    fs.segment_removed(id);
    EXPECT_EQ(kernel_nattch(id), 0u) << "dipcd still holds the segment after its removal";
  }
  EXPECT_EQ(syscall(SYS_shmctl, id, IPC_RMID, nullptr), 0);
}

}  // namespace
}  // namespace dipc::daemon::dsm
