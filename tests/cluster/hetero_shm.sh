#!/usr/bin/env bash
# hetero_shm: distributed shared memory in a mixed cluster, as far as qemu-user allows.
#
# qemu-user implements neither the userfaultfd system call nor the ioctls of
# /dev/userfaultfd (both ENOSYS), and attaching a distributed segment is built on them
# (docs/design.md). So the s390x node emulated here runs DSM without local attachments: it
# owns segments and serves their pages to the other nodes, but shmat of a distributed
# segment there fails with ENOSYS (docs/hetero.md, docs/errors.md). A real s390x machine
# has userfaultfd and attaches like any node. What this checks:
#   - node2 (s390x) logs that its processes can't attach, naming userfaultfd;
#   - a segment created by an s390x program on node2 is owned by node2; shmat there fails
#     with ENOSYS, for its own segment and for one another node owns;
#   - an array of 32-bit integers stored big-endian (the program converts) on x86-64 node1
#     into node2's segment, whose pages node2's big-endian dipcd holds and serves, is read
#     back on x86-64 node3 with every value right, and its raw words read swapped there:
#     memory travels as the bytes written, never converted;
#   - the same through a segment owned by x86-64 node1, and node2's queues still work.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=heterolib.sh
source "$(dirname "${BASH_SOURCE[0]}")/heterolib.sh"
need_cross
[[ -x "$PROGS/shmints" && -x "$XPROGS/shmints" ]] || fail "shmints is not built"

cluster_up_mixed 3 node2

grep -q 'distributed shared memory without attaching here: .*userfaultfd.*Function not implemented' \
  "$DIR/node2/dipcd.log" || fail "node2's log does not say why it can't attach: $(tail -5 "$DIR/node2/dipcd.log")"

N=3000 # 12000 bytes: three pages
sum=$(python3 -c "print(sum((i * 2654435761 + 7) % 2**32 for i in range($N)) % 2**32)")
# Word 1 is 2654435768 = 0x9e3779b8, stored big-endian: read raw on little-endian x86-64
# it is 0xb879379e.
ints_between() {
  local seg=$1 owner=$2
  expect_eq "$(ls_owner "$(ls_lines node3 shm $((seg)))")" "$owner" "owner of segment $seg"
  expect_eq "$(on node2 "$XPROGS/shmints" write $seg $N)" "shmat ENOSYS" "shmat on s390x node2 of $owner's segment"
  expect_eq "$(on node1 "$PROGS/shmints" write $seg $N)" "WROTE $N" "big-endian words written on node1 into $owner's segment"
  expect_eq "$(on node3 "$PROGS/shmints" read $seg $N)" "OK $N $sum" "words read with ntohl on node3 from $owner's segment"
  expect_eq "$(on node3 "$PROGS/shmints" raw $seg)" b879379e "raw word 1 on node3 (bytes as written)"
}
S2=0x6902
expect_eq "$(on node2 "$XPROGS/shmints" mk $S2 $N)" OK "segment $S2 made by an s390x program on node2"
ints_between $S2 node2
S1=0x6901
expect_eq "$(on node1 "$PROGS/shmints" mk $S1 $N)" OK "segment $S1 made on node1"
ints_between $S1 node1

q=0x6903
expect_eq "$(on node2 "$XPROGS/msgwait" mkq $q 0666)" OK "queue made on node2 meanwhile"
expect_eq "$(on node3 "$PROGS/msgwait" send $q 7 seven)" OK "sent to node2's queue from node3"
expect_eq "$(on node2 "$XPROGS/msgwait" nbrecv $q 7)" "RECV 7 seven" "received on node2"
expect_eq "$(on node2 "$XPROGS/shmints" rm $S2)" OK "segment $S2 removed on node2, its owner"
expect_eq "$(on node1 "$PROGS/shmints" rm $S1)" OK "segment $S1 removed on node1, its owner"
wait_for "ls_absent node3 shm $((S2)) && ls_absent node3 shm $((S1))" 10 || fail "segments still listed"
