#!/usr/bin/env bash
# hetero_shm: distributed shared memory in a mixed cluster, with an emulated s390x node.
#
# qemu-user implements neither the userfaultfd system call nor the ioctls of
# /dev/userfaultfd (both ENOSYS), on which page-by-page attaching is built (docs/design.md).
# So the s390x node emulated here attaches whole segments, as [dsm] attach = "whole" does:
# its dipcd takes every page at shmat and holds it until shmdt (docs/hetero.md). What this
# checks:
#   - node2 (s390x) logs that it attaches whole segments, naming userfaultfd, and its status
#     says "attach whole";
#   - an array of 32-bit integers stored big-endian (the programs convert: htonl/ntohl) by an
#     s390x program on node2 is read on x86-64 node3 with every value right, and its raw
#     words read swapped there: memory travels as the bytes written, never converted;
#   - the other way: written on x86-64 node1, read by an s390x program on node2, whose raw
#     word 1 reads unswapped there;
#   - both through a segment node2 (big-endian dipcd) owns and one x86-64 node1 owns; node2's
#     queues still work.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=heterolib.sh
source "$(dirname "${BASH_SOURCE[0]}")/heterolib.sh"
need_cross
[[ -x "$PROGS/shmints" && -x "$XPROGS/shmints" ]] || fail "shmints is not built"

cluster_up_mixed 3 node2

grep -q 'distributed shared memory without userfaultfd here: .*userfaultfd.*Function not implemented.*attach whole segments' \
  "$DIR/node2/dipcd.log" || fail "node2's log does not say how it attaches: $(tail -5 "$DIR/node2/dipcd.log")"
on node2 "$DIPC" status | grep -q '^dsm:.*attach whole' ||
  fail "node2's status does not say attach whole: $(on node2 "$DIPC" status | grep '^dsm:')"

N=3000 # 12000 bytes: three pages
sum=$(python3 -c "print(sum((i * 2654435761 + 7) % 2**32 for i in range($N)) % 2**32)")
# Word 1 is 2654435768 = 0x9e3779b8, stored big-endian: read raw on little-endian x86-64
# it is 0xb879379e, on big-endian s390x 0x9e3779b8.
ints_between() {
  local seg=$1 owner=$2
  expect_eq "$(ls_owner "$(ls_lines node3 shm $((seg)))")" "$owner" "owner of segment $seg"
  expect_eq "$(on node2 "$XPROGS/shmints" write $seg $N)" "WROTE $N" "words written on s390x node2 into $owner's segment"
  expect_eq "$(on node3 "$PROGS/shmints" read $seg $N)" "OK $N $sum" "words read with ntohl on x86-64 node3 from $owner's segment"
  expect_eq "$(on node3 "$PROGS/shmints" raw $seg)" b879379e "raw word 1 on node3 (bytes as written)"
  expect_eq "$(on node1 "$PROGS/shmints" zero $seg $N)" "ZEROED $N" "the words cleared on node1"
  expect_eq "$(on node1 "$PROGS/shmints" write $seg $N)" "WROTE $N" "words written on x86-64 node1 into $owner's segment"
  expect_eq "$(on node2 "$XPROGS/shmints" read $seg $N)" "OK $N $sum" "words read with ntohl on s390x node2 from $owner's segment"
  expect_eq "$(on node2 "$XPROGS/shmints" raw $seg)" 9e3779b8 "raw word 1 on node2 (bytes as written)"
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
