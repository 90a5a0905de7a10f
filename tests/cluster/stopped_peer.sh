#!/usr/bin/env bash
# stopped_peer: a blocked remote msgrcv against the heartbeat time-out.
# node3 blocks in msgrcv on a queue node2 owns; node2's dipcd is then stopped (SIGSTOP:
# its socket stays open, it just says nothing more). node3 hears no heartbeat for the peer
# time-out, declares node2 dead, and the blocked call returns EIDRM (docs/errors.md); a
# later call on the same id gets EINVAL, as after a removal.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 3 --heartbeat-ms 200 --peer-timeout-ms 1500
expect_eq "$(on node2 "$MW" mkq 9901 0666)" OK "queue created on node2"
ID3=$(on node3 "$MW" id 9901)
running() { calls_running node2; }
bg_on node3 "$MW" recv 9901 1 30
R=$BG_PID
R_OUT=$BG_OUT
wait_for '[[ $(running) == 1 ]]' 10 || fail "node3's msgrcv never waited at node2"
pid2=$(cat "$DIR/node2/dipcd.pid")
t0=$(now_ms)
kill -STOP "$pid2"
bg_wait "$R" 15 || true
t1=$(now_ms)
kill -CONT "$pid2"
expect_eq "$(cat "$R_OUT")" EIDRM "blocked msgrcv when the owner stops answering"
log "EIDRM after $((t1 - t0)) ms (peer time-out 1500 ms)"
((t1 - t0 >= 1400)) || fail "declared dead before the peer time-out ($((t1 - t0)) ms)"
((t1 - t0 < 6000)) || fail "took $((t1 - t0)) ms to notice a silent owner"
expect_eq "$(on node3 "$MW" nbrecv "id:$ID3" 1)" EINVAL "a later msgrcv on the same id"
log "ok"
