#!/usr/bin/env bash
# sem_prodcons: producers and a consumer on different nodes, synchronised by counting
# semaphores. A set of two semaphores owned by node1: "empty" (sem 0, SLOTS free slots) and
# "full" (sem 1, 0); the buffer is a distributed message queue owned by node3. Producers on
# node2 and node3 each send 150 items with unique names (P(empty); msgsnd; V(full)); the
# consumer on node1 takes 300 (P(full); msgrcv with IPC_NOWAIT: a full slot holds an item;
# V(empty)). Every item arrives exactly once, and at the end empty = SLOTS, full = 0 and the
# queue is empty.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=semlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"

N=150
SLOTS=5
cluster_up 3

K=0x6601 # empty, full
Q=0x6602 # the buffer
expect_eq "$(on node1 "$ST" mk $K 2 0)" OK "set $K created on node1"
expect_eq "$(on node2 "$ST" setval $K 0 $SLOTS)" OK "empty = $SLOTS (SETVAL from node2)"
expect_eq "$(on node3 "$MW" mkq $Q 0666)" OK "buffer queue $Q created on node3"
expect_eq "$(on node3 "$ST" getall $K)" "$SLOTS,0" "empty,full before the run"

t0=$(now_ms)
bg_on_t 150 node1 "$ST" consume $K $Q $((2 * N)) 140
cpid=$BG_PID
cout=$BG_OUT
declare -A PIDS OUTS
for n in node2 node3; do
  bg_on_t 150 "$n" "$ST" produce $K $Q "$n" $N 140
  PIDS[$n]=$BG_PID
  OUTS[$n]=$BG_OUT
done
for n in node2 node3; do
  rc=0
  bg_wait "${PIDS[$n]}" 150 || rc=$?
  expect_eq "$(cat "${OUTS[$n]}")" "DONE $N" "producer on $n (exit $rc)"
  expect_eq "$rc" 0 "exit status of the producer on $n"
done
rc=0
bg_wait "$cpid" 30 || rc=$?
expect_eq "$(tail -n 1 "$cout")" "DONE $((2 * N))" "consumer on node1 (exit $rc)"
expect_eq "$rc" 0 "exit status of the consumer on node1"
log "$((2 * N)) items through $SLOTS slots in $(($(now_ms) - t0)) ms"

grep -v '^DONE' "$cout" >"$SCRATCH/items"
expect_eq "$(wc -l <"$SCRATCH/items")" $((2 * N)) "items received"
dups=$(sort "$SCRATCH/items" | uniq -d | head -n 5 | tr '\n' ' ')
expect_eq "$dups" "" "items received more than once"
expect_eq "$(sort "$SCRATCH/items" | tr '\n' ' ')" \
  "$({ seq -f 'node2-%g' 1 $N; seq -f 'node3-%g' 1 $N; } | sort | tr '\n' ' ')" \
  "the set of items received"
expect_eq "$(on node2 "$ST" getall $K)" "$SLOTS,0" "empty,full at the end"
expect_eq "$(on node1 "$MW" count $Q)" 0 "items left in the buffer"
expect_eq "$(on node1 "$ST" ncnt $K 0)/$(on node1 "$ST" ncnt $K 1)" 0/0 "waiters at the end"
