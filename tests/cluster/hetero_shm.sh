#!/usr/bin/env bash
# hetero_shm: distributed shared memory in a mixed cluster, as far as qemu-user allows.
#
# qemu-user implements neither the userfaultfd system call nor the ioctls of
# /dev/userfaultfd (both ENOSYS), and DSM is built on them (docs/design.md), so the s390x
# node emulated here cannot hold pages: its dipcd says why at start, and shmget with
# IPC_DIPC there fails with ENOSYS, as on any node without a usable userfaultfd
# (docs/errors.md, docs/hetero.md). A real s390x machine has userfaultfd and takes part.
# What this checks:
#   - node2 (s390x) logs that distributed shared memory is unavailable, naming userfaultfd;
#   - on node2 shmget(IPC_DIPC) of a new key and of a key another node made: ENOSYS, and
#     the segment made on node1 stays usable by the others;
#   - the message and semaphore paths of node2 still work meanwhile (a queue round trip);
#   - an array of 32-bit integers stored big-endian (the program converts) on x86-64 node1
#     is read back on x86-64 node3 with every value right, and its raw words read swapped
#     there: memory travels as the bytes written, never converted.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=heterolib.sh
source "$(dirname "${BASH_SOURCE[0]}")/heterolib.sh"
need_cross
[[ -x "$PROGS/shmints" && -x "$XPROGS/shmints" ]] || fail "shmints is not built"

cluster_up_mixed 3 node2

grep -q 'distributed shared memory is unavailable: .*userfaultfd.*Function not implemented' \
  "$DIR/node2/dipcd.log" || fail "node2's log does not say why DSM is unavailable: $(tail -5 "$DIR/node2/dipcd.log")"

S=0x6901
N=3000 # 12000 bytes: three pages
expect_eq "$(on node2 "$XPROGS/shmints" mk 0x6902 $N)" "shmget ENOSYS" "shmget(IPC_DIPC) of a new key on s390x"
expect_eq "$(on node1 "$PROGS/shmints" mk $S $N)" OK "segment $S made on node1"
expect_eq "$(on node2 "$XPROGS/shmints" read $S $N)" "shmget ENOSYS" "shmget(IPC_DIPC) of node1's key on s390x"

expect_eq "$(on node1 "$PROGS/shmints" write $S $N)" "WROTE $N" "big-endian words written on node1"
sum=$(python3 -c "print(sum((i * 2654435761 + 7) % 2**32 for i in range($N)) % 2**32)")
expect_eq "$(on node3 "$PROGS/shmints" read $S $N)" "OK $N $sum" "words read with ntohl on node3"
# Word 1 is 2654435768 = 0x9e3779b8, stored big-endian: read raw on little-endian x86-64
# it is 0xb879379e.
expect_eq "$(on node3 "$PROGS/shmints" raw $S)" b879379e "raw word 1 on node3 (bytes as written)"

q=0x6903
expect_eq "$(on node2 "$XPROGS/msgwait" mkq $q 0666)" OK "queue made on node2 meanwhile"
expect_eq "$(on node3 "$PROGS/msgwait" send $q 7 seven)" OK "sent to node2's queue from node3"
expect_eq "$(on node2 "$XPROGS/msgwait" nbrecv $q 7)" "RECV 7 seven" "received on node2"
expect_eq "$(on node1 "$PROGS/shmints" rm $S)" OK "segment removed"
