#!/usr/bin/env bash
# shm_turns: strict consistency with no lock at all. Two processes take turns through one
# distributed page: each waits until word 1 names it, adds 1 to word 0 and hands the turn
# over. A stale read on either side deadlocks (the test times out) or loses an increment.
# Run with the segment's owner taking part (node1 owns, node2 plays) and with two holders
# (node2 and node3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

N=300
cluster_up 3
for n in node1 node2 node3; do dsm_debug $n; done
k=0x7301
for pair in "node1 node2" "node2 node3"; do
  read -r a b <<<"$pair"
  shm_mk node1 $k 4096
  bg_on_t 60 "$a" "$SHM" turns $k 0 $N
  pa=$BG_PID oa=$BG_OUT
  bg_on_t 60 "$b" "$SHM" turns $k 1 $N
  pb=$BG_PID ob=$BG_OUT
  bg_wait "$pa" 60 || fail "turns on $a failed: $(cat "$oa")"
  bg_wait "$pb" 60 || fail "turns on $b failed: $(cat "$ob")"
  expect_eq "$(cat "$oa") $(cat "$ob")" "DONE $N DONE $N" "both players ($a, $b)"
  expect_eq "$(on node3 "$SHM" peek $k 0)" $((2 * N)) "count after $a and $b took turns"
  k=$((k + 1))
done
