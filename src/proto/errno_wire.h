// Errno numbers on the wire: one numbering for every node, whatever its architecture.
//
// Linux numbers errno values per architecture. Most (x86-64, s390x, arm, arm64, riscv,
// powerpc but for EDEADLOCK, i386, m68k) use the generic numbering of the kernel's
// asm-generic/errno-base.h and errno.h; mips, sparc and alpha number everything from 35
// on differently (alpha also swaps EAGAIN and EDEADLK). Every errno that crosses the
// wire (OpReply, RegRecord, AdminReply, DsmFail) is written in the generic numbering and
// read back into the receiving node's own: errno_to_wire when encoding, errno_from_wire
// when decoding. On a generic node both are the identity.
//
// powerpc is generic but for its EDEADLOCK (58, not EDEADLK's 35), which is not mapped.
//
// Covered: every errno of the generic numbering (1..133) and each architecture's names for
// them (EDEADLOCK, an alias of EDEADLK in the generic numbering, has its own number on mips
// and sparc: it goes to the wire as EDEADLK). A number with no generic counterpart (mips
// EINIT and EREMDEV, sparc EPROCLIM and ERREMOTE, anything unknown) travels as EIO, and a
// wire number the receiver has no name for arrives as EIO: docs/errors.md.
//
// Pure functions on constant tables, no allocation: callable from any thread, the shim too.
#pragma once

#include <cstdint>

