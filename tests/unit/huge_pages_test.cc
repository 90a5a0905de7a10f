// FaultServer::huge_page_warning: dipcd warns at start when shmem transparent huge pages
// are on, reading the mode in force from /sys/kernel/mm/transparent_hugepage/shmem_enabled.
#include <gtest/gtest.h>

#include "dipcd/dsm/fault_server.h"

namespace dipc::daemon::dsm {
namespace {

TEST(HugePageWarning, OnlyTheModesThatPutHugePagesInAMemfdWarn) {
  for (const char* off : {"always within_size advise [never] deny force\n",
                          "always within_size [advise] never deny force\n",
                          "always within_size advise never [deny] force\n", "", "garbage"})
    EXPECT_EQ(FaultServer::huge_page_warning(off), "") << off;
  for (const char* on : {"[always] within_size advise never deny force\n",
                         "always [within_size] advise never deny force\n",
                         "always within_size advise never deny [force]\n"}) {
    std::string w = FaultServer::huge_page_warning(on);
    EXPECT_NE(w.find("shmem_enabled"), std::string::npos) << on;
    EXPECT_NE(w.find("never or advise"), std::string::npos) << w;
  }
}

}  // namespace
}  // namespace dipc::daemon::dsm
