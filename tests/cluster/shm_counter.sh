#!/usr/bin/env bash
# shm_counter: three nodes add to one counter in a distributed segment under a distributed
# semaphore (owned by node1; the segment by node2), 300 times each: read, yield, write, as
# a racy program would. The total must be exact. The same on plain Linux first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

N=300
# shellcheck disable=SC2016  # expanded by the inner bash
ref=$(plain bash -c '"$1" mk 0x7402 1 1 >/dev/null && "$2" mk 0x7401 4096 >/dev/null || exit 1
  for i in 1 2 3; do "$2" add 0x7401 0x7402 '$N' >/dev/null & done; wait; "$2" peek 0x7401 0' \
  bash "$ST" "$SHM") || fail "reference run failed: $ref"
expect_eq "$ref" $((3 * N)) "reference count on plain Linux"

cluster_up 3
for n in node1 node2 node3; do dsm_debug $n; done
expect_eq "$(on node1 "$ST" mk 0x7402 1 1)" OK "semaphore on node1"
shm_mk node2 0x7401 4096
declare -A P O
t0=$(now_ms)
for n in node1 node2 node3; do
  bg_on_t 120 "$n" "$SHM" add 0x7401 0x7402 $N
  P[$n]=$BG_PID O[$n]=$BG_OUT
done
for n in node1 node2 node3; do
  bg_wait "${P[$n]}" 120 || fail "adder on $n failed: $(cat "${O[$n]}")"
  expect_eq "$(cat "${O[$n]}")" "DONE $N" "adder on $n"
done
log "3 x $N increments in $(($(now_ms) - t0)) ms"
for n in node1 node2 node3; do
  expect_eq "$(on $n "$SHM" peek 0x7401 0)" $((3 * N)) "counter read on $n"
done
