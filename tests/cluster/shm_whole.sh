#!/usr/bin/env bash
# shm_whole: a node whose processes attach whole segments ([dsm] attach = "whole", what a
# node without a usable userfaultfd does, such as an emulated s390x node: docs/hetero.md).
# node2 attaches that way; node1 and node3 fault page by page. What this checks:
#   - node2's status says "attach whole";
#   - values written on node1 are read on node2, values written on node2 are read on node1
#     and node3, for a segment node1 owns and for one node2 owns;
#   - a page node3's live process holds for writing is taken back for node2's attach, and
#     node3's process sees node2's value afterwards;
#   - while node2 holds the segment, a store on node1 waits (its fault is counted at node1)
#     and goes through once node2 detaches; node2 read its own view meanwhile;
#   - held longer than peer_timeout, the other node's access raises SIGBUS there, and works
#     again once node2 detached; the owner's own store that gives up so (node2 holding the
#     page read-only) loses nothing: node1 still reads its page, and so does node3 once
#     node2 let go; nor does node3's store that gives up so: node3 keeps its copy, and the
#     write access that comes for it later, without data, leaves every node reading it;
#   - a forked child on node2 shares its parent's attachment; SHM_RDONLY stores raise
#     SIGSEGV; shm_nattch counts node2's attachment; IPC_RMID waits for its detach.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

# write_faults NODE: the write faults counted on NODE's "dsm:" status line.
write_faults() {
  on "$1" "$DIPC" status | sed -nE 's/^dsm:.*faults [0-9]+ read ([0-9]+) write.*/\1/p'
}
# attach_bg NODE FILE: a process on NODE attaches segment $K and holds it (shmtool attwait)
# until FILE is removed; its pid and output file in ATT_PID, ATT_OUT.
attach_bg() {
  bg_on "$1" "$SHM" "${ATTWAIT:-attwait}" $K "$2"
  ATT_PID=$BG_PID ATT_OUT=$BG_OUT
  wait_for "[[ -e '$2' ]]" 15 || fail "$1 did not attach"
}
# release NODE FILE VALUE WHAT: removes FILE and expects the attachment's word 0 to be VALUE.
release() {
  rm -f "$2"
  bg_wait $ATT_PID 15 || fail "$1's attwait failed: $(cat "$ATT_OUT")"
  expect_eq "$(cat "$ATT_OUT")" "$3" "$4"
}

cluster_up 3
dsm_config node2 attach '"whole"'
for n in node1 node2 node3; do dsm_debug $n; done
on node2 "$DIPC" status | grep -q '^dsm:.*attach whole' ||
  fail "node2's status does not say attach whole: $(on node2 "$DIPC" status | grep '^dsm:')"
on node1 "$DIPC" status | grep -q '^dsm:.*attach fault' || fail "node1 does not attach by faults"

K=0x7a01
shm_mk node1 $K 16384
expect_eq "$(on node1 "$SHM" put $K 0 11)" OK "stored on node1 (owner)"
expect_eq "$(on node2 "$SHM" peek $K 0)" 11 "read on node2 (whole)"
expect_eq "$(on node2 "$SHM" put $K 8 22)" OK "stored on node2 (whole)"
expect_eq "$(on node3 "$SHM" peek $K 8)" 22 "node2's value read on node3"
expect_eq "$(on node1 "$SHM" peek $K 8)" 22 "node2's value read on node1"

# A live writer on node3 gives its page up to node2's attach, and sees node2's store.
f3=$SCRATCH/hold3
attach_bg node3 "$f3"
expect_eq "$(on node3 "$SHM" put $K 0 33)" OK "node3 holds page 0 for writing"
expect_eq "$(on node2 "$SHM" put $K 0 34)" OK "node2 took page 0 over"
release node3 "$f3" 34 "node3's live attachment reads node2's value"

# node2 holds the whole segment: a store on node1 waits for it.
f2=$SCRATCH/hold2
attach_bg node2 "$f2"
expect_eq "$(on node1 "$SHM" stat $K)" "nattch=1 dest=0 size=16384" "node2's attachment counted at the owner"
w0=$(write_faults node1)
bg_on node1 "$SHM" put $K 0 55
p1=$BG_PID o1=$BG_OUT
wait_for "(( \$(write_faults node1) > $w0 ))" 10 || fail "node1's store did not fault"
bg_running $p1 || fail "node1's store went through while node2 held the segment: $(cat "$o1")"
release node2 "$f2" 34 "node2 read its own view while holding"
bg_wait $p1 15 || fail "node1's store failed: $(cat "$o1")"
expect_eq "$(cat "$o1")" OK "node1's store went through after node2 detached"
expect_eq "$(on node2 "$SHM" peek $K 0)" 55 "node1's store read on node2"