namespace dipc::proto {

// The errno numberings DIPC knows. kGeneric is the wire's.
enum class ErrnoAbi : uint8_t { kGeneric, kMips, kSparc, kAlpha };

#if defined(__mips__)
inline constexpr ErrnoAbi kHostErrnoAbi = ErrnoAbi::kMips;
#elif defined(__sparc__)
inline constexpr ErrnoAbi kHostErrnoAbi = ErrnoAbi::kSparc;
#elif defined(__alpha__)
inline constexpr ErrnoAbi kHostErrnoAbi = ErrnoAbi::kAlpha;
#else
inline constexpr ErrnoAbi kHostErrnoAbi = ErrnoAbi::kGeneric;
#endif

namespace errno_table {

struct Row {
  int16_t generic, mips, sparc, alpha;
  constexpr int16_t of(ErrnoAbi abi) const {
    switch (abi) {
      case ErrnoAbi::kMips: return mips;
      case ErrnoAbi::kSparc: return sparc;
      case ErrnoAbi::kAlpha: return alpha;
      case ErrnoAbi::kGeneric: break;
    }
    return generic;
  }
};

// {generic, mips, sparc, alpha}, one row per errno of the generic numbering (the numbers
// are the Linux kernel's uapi asm/errno.h of each architecture).
inline constexpr Row kRows[] = {
    {1, 1, 1, 1},  // EPERM
    {2, 2, 2, 2},  // ENOENT
    {3, 3, 3, 3},  // ESRCH
    {4, 4, 4, 4},  // EINTR
    {5, 5, 5, 5},  // EIO
    {6, 6, 6, 6},  // ENXIO
    {7, 7, 7, 7},  // E2BIG
    {8, 8, 8, 8},  // ENOEXEC
    {9, 9, 9, 9},  // EBADF
    {10, 10, 10, 10},  // ECHILD
    {11, 11, 11, 35},  // EAGAIN
    {12, 12, 12, 12},  // ENOMEM
    {13, 13, 13, 13},  // EACCES
    {14, 14, 14, 14},  // EFAULT
    {15, 15, 15, 15},  // ENOTBLK
    {16, 16, 16, 16},  // EBUSY
    {17, 17, 17, 17},  // EEXIST
    {18, 18, 18, 18},  // EXDEV
    {19, 19, 19, 19},  // ENODEV
    {20, 20, 20, 20},  // ENOTDIR
    {21, 21, 21, 21},  // EISDIR
    {22, 22, 22, 22},  // EINVAL
    {23, 23, 23, 23},  // ENFILE
    {24, 24, 24, 24},  // EMFILE
    {25, 25, 25, 25},  // ENOTTY
    {26, 26, 26, 26},  // ETXTBSY
    {27, 27, 27, 27},  // EFBIG
    {28, 28, 28, 28},  // ENOSPC
    {29, 29, 29, 29},  // ESPIPE
    {30, 30, 30, 30},  // EROFS
    {31, 31, 31, 31},  // EMLINK
    {32, 32, 32, 32},  // EPIPE
    {33, 33, 33, 33},  // EDOM
    {34, 34, 34, 34},  // ERANGE
    {35, 45, 78, 11},  // EDEADLK
    {36, 78, 63, 63},  // ENAMETOOLONG
    {37, 46, 79, 77},  // ENOLCK
    {38, 89, 90, 78},  // ENOSYS
    {39, 93, 66, 66},  // ENOTEMPTY
    {40, 90, 62, 62},  // ELOOP
    {42, 35, 75, 80},  // ENOMSG
    {43, 36, 77, 81},  // EIDRM
    {44, 37, 94, 88},  // ECHRNG
    {45, 38, 95, 89},  // EL2NSYNC
    {46, 39, 96, 90},  // EL3HLT
    {47, 40, 97, 91},  // EL3RST
    {48, 41, 98, 93},  // ELNRNG
    {49, 42, 99, 94},  // EUNATCH
    {50, 43, 100, 95},  // ENOCSI
    {51, 44, 101, 96},  // EL2HLT
    {52, 50, 102, 97},  // EBADE
    {53, 51, 103, 98},  // EBADR
    {54, 52, 104, 99},  // EXFULL
    {55, 53, 105, 100},  // ENOANO
    {56, 54, 106, 101},  // EBADRQC
    {57, 55, 107, 102},  // EBADSLT
    {59, 59, 109, 104},  // EBFONT
    {60, 60, 72, 87},  // ENOSTR
    {61, 61, 111, 86},  // ENODATA
    {62, 62, 73, 83},  // ETIME
    {63, 63, 74, 82},  // ENOSR
    {64, 64, 80, 105},  // ENONET
    {65, 65, 113, 92},  // ENOPKG
    {66, 66, 71, 71},  // EREMOTE
    {67, 67, 82, 106},  // ENOLINK
    {68, 68, 83, 107},  // EADV
    {69, 69, 84, 108},  // ESRMNT
    {70, 70, 85, 109},  // ECOMM
    {71, 71, 86, 85},  // EPROTO
    {72, 74, 87, 110},  // EMULTIHOP
    {73, 73, 88, 111},  // EDOTDOT
    {74, 77, 76, 84},  // EBADMSG
    {75, 79, 92, 112},  // EOVERFLOW
    {76, 80, 115, 113},  // ENOTUNIQ
    {77, 81, 93, 114},  // EBADFD
    {78, 82, 89, 115},  // EREMCHG
    {79, 83, 114, 122},  // ELIBACC
    {80, 84, 112, 123},  // ELIBBAD
    {81, 85, 124, 124},  // ELIBSCN
    {82, 86, 123, 125},  // ELIBMAX
    {83, 87, 110, 126},  // ELIBEXEC
    {84, 88, 122, 116},  // EILSEQ
    {85, 91, 116, 127},  // ERESTART
    {86, 92, 91, 128},  // ESTRPIPE
    {87, 94, 68, 68},  // EUSERS
    {88, 95, 38, 38},  // ENOTSOCK
    {89, 96, 39, 39},  // EDESTADDRREQ
    {90, 97, 40, 40},  // EMSGSIZE
    {91, 98, 41, 41},  // EPROTOTYPE
    {92, 99, 42, 42},  // ENOPROTOOPT
    {93, 120, 43, 43},  // EPROTONOSUPPORT
    {94, 121, 44, 44},  // ESOCKTNOSUPPORT
    {95, 122, 45, 45},  // EOPNOTSUPP
    {96, 123, 46, 46},  // EPFNOSUPPORT
    {97, 124, 47, 47},  // EAFNOSUPPORT
    {98, 125, 48, 48},  // EADDRINUSE
    {99, 126, 49, 49},  // EADDRNOTAVAIL
    {100, 127, 50, 50},  // ENETDOWN
    {101, 128, 51, 51},  // ENETUNREACH
    {102, 129, 52, 52},  // ENETRESET
    {103, 130, 53, 53},  // ECONNABORTED
    {104, 131, 54, 54},  // ECONNRESET
    {105, 132, 55, 55},  // ENOBUFS
    {106, 133, 56, 56},  // EISCONN
    {107, 134, 57, 57},  // ENOTCONN
    {108, 143, 58, 58},  // ESHUTDOWN
    {109, 144, 59, 59},  // ETOOMANYREFS
    {110, 145, 60, 60},  // ETIMEDOUT
    {111, 146, 61, 61},  // ECONNREFUSED
    {112, 147, 64, 64},  // EHOSTDOWN
    {113, 148, 65, 65},  // EHOSTUNREACH
    {114, 149, 37, 37},  // EALREADY
    {115, 150, 36, 36},  // EINPROGRESS
    {116, 151, 70, 70},  // ESTALE
    {117, 135, 117, 117},  // EUCLEAN
    {118, 137, 118, 118},  // ENOTNAM
    {119, 138, 119, 119},  // ENAVAIL
    {120, 139, 120, 120},  // EISNAM
    {121, 140, 121, 121},  // EREMOTEIO
    {122, 1133, 69, 69},  // EDQUOT
    {123, 159, 125, 129},  // ENOMEDIUM
    {124, 160, 126, 130},  // EMEDIUMTYPE
    {125, 158, 127, 131},  // ECANCELED
    {126, 161, 128, 132},  // ENOKEY
    {127, 162, 129, 133},  // EKEYEXPIRED
    {128, 163, 130, 134},  // EKEYREVOKED
    {129, 164, 131, 135},  // EKEYREJECTED
    {130, 165, 132, 136},  // EOWNERDEAD
    {131, 166, 133, 137},  // ENOTRECOVERABLE
    {132, 167, 134, 138},  // ERFKILL
    {133, 168, 135, 139},  // EHWPOISON
};

// Native numbers that are aliases in the generic numbering: EDEADLOCK on mips and sparc.
inline constexpr Row kAliases[] = {
    {35, 56, 108, 11},  // EDEADLOCK
};

inline constexpr int kEio = 5;

}  // namespace errno_table

// The wire (generic) number of native errno e of numbering abi; 0 stays 0.
constexpr int32_t errno_to_wire(int32_t e, ErrnoAbi abi) {
  if (e == 0 || abi == ErrnoAbi::kGeneric) return e;
  for (const auto& r : errno_table::kRows)
    if (r.of(abi) == e) return r.generic;
  for (const auto& r : errno_table::kAliases)
    if (r.of(abi) == e) return r.generic;
  return errno_table::kEio;
}

// The native number, in numbering abi, of wire errno w; 0 stays 0.
constexpr int32_t errno_from_wire(int32_t w, ErrnoAbi abi) {
  if (w == 0 || abi == ErrnoAbi::kGeneric) return w;
  for (const auto& r : errno_table::kRows)
    if (r.generic == w) return r.of(abi);
  return errno_table::kEio;
}

constexpr int32_t errno_to_wire(int32_t e) { return errno_to_wire(e, kHostErrnoAbi); }
constexpr int32_t errno_from_wire(int32_t w) { return errno_from_wire(w, kHostErrnoAbi); }

}  // namespace dipc::proto
