#!/usr/bin/env bash
# shm_seq: one writer (node2) publishes increasing sequence numbers in every word of a page
# of a segment owned by node1; readers on node1 and node3 read it all along. No reader may
# ever see a word go back in time, nor a page whose words are not ordered as the writer
# stores them (a torn page); and each must see the last value.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

N=2000
cluster_up 3
for n in node1 node2 node3; do dsm_debug $n; done
K=0x7601
shm_mk node1 $K 4096
bg_on_t 90 node1 "$SHM" seqread $K $N
r1=$BG_PID o1=$BG_OUT
bg_on_t 90 node3 "$SHM" seqread $K $N
r3=$BG_PID o3=$BG_OUT
bg_on_t 90 node2 "$SHM" seqwrite $K $N 300
w=$BG_PID ow=$BG_OUT
bg_wait $w 90 || fail "writer failed: $(cat "$ow")"
expect_eq "$(cat "$ow")" "DONE $N" "writer on node2"
bg_wait $r1 90 || fail "reader on node1: $(cat "$o1")"
bg_wait $r3 90 || fail "reader on node3: $(cat "$o3")"
expect_eq "$(cat "$o1") $(cat "$o3")" "OK many OK many" "readers on node1 and node3"
expect_eq "$(on node3 "$SHM" peek $K 4088)" $N "last word after the writer ended"
