#!/usr/bin/env bash
# faults: links can be delayed, stalled and cut through dipcd's fault-injection interface
# ([debug] fault_injection, `dipc fault`), which the other scenarios use instead of sleeps.
#  - delay: frames to a peer leave late but in order; calls still complete.
#  - stall: nothing crosses (a partition, not a closed socket): both ends declare each
#    other dead after the peer time-out, and the stalled node's placeholders go.
#  - cut: the link closes now and the peer is declared dead at once.
#  - only root may inject, and only on a node whose configuration allows it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 3 --set debug.fault_injection=true --heartbeat-ms 200 --peer-timeout-ms 1500
expect_eq "$(on node2 "$MW" mkq 9951 0666)" OK "queue created on node2"
ID3=$(on node3 "$MW" id 9951)

# Who may inject.
out=$(on node3 "${NOBODY[@]}" "$DIPC" fault node2 stall 2>&1) && fail "nobody injected a fault"
grep -q "needs root" <<<"$out" || fail "refusal for nobody does not say why: $out"
out=$(on node3 "$DIPC" fault node9 stall 2>&1) && fail "a fault on a link that does not exist"
grep -q "no link to node9" <<<"$out" || fail "unexpected answer: $out"

# delay: 300 ms on node3's frames to node2; messages keep their order.
on node3 "$DIPC" fault node2 delay 300
t0=$(now_ms)
for i in 1 2 3; do expect_eq "$(on node3 "$MW" send 9951 1 "m$i")" OK "delayed msgsnd $i"; done
t1=$(now_ms)
((t1 - t0 >= 900)) || fail "three delayed calls took only $((t1 - t0)) ms"
on node3 "$DIPC" fault node2 clear
for i in 1 2 3; do expect_eq "$(on node2 "$MW" nbrecv 9951 1)" "RECV 1 m$i" "message $i in order"; done

# stall: node3 and node2 stop hearing each other; both declare the other dead.
on node3 "$DIPC" fault node2 stall
wait_for '! on node2 "$DIPC" status | grep -q "^  node3 "' 10 || fail "node2 still has a link to node3"
wait_for '! on node3 "$DIPC" status | grep -q "^  node2 "' 10 || fail "node3 still has a link to node2"
expect_eq "$(on node3 "$MW" nbrecv "id:$ID3" 1)" EINVAL "node3's call on node2's queue after the partition"
grep -q "node node2 declared dead" "$DIR/node3/dipcd.log" || fail "node3 did not declare node2 dead"

# cut: node1 cuts node2; node2 is dead for node1 at once, and node1's placeholder goes.
ID1=$(on node1 "$MW" id 9951)
on node1 "$DIPC" fault node2 cut
wait_for 'grep -q "node node2 declared dead (cut by fault injection)" "$DIR/node1/dipcd.log"' 5 ||
  fail "node1 did not declare node2 dead after the cut"
expect_eq "$(on node1 "$MW" nbrecv "id:$ID1" 1)" EINVAL "node1's call after the cut"
log "ok"
