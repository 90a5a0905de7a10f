// userfaultfd definitions that Debian 12's kernel headers (Linux 6.1) lack, for the newer
// kernels DIPC's shared memory needs (docs/design.md, "Distributed shared memory").
// Used by dipcd's fault server and by the shim; header only, libc and kernel headers only.
//
// What DIPC needs of the running kernel, and checks at start (dsm_kernel_check):
//   /dev/userfaultfd (Linux 6.1), UFFD_FEATURE_WP_HUGETLBFS_SHMEM (6.1: write-protect on a
//   memfd), UFFD_FEATURE_WP_UNPOPULATED (6.4: protect pages not present yet),
//   UFFD_FEATURE_POISON (6.6: a lost page raises SIGBUS).
#pragma once

#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif

#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
struct uffdio_poison {
  struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
  __u64 mode;
  __s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, 0x08, struct uffdio_poison)
#endif

namespace dipc::dsm {

// The features a process's userfaultfd is opened with.
inline constexpr __u64 kUffdFeatures =
    UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_POISON;

}  // namespace dipc::dsm