# Held longer than peer_timeout (2 s here): the access elsewhere raises SIGBUS, and only
# for that wait.
attach_bg node2 "$f2"
t0=$(now_ms)
expect_eq "$(on node3 "$SHM" peek $K 0)" SIGBUS "node3's read while node2 holds past peer_timeout"
log "node3's read gave up after $(($(now_ms) - t0)) ms"
release node2 "$f2" 55 "node2's held view"
wait_for "[[ \$(on node3 '$SHM' peek $K 0) == 55 ]]" 10 || fail "node3 cannot read page 0 after node2 let go"

# node2 holds the segment read-only past peer_timeout: the owner's store gives up (SIGBUS
# in that process); the owner's copy of the page is not lost with it.
ATTWAIT=attwaitro attach_bg node2 "$f2"
expect_eq "$(on node1 "$SHM" store $K 0 57)" SIGBUS "node1's store while node2 holds read-only past peer_timeout"
expect_eq "$(on node1 "$SHM" peek $K 0)" 55 "node1 reads its page after its store gave up"
release node2 "$f2" 55 "node2's read-only view"
expect_eq "$(on node3 "$SHM" peek $K 0)" 55 "node3 reads the owner's page once node2 let go"
expect_eq "$(on node1 "$SHM" store $K 0 55)" OK "node1's store once node2 let go"

# The same on another node: node3 reads page 0, then its store waits for node2 (holding
# read-only) past peer_timeout and gives up (SIGBUS). node3's copy is not lost with it: it
# still reads the page, and once node2 lets go the write access it asked for comes, late
# and without data, over that copy: every node then reads 55, not a page of zeros.
expect_eq "$(on node3 "$SHM" peek $K 0)" 55 "node3 reads page 0 before its store"
ATTWAIT=attwaitro attach_bg node2 "$f2"
expect_eq "$(on node3 "$SHM" store $K 0 58)" SIGBUS "node3's store while node2 holds read-only past peer_timeout"
expect_eq "$(on node3 "$SHM" peek $K 0)" 55 "node3 reads its page after its store gave up"
release node2 "$f2" 55 "node2's read-only view"
wait_for "[[ \$(on node1 '$SHM' peek $K 0) == 55 ]]" 10 ||
  fail "node1 reads $(on node1 "$SHM" peek $K 0) at page 0 once node3's late write access came, not 55"
expect_eq "$(on node2 "$SHM" peek $K 0)" 55 "node2 reads page 0 after node3's late write access"
expect_eq "$(on node3 "$SHM" store $K 0 55)" OK "node3's store once node2 let go"

# fork, SHM_RDONLY.
expect_eq "$(on node1 "$SHM" put $K 4096 70)" OK "stored on node1 at page 1"
expect_eq "$(on node2 "$SHM" fork $K 4096)" 71 "a forked child on node2 reads and writes its parent's attachment"
expect_eq "$(on node1 "$SHM" peek $K 4104)" 71 "the child's store read on node1"
expect_eq "$(on node2 "$SHM" peekro $K 4104)" 71 "read through SHM_RDONLY on node2"
expect_eq "$(on node2 "$SHM" storero $K 0)" SIGSEGV "a store through SHM_RDONLY on node2"

# A segment owned by the whole node itself.
K2=0x7a02
shm_mk node2 $K2 8192
expect_eq "$(on node1 "$SHM" put $K2 0 5)" OK "stored on node1 into node2's segment"
expect_eq "$(on node2 "$SHM" peek $K2 0)" 5 "read on node2, its owner"
expect_eq "$(on node2 "$SHM" put $K2 4096 6)" OK "stored on node2, its owner"
expect_eq "$(on node3 "$SHM" peek $K2 4096)" 6 "node2's store read on node3"

# IPC_RMID while node2 is attached: the segment lives until it detaches.
attach_bg node2 "$f2"
expect_eq "$(on node1 "$SHM" rmid $K)" OK "IPC_RMID on node1 with node2 attached"
expect_eq "$(on node1 "$SHM" get $K 0)" ENOENT "the key is free at once"
release node2 "$f2" 55 "node2 still read the removed segment"
expect_eq "$(on node2 "$SHM" rmid $K2)" OK "IPC_RMID of node2's segment"
wait_for "ls_absent node1 shm $((K)) && ls_absent node1 shm $((K2))" 10 || fail "segments still listed"
log "ok"
