#!/usr/bin/env bash
# shm_examples: the shared-memory examples across three nodes. shm_counter: node1, node2
# and node3 each add 200 under one distributed semaphore: exactly 600. matmul: a 96 x 96
# product whose rows are computed by workers on three nodes in one segment (owned by
# node1) equals the product computed by one process; the same on plain Linux first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

MM=$EXAMPLES/matmul
SC=$EXAMPLES/shm_counter
# shellcheck disable=SC2016  # expanded by the inner bash
ref=$(plain bash -c '"$1" init 96 && for w in 0 1 2; do "$1" work $w 3; done && "$1" check 3' \
  bash "$MM") || fail "matmul on plain Linux: $ref"
[[ $ref == "OK 96 x 96, 3 workers"* ]] || fail "matmul on plain Linux: $ref"

cluster_up 3
for n in node1 node2 node3; do dsm_debug $n; done
on node1 "$SC" init || fail "shm_counter init"
for n in node2 node3; do
  wait_for "on $n '$SC' result" 10 || fail "shm_counter objects not found on $n"
done
declare -A P
for n in node1 node2 node3; do
  bg_on_t 90 $n "$SC" run 200
  P[$n]=$BG_PID
done
for n in node1 node2 node3; do bg_wait "${P[$n]}" 90 || fail "shm_counter run on $n failed"; done
expect_eq "$(on node2 "$SC" result)" 600 "shm_counter after 3 x 200"
on node1 "$SC" rm || fail "shm_counter rm"

on node1 "$MM" init 96 || fail "matmul init"
for n in node2 node3; do
  wait_for "on $n '$SHM' get 61 0 | grep -qx OK" 10 || fail "matmul segment not found on $n"
done
w=0
for n in node1 node2 node3; do
  bg_on_t 90 $n "$MM" work $w 3
  P[$n]=$BG_PID
  w=$((w + 1))
done
for n in node1 node2 node3; do bg_wait "${P[$n]}" 90 || fail "matmul worker on $n failed"; done
out=$(on node2 "$MM" check 3)
log "$out"
[[ $out == "OK 96 x 96, 3 workers"* ]] || fail "matmul across three nodes: $out"
on node1 "$MM" rm || fail "matmul rm"
