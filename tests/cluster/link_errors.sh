#!/usr/bin/env bash
# link_errors: the two errnos DIPC adds for links (docs/errors.md).
#  - ECOMM, outcome unknown: a process on node2 is blocked in a remote msgrcv when its own
#    node's dipcd is killed: the call returns -1 ECOMM.
#  - ENOLINK, nothing sent: after that, calls on the same distributed id on node2 fail with
#    ENOLINK (no dipcd to carry them), and the queue at the owner is untouched (a message
#    sent on node1 is still there for a receiver on node1).
#  - ENOLINK, owner unreachable: with --netns, node3's link is cut (its veth down) and
#    node2, which has no link to node3 yet, calls msgget on a key node3 owns before node3
#    is declared dead: the hello can not be exchanged, and the call fails with ENOLINK.
#  - EIDRM, owner lost with the call in flight: node1 (the referee) already has its one
#    link with node3, so its msgget leaves on that link; when node3 is declared dead (peer
#    time-out) the call fails with EIDRM.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2
K=9301
expect_eq "$(on node1 "$MW" mkq $K 0666)" OK "queue $K created on node1"
bg_on node2 "$MW" recv $K 1 25 "$SCRATCH/ecomm.pid"
RECV=$BG_PID
RECV_OUT=$BG_OUT
await_pid "$SCRATCH/ecomm.pid"
sleep 0.5
bg_running "$RECV" || fail "receiver ended early: $(cat "$RECV_OUT")"
kill -9 "$(cat "$DIR/node2/dipcd.pid")"
rc=0
bg_wait "$RECV" 10 || rc=$?
expect_eq "$(cat "$RECV_OUT")" ECOMM "blocked remote msgrcv when the local dipcd dies"

ID=$(on node1 "$MW" id $K)
expect_eq "$(on node1 "$MW" send $K 1 kept)" OK "msgsnd on the owner"
# node2's shim still knows the id is remote, but has no dipcd to carry the call.
ID2=$(on node2 "$MW" id $K)
expect_eq "$(on node2 "$MW" send "id:$ID2" 1 lost)" ENOLINK "msgsnd on node2 without its dipcd"
expect_eq "$(on node1 "$MW" count "id:$ID")" 1 "messages at the owner (nothing from node2)"
expect_eq "$(on node1 "$MW" nbrecv $K 1)" "RECV 1 kept" "the owner's message is intact"

log "owner unreachable: cut node3's link in a --netns cluster"
cluster_up 3 --netns --heartbeat-ms 200 --peer-timeout-ms 3000
K=9302
expect_eq "$(on node3 "$MW" mkq $K 0666)" OK "queue $K created on node3"
# node3's end of its veth: the only non-loopback link in its namespace.
dev=$(on node3 ip -o link show | awk -F': ' '$2 != "lo" {sub(/@.*/, "", $2); print $2; exit}')
[[ -n "$dev" ]] || fail "no network device in node3's namespace"
on node3 ip link set "$dev" down
t0=$(now_ms)
bg_on node1 "$MW" get $K
REF=$BG_PID
REF_OUT=$BG_OUT
r=$(on node2 "$MW" get $K)
t1=$(now_ms)
expect_eq "$r" ENOLINK "msgget on node2 of a key owned by unreachable node3"
((t1 - t0 < 8000)) || fail "msgget took $((t1 - t0)) ms to fail"
bg_wait "$REF" 10 || true
expect_eq "$(cat "$REF_OUT")" EIDRM "msgget on node1, in flight on its link to node3, when node3 is declared dead"
t1=$(now_ms)
((t1 - t0 < 8000)) || fail "node1's msgget took $((t1 - t0)) ms to fail"
