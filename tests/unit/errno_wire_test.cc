// Unit tests for the errno numbering on the wire (src/proto/errno_wire.h).
//
// The expected numbers are written here by hand from each architecture's uapi asm/errno.h,
// apart from the table, so a wrong row there fails here. The host (x86-64, like s390x) uses
// the generic numbering, which is the wire's: its mapping must be the identity, and the
// host's own <errno.h> pins the generic column.
#include "proto/errno_wire.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>

namespace dipc::proto {
namespace {

struct Case {
  const char* name;
  int wire, mips, sparc, alpha;
};

// The errno values System V IPC and DIPC's own failures return, and some that differ most.
constexpr Case kCases[] = {
    {"EPERM", 1, 1, 1, 1},
    {"ENOENT", 2, 2, 2, 2},
    {"EINTR", 4, 4, 4, 4},
    {"EIO", 5, 5, 5, 5},
    {"E2BIG", 7, 7, 7, 7},
    {"EAGAIN", 11, 11, 11, 35},
    {"ENOMEM", 12, 12, 12, 12},
    {"EACCES", 13, 13, 13, 13},
    {"EFAULT", 14, 14, 14, 14},
    {"EEXIST", 17, 17, 17, 17},
    {"EINVAL", 22, 22, 22, 22},
    {"ENOSPC", 28, 28, 28, 28},
    {"ERANGE", 34, 34, 34, 34},
    {"EDEADLK", 35, 45, 78, 11},
    {"ENAMETOOLONG", 36, 78, 63, 63},
    {"ENOSYS", 38, 89, 90, 78},
    {"ENOMSG", 42, 35, 75, 80},
    {"EIDRM", 43, 36, 77, 81},
    {"ECOMM", 70, 70, 85, 109},
    {"EPROTO", 71, 71, 86, 85},
    {"EOVERFLOW", 75, 79, 92, 112},
    {"EMSGSIZE", 90, 97, 40, 40},
    {"EOPNOTSUPP", 95, 122, 45, 45},
    {"ECONNRESET", 104, 131, 54, 54},
    {"ENOTCONN", 107, 134, 57, 57},
    {"ETIMEDOUT", 110, 145, 60, 60},
    {"ECONNREFUSED", 111, 146, 61, 61},
    {"EHOSTDOWN", 112, 147, 64, 64},
    {"EHOSTUNREACH", 113, 148, 65, 65},
    {"EDQUOT", 122, 1133, 69, 69},
    {"ECANCELED", 125, 158, 127, 131},
    {"EOWNERDEAD", 130, 165, 132, 136},
    {"EHWPOISON", 133, 168, 135, 139},
};

TEST(ErrnoWire, HostUsesTheGenericNumbering) {
  EXPECT_EQ(kHostErrnoAbi, ErrnoAbi::kGeneric);
  EXPECT_EQ(EIDRM, 43);
  EXPECT_EQ(ENOMSG, 42);
  EXPECT_EQ(EOVERFLOW, 75);
  EXPECT_EQ(EHOSTDOWN, 112);
  for (int e = 0; e < 200; ++e) {
    EXPECT_EQ(errno_to_wire(e), e);
    EXPECT_EQ(errno_from_wire(e), e);
  }
}

TEST(ErrnoWire, EachArchitectureMapsToTheWireAndBack) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(errno_to_wire(c.wire, ErrnoAbi::kGeneric), c.wire);
    EXPECT_EQ(errno_to_wire(c.mips, ErrnoAbi::kMips), c.wire);
    EXPECT_EQ(errno_to_wire(c.sparc, ErrnoAbi::kSparc), c.wire);
    EXPECT_EQ(errno_to_wire(c.alpha, ErrnoAbi::kAlpha), c.wire);
    EXPECT_EQ(errno_from_wire(c.wire, ErrnoAbi::kMips), c.mips);
    EXPECT_EQ(errno_from_wire(c.wire, ErrnoAbi::kSparc), c.sparc);
    EXPECT_EQ(errno_from_wire(c.wire, ErrnoAbi::kAlpha), c.alpha);
  }
}

// A mips node's EIDRM reaches an alpha node as alpha's EIDRM, through the wire's number.
TEST(ErrnoWire, BetweenTwoForeignNumberings) {
  EXPECT_EQ(errno_from_wire(errno_to_wire(36, ErrnoAbi::kMips), ErrnoAbi::kAlpha), 81);
  EXPECT_EQ(errno_from_wire(errno_to_wire(77, ErrnoAbi::kSparc), ErrnoAbi::kMips), 36);
}

// Every generic errno round-trips through each numbering, and no two generic numbers share
// a native one (the table is a bijection on what it covers).
TEST(ErrnoWire, EveryGenericErrnoRoundTrips) {
  for (ErrnoAbi abi : {ErrnoAbi::kMips, ErrnoAbi::kSparc, ErrnoAbi::kAlpha}) {
    std::set<int> natives;
    for (const auto& row : errno_table::kRows) {
      int native = errno_from_wire(row.generic, abi);
      EXPECT_TRUE(natives.insert(native).second) << "native " << native << " twice";
      EXPECT_EQ(errno_to_wire(native, abi), row.generic) << "generic " << row.generic;
    }
    EXPECT_EQ(natives.size(), 131u);  // 1..133 but for 41 and 58, unused in Linux
  }
}

// EDEADLOCK has its own number on mips (56) and sparc (108): it travels as EDEADLK.
TEST(ErrnoWire, EdeadlockTravelsAsEdeadlk) {
  EXPECT_EQ(errno_to_wire(56, ErrnoAbi::kMips), 35);
  EXPECT_EQ(errno_to_wire(108, ErrnoAbi::kSparc), 35);
}

// What has no counterpart travels as EIO: mips EINIT (141) and EREMDEV (142), sparc
// EPROCLIM (67) and ERREMOTE (81); and a wire number nobody knows arrives as EIO.
TEST(ErrnoWire, NoCounterpartIsEio) {
  EXPECT_EQ(errno_to_wire(141, ErrnoAbi::kMips), EIO);
  EXPECT_EQ(errno_to_wire(142, ErrnoAbi::kMips), EIO);
  EXPECT_EQ(errno_to_wire(67, ErrnoAbi::kSparc), EIO);
  EXPECT_EQ(errno_to_wire(81, ErrnoAbi::kSparc), EIO);
  EXPECT_EQ(errno_to_wire(4000, ErrnoAbi::kAlpha), EIO);
  EXPECT_EQ(errno_from_wire(41, ErrnoAbi::kMips), EIO);
  EXPECT_EQ(errno_from_wire(58, ErrnoAbi::kSparc), EIO);
  EXPECT_EQ(errno_from_wire(4000, ErrnoAbi::kAlpha), EIO);
  EXPECT_EQ(errno_to_wire(0, ErrnoAbi::kMips), 0);
  EXPECT_EQ(errno_from_wire(0, ErrnoAbi::kSparc), 0);
}

}  // namespace
}  // namespace dipc::proto
