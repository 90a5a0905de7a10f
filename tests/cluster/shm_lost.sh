#!/usr/bin/env bash
# shm_lost: fail-stop. node3 holds page 0 of a segment owned by node1 dirty (it wrote it last
# and keeps running); page 1 was written by node2. node3's dipcd is killed: once node1 has
# declared it dead, touching page 0 raises SIGBUS on node2 and on the owner, only in the
# process that touched it, while page 1 still reads its value everywhere.
# Then the owner dies: node3 keeps reading the page it holds, and a page it never had
# raises SIGBUS there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

cluster_up 3
for n in node1 node2 node3; do dsm_debug $n; done
K=0x7801
shm_mk node1 $K 8192
expect_eq "$(on node1 "$SHM" put $K 0 1)" OK "page 0 written on node1"
expect_eq "$(on node2 "$SHM" put $K 4096 22)" OK "page 1 written on node2"
ready=$SCRATCH/holding
bg_on_t 60 node3 "$SHM" hold $K 0 33 "$ready"
wait_for "[[ -e '$ready' ]]" 15 || fail "node3 did not write page 0"
expect_eq "$(on node2 "$SHM" peek $K 4096)" 22 "page 1 before the failure"
kill -9 "$(cat "$DIR/node3/dipcd.pid")"
wait_for "grep -q 'node node3 declared dead' '$DIR/node1/dipcd.log'" 15 ||
  fail "node1 did not declare node3 dead"
expect_eq "$(on node2 "$SHM" peek $K 0)" SIGBUS "page 0 on node2"
expect_eq "$(on node1 "$SHM" peek $K 0)" SIGBUS "page 0 on the owner"
expect_eq "$(on node2 "$SHM" pipeout $K 0)" EFAULT "write(2) from page 0 on node2"
expect_eq "$(on node2 "$SHM" pipeout $K 4096)" OK "write(2) from page 1 on node2"
expect_eq "$(on node2 "$SHM" peek $K 4096)" 22 "page 1 on node2 after the failure"
expect_eq "$(on node1 "$SHM" peek $K 4096)" 22 "page 1 on the owner after the failure"
expect_eq "$(on node1 "$SHM" put $K 4100 5)" OK "page 1 still writable"
expect_eq "$(on node2 "$SHM" peek $K 4100)" 5 "and coherent"

K2=0x7802
expect_eq "$(on node2 "$SHM" mk $K2 8192)" OK "segment $K2 made on node2"
wait_for "[[ \$(on node1 '$SHM' get $K2 0) == OK ]]" 10 || fail "segment $K2 not found on node1"
expect_eq "$(on node2 "$SHM" put $K2 0 44)" OK "page 0 written on the owner node2"
ready2=$SCRATCH/surviving
bg_on_t 60 node1 "$SHM" survive $K2 "$ready2"
ps=$BG_PID os=$BG_OUT
wait_for "[[ -e '$ready2' ]]" 15 || fail "node1 did not read page 0"
kill -9 "$(cat "$DIR/node2/dipcd.pid")"
wait_for "grep -q 'node node2 declared dead' '$DIR/node1/dipcd.log'" 15 ||
  fail "node1 did not declare node2 dead"
rm -f "$ready2"
bg_wait $ps 30 || fail "survivor on node1: $(cat "$os")"
expect_eq "$(cat "$os")" "44 SIGBUS" "after its owner died: the page held, and one never had"
