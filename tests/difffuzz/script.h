// The differential fuzzer's scripts: what a step is, how a seed becomes a script, and how a
// step reads when printed.
//
// A script is plain data (a vector of Step), generated from (seed, script number) alone, so
// a failing script can be shrunk by dropping steps and run again, on both sides, as it is.
// Slots 0 and 1 are message queues, slots 2 and 3 semaphore sets, slots 4 and 5 shared
// memory segments; slot s has key keybase + s. Single-threaded: used by the runner and the
// processes it forks.
#pragma once

#include <sys/sem.h>

#include <cstdint>
#include <string>
#include <vector>

namespace difffuzz {

inline constexpr int kSlots = 6;
inline bool is_msg_slot(int s) { return s < 2; }
inline bool is_shm_slot(int s) { return s >= 4; }

// How a call's pointer argument is made. kEdge: the first bytes are valid, the rest lies on an
// inaccessible page (a message text, an array, a struct that runs off the end of memory).
enum class Ptr : uint8_t { kValid, kNull, kBad, kReadOnly, kEdge };

// Which id a call names: the slot's current id, a removed/replaced one, or ids no namespace
// can hold (negative, INT_MAX).
enum class IdRef : uint8_t { kSlot, kStale, kNegative, kMax };

// What the bounded partner does to a call that may block (it acts once the call is seen
// waiting, or right after it returned).
enum class Partner : uint8_t { kNone, kUnblock, kSignal, kRemove };

// semtimedop's timeout argument (kNoTimeout: semop itself).
enum class Timeout : uint8_t { kNoTimeout, kNull, kZero, kShort, kBadNsec, kNegative, kBadPtr };

// shmat's address: NULL, the start of a region the runner keeps reserved (PROT_NONE) for
// attaching at a fixed address, that address plus 123 (for SHM_RND), an address inside the
// runner's own data (always mapped), 64 KiB (mmap_min_addr), and the last page below the
// top of user space.
// kHintMid: 16 KiB into the reserved region, so that SHM_REMAP there cuts a larger attachment
// at its start into two pieces.
enum class Addr : uint8_t { kNull, kHint, kHintOdd, kMapped, kLow, kTop, kHintMid };

// shmdt's address, relative to attachment `semnum` (mod the number of attachments): its
// start, start + 1, start + 4096, or an address never attached (the runner's data), NULL.
enum class DtAddr : uint8_t { kStart, kPlusOne, kInside, kNotAttached, kNull };

enum class Type : uint8_t {
  kOwnerCreate,  // the owner creates the slot's object (IPC_CREAT|IPC_EXCL, mode, nsems)
  kOwnerRemove,  // the owner removes the slot's object by key
  kGet,          // the caller's msgget/semget of the slot's key
  kMsgSnd,
  kMsgRcv,
  kMsgCtl,
  kSemOp,  // semop or semtimedop
  kSemCtl,
  kSetUser,    // the caller's effective ids become nobody's (a = 1) or root's (a = 0)
  kUndoChild,  // a child makes one semop with SEM_UNDO and exits; the caller reads the value
  kShmAt,      // shmat(slot's id, addr, flags); a success is remembered as an attachment
  kShmDt,      // shmdt of an attachment (dt) or of another address
  kShmCtl,     // shmctl(cmd)
  kShmAccess,  // reads (a = offset, b = length) or writes (flags = 1) attachment semnum
  kOwnerWrite, // the owner attaches the slot's segment, writes b bytes at a, detaches
};

struct Step {
  Type type = Type::kGet;
  int slot = 0;
  IdRef id = IdRef::kSlot;
  Ptr ptr = Ptr::kValid;
  Partner partner = Partner::kNone;
  Timeout timeout = Timeout::kNoTimeout;
  int flags = 0;
  int cmd = 0;
  int semnum = 0;
  int64_t a = 0;  // msgsnd/msgrcv size, semget nsems, shmget size, SETVAL value, create mode
  int64_t b = 0;  // mtype / msgtyp, create nsems or size
  Addr addr = Addr::kNull;
  DtAddr dt = DtAddr::kStart;
  // IPC_SET fields.
  uint32_t uid = 0, gid = 0, mode = 0;
  uint64_t qbytes = 0;
  // semop: the operations (nsops may exceed sops.size(): the rest repeats {0, 0, IPC_NOWAIT}).
  std::vector<sembuf> sops;
  int64_t nsops = 0;
  // SETALL: the values (the array handed over has 300 entries; the rest are 1).
  std::vector<uint16_t> vals;
};

using Script = std::vector<Step>;

// The script number n of seed (deterministic: the same pair always gives the same script).
Script generate(uint64_t seed, uint64_t n);

// Short scripts, written by hand, of differences the fuzzer once found (each now fixed):
// run by "difffuzz run --regressions", whatever the generator becomes.
struct Regression {
  const char* what;
  Script script;
};
std::vector<Regression> regressions();

// One line, without ids or addresses: "msgsnd(q0 size=8192 type=1 NOWAIT ptr=valid)".
std::string describe(const Step& s);

}  // namespace difffuzz
