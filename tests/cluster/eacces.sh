#!/usr/bin/env bash
# eacces: permissions are checked at the owner under the caller's identity, as on Linux.
# A queue created by root on node1 with mode 0600: the unprivileged user nobody gets EACCES
# from msgget asking for access, from msgsnd, msgrcv and IPC_STAT, and EPERM from IPC_RMID,
# on node2 (remote) exactly as on node1 (owner) and as on plain Linux. A queue with mode
# 0666 is usable by nobody from node2: a message sent there is received there.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2

# Each probe runs as nobody; one line "PROBE: RESULT" per probe.
PROBES='for c in "get $2" "get $2 0" "send $2 1 x" "nbrecv $2 1" "count $2" "rmid $2"; do
  printf "%s: " "$c"
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$1" $c
done'

K=9101
expect_eq "$(on node1 "$MW" mkq $K 0600)" OK "queue $K (0600) created by root on node1"
ref=$(plain sh -c '"$1" mkq "$2" 0600 >/dev/null && '"$PROBES" sh "$MW" $K) ||
  fail "probes on plain Linux failed: $ref"
expect_eq "$(head -n 1 <<<"$ref")" "get $K: EACCES" "msgget by nobody on plain Linux"
for n in node2 node1; do
  got=$(on "$n" sh -c "$PROBES" sh "$MW" $K 2>"$SCRATCH/probes.$n.err") ||
    fail "probes on $n failed: $got $(cat "$SCRATCH/probes.$n.err")"
  if [[ "$got" != "$ref" ]]; then
    diff -u <(echo "$ref") <(echo "$got") >&2 || true
    cat "$SCRATCH/probes.$n.err" >&2
    fail "access checks by nobody on $n differ from plain Linux (diff above: - Linux, + $n)"
  fi
  log "nobody on $n: $(tr '\n' ';' <<<"$got")"
done
# The queue is untouched and root can still use it.
expect_eq "$(on node1 "$MW" count $K)" 0 "queue $K still empty"

K=9201
expect_eq "$(on node1 "$MW" mkq $K 0666)" OK "queue $K (0666) created by root on node1"
expect_eq "$(on node2 "${NOBODY[@]}" "$MW" get $K)" OK "msgget by nobody on node2"
expect_eq "$(on node2 "${NOBODY[@]}" "$MW" send $K 1 from-nobody)" OK "msgsnd by nobody on node2"
expect_eq "$(on node1 "$MW" count $K)" 1 "message queued at the owner"
expect_eq "$(on node2 "${NOBODY[@]}" "$MW" recv $K 1 10)" "RECV 1 from-nobody" \
  "msgrcv by nobody on node2"
expect_eq "$(on node1 "$MW" count $K)" 0 "queue $K empty again"
