#!/usr/bin/env bash
# wire_names: a node's claims about its caller are checked before they are used.
# An unprivileged local user connects to another node's TCP port from an allowed address,
# says hello, and asks for operations on a root-owned 0600 queue in the name of "root\0"
# (a login name with a NUL byte, which a C-string look-up once read as "root"), or tries
# to make the owner create a queue. Each such frame costs the attacker the link; the queue
# survives, nothing is created, and the cluster keeps working.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RAW=$PROGS/rawsend
MW=$PROGS/msgwait
cluster_up 2 --no-secret
port2=$(tr -dc '0-9' <"$DIR/node2/run/dipcd.port")
pid2=$(cat "$DIR/node2/dipcd.pid")

expect_eq "$(on node2 "$MW" mkq 9601 0600)" OK "root's 0600 queue created on node2"
qid=$(on node2 "$MW" id 9601)
[[ "$qid" =~ ^[0-9]+$ ]] || fail "no id for queue 9601: $qid"

hex_str() { # a u32 length and the bytes of $1 (printf escapes allowed, e.g. \000)
  local h
  h=$(printf -- "$1" | od -An -v -tx1 | tr -d ' \n')
  printf '%08x%s' $((${#h} / 2)) "$h"
}
frame() { # TYPE(4 hex) PAYLOAD(hex)
  printf '444950430001%s0000000000000001%08x%s' "$1" $((${#2} / 2)) "$2"
}
op() { # KIND OP ID KEY FLAGS ARG1 USER: one kOp frame
  local p
  p=$(printf '%02x%02x%08x%08x%08x%016x%016x%016x' "$1" "$2" "$3" "$4" "$5" "$6" 0 0)
  p+="$(hex_str "$7")00000001""00000000"
  frame 0001 "$p"
}
attack() { # each from a node name of its own, so that no refusal of a duplicate interferes
  timeout 10 "${NOBODY[@]}" "$RAW" "127.0.0.1:$port2" "$(frame 000a "0001$(hex_str "evil$BASHPID")00000000000000000001")$1"
}

# Each refusal drops the link at once: the attacker gets the hello answer (42 bytes) and
# nothing else (a link kept open would be closed only by the heartbeat time-out, later).
# msgctl(IPC_RMID) as "root\0": the link is dropped before any look-up.
r=$(attack "$(op 1 4 "$qid" 0 0 0 'root\000')")
expect_eq "$r" "CLOSED 42" "a login name with a NUL byte"
# The same with the NUL elsewhere, and names that are no names.
for u in '\000root' 'ro\000ot' 'root ' '../root' '-root'; do
  r=$(attack "$(op 1 4 "$qid" 0 0 0 "$u")")
  expect_eq "$r" "CLOSED 42" "login name '$u'"
done
# No caller at all.
r=$(attack "$(op 1 4 "$qid" 0 0 0 '')")
expect_eq "$r" "CLOSED 42" "an operation without a caller"
# msgget(IPC_CREAT) at the owner: a node never creates at another node.
r=$(attack "$(op 1 1 0 9602 $((0x200 | 0600)) 0 root)")
expect_eq "$r" "CLOSED 42" "a remote msgget(IPC_CREAT)"
kill -0 "$pid2" 2>/dev/null || fail "node2's dipcd died"

# A valid "root" is mapped to nobody (remote_root is off): IPC_RMID is answered (EPERM)
# and the link stays until the heartbeat time-out: at least the hello answer (42 bytes)
# and the reply (44 bytes) come back, where the refusals above got nothing.
r=$(attack "$(op 1 4 "$qid" 0 0 0 root)")
[[ "$r" =~ ^(OPEN|CLOSED)\ ([0-9]+)$ ]] && ((BASH_REMATCH[2] >= 86)) ||
  fail "a valid remote caller was not answered: $r"

expect_eq "$(on node2 "$MW" count 9601)" 0 "root's queue is still there on node2"
if on node2 ipcs -q | grep -qi '0x00002582'; then fail "queue 9602 was created on node2"; fi
grep -q "malformed operation\|without a caller\|would create an object" "$DIR/node2/dipcd.log" ||
  fail "node2's log says nothing about the refused frames"
# The real cluster still works across the nodes.
expect_eq "$(on node1 "$MW" mkq 9603 0666)" OK "queue created on node1"
expect_eq "$(on node2 "$MW" send 9603 1 fine)" OK "msgsnd from node2"
expect_eq "$(on node1 "$MW" nbrecv 9603 1)" "RECV 1 fine" "message received on node1"
log "ok"
