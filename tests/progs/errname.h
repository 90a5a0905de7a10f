/* errname(): the symbolic name of an errno value ("EINVAL"), as the test programs print
 * it; "0" for no error and "E#N" for a number glibc has no name for. */
#ifndef DIPC_TESTS_ERRNAME_H
#define DIPC_TESTS_ERRNAME_H
#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any include: errname() uses strerrorname_np"
#endif
#include <stdio.h>
#include <string.h>

static const char* errname(int e) {
  static __thread char other[32];
  if (e == 0) return "0";
  const char* n = strerrorname_np(e);
  if (n != NULL) return n;
  snprintf(other, sizeof other, "E#%d", e);
  return other;
}
#endif
