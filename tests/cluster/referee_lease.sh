#!/usr/bin/env bash
# referee_lease: the referee believes a member only about keys it may claim.
#  - A lock never committed: a hostile peer (rawsend, as node "evil", whose link stays up)
#    locks a key with a lookup IPC_CREAT and never commits. node2's msgget(IPC_CREAT) of
#    that key waits, but only until the lock's lease ends (10 s): then it creates the key.
#  - A fake owner: another hostile peer ("mallory") commits a key node2 owns, with its own
#    id; node3 still finds node2's queue and a message sent from node3 reaches node2.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RAW=$PROGS/rawsend
MW=$PROGS/msgwait
# The peer never sends heartbeats: a time-out well past the lease keeps its link up.
cluster_up 3 --no-secret --peer-timeout-ms 40000
port=$(tr -dc '0-9' <"$DIR/node1/run/dipcd.port")

hdr() { # TYPE(4 hex) LENGTH(8 hex): magic, version 1, type, request id 1, length
  printf '444950430001%s0000000000000001%s' "$1" "$2"
}
hello() { # NAME: a hello, version 1, port 0, incarnation 1
  local hex
  hex=$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')
  printf '%s0001%08x%s00000000000000000001' "$(hdr 000a "$(printf '%08x' $((16 + ${#1})))")" \
    "${#1}" "$hex"
}
reg() { # TYPE KEY(8 hex) FLAGS(8 hex) ID(8 hex): a referee record for a queue
  printf '%s01%s%s000000000000000000000000000000%s000001b60000000000000000000000000000000000000000' \
    "$(hdr "$1" 00000034)" "$2" "$3" "$4"
}

K=9601
types=$SCRATCH/evil.types
: >"$types"
RAWSEND_HOLD_MS=30000 RAWSEND_TYPES=$types "$RAW" "127.0.0.1:$port" \
  "$(hello evil)$(reg 0014 "$(printf '%08x' $K)" 000003b6 00000000)" >"$SCRATCH/evil.out" &
evil=$!
# kHelloAck (11), then the lookup's answer (kRegReply, 21): the lock is evil's.
wait_for "grep -qx 21 '$types'" 10 || fail "the hostile peer got no answer to its lookup"
t0=$(now_ms)
bg_on node2 "$MW" mkq $K 0666
# Still waiting for the lock a few seconds later (the lease has not ended).
wait_for "! bg_running $BG_PID" 4 && fail "msgget on node2 did not wait for evil's lock"
bg_wait "$BG_PID" 20 || fail "msgget on node2 failed: $(cat "$BG_OUT" "$BG_ERR")"
took=$(($(now_ms) - t0))
expect_eq "$(cat "$BG_OUT")" OK "msgget(IPC_CREAT) on node2 after evil's lock expired"
((took >= 8000 && took <= 16000)) || fail "msgget on node2 took $took ms (the lease is 10 s)"
kill -0 "$evil" 2>/dev/null || fail "the hostile peer's link ended before the lease did"
grep -q "creation lock(s) not committed within 10000 ms released" "$DIR/node1/dipcd.log" ||
  fail "node1's log does not report the expired lock"
line=$(ls_lines node3 msg $K) || fail "key $K not listed"
expect_eq "$(ls_owner "$line")" node2 "owner of key $K"

log "a fake owner commits node2's key"
id2=$(on node2 "$MW" id $K)
fake=$(reg 0016 "$(printf '%08x' $K)" 00000000 "$(printf '%08x' $((id2 + 1)))")
kill "$evil" 2>/dev/null || true
wait "$evil" 2>/dev/null || true
r=$(timeout 10 "$RAW" "127.0.0.1:$port" "$(hello mallory)$fake")
[[ "$r" == OPEN* ]] || fail "the fake owner's link: $r"
grep -q "mallory may not register msg key $K" "$DIR/node1/dipcd.log" ||
  fail "node1's log does not report the refused registration"
line=$(ls_lines node3 msg $K) || fail "key $K not listed after the fake commit"
expect_eq "$(ls_owner "$line")" node2 "owner of key $K after the fake commit"
expect_eq "$(on node3 "$MW" send $K 1 for-node2)" OK "msgsnd from node3"
expect_eq "$(on node2 "$MW" nbrecv $K 1)" "RECV 1 for-node2" "the message reached node2"
