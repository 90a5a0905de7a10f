#!/usr/bin/env bash
# status: dipc status says how the node is.
#  - on a joined node it exits 0 and shows the version, the security settings, and per link
#    the kernel's round-trip time, calls sent, errors and bytes each way (the calls count
#    what this node sent: two msgsnd to node2's queue from node1 are 2 calls);
#  - a node declared dead is listed with since when;
#  - with no dipcd it exits 1, on a node that can't reach its referee 3 (not joined),
#    with the last error.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 3
expect_eq "$(on node2 "$MW" mkq 0x7300 0666)" OK "queue on node2"
expect_eq "$(on node1 "$MW" send 0x7300 1 a)" OK "first send from node1"
expect_eq "$(on node1 "$MW" send 0x7300 1 b)" OK "second send from node1"
st=$(on node1 "$DIPC" status) || fail "dipc status on a joined node exited non-zero: $st"
grep -q "^version:   dipcd [0-9.]*, protocol [0-9]" <<<"$st" || fail "no version: $st"
grep -q "remote_root off" <<<"$st" || fail "no remote_root: $st"
line=$(grep "^  node2 " <<<"$st") || fail "no link to node2: $st"
grep -q "rtt [0-9.]* ms" <<<"$line" || fail "no rtt on the link: $line"
# The get (placeholder look-up) goes to the referee, the sends to the owner: at least 2.
calls=$(sed -n 's/.* calls \([0-9]*\) .*/\1/p' <<<"$line")
((calls >= 2)) || fail "calls on the link to node2: [$calls] in $line"
grep -q "errors 0" <<<"$line" || fail "errors on the link: $line"
grep -q "bytes in [1-9][0-9]* out [1-9][0-9]*" <<<"$line" || fail "byte counters: $line"

log "kill node3's dipcd: node1 declares it dead"
kill -9 "$(tr -dc '0-9' <"$DIR/node3/dipcd.pid")"
wait_for 'on node1 "$DIPC" status | grep -q "^declared dead: .*node3 since 20"' 20 ||
  fail "node1 does not list node3 as declared dead: $(on node1 "$DIPC" status)"

log "kill node1's dipcd (the referee): node2 is not joined"
kill -9 "$(tr -dc '0-9' <"$DIR/node1/dipcd.pid")"
rc=0
wait_for '! on node2 "$DIPC" status >/dev/null 2>&1' 20 || fail "node2 still says joined"
st=$(on node2 "$DIPC" status 2>&1) || rc=$?
expect_eq "$rc" 3 "exit status of dipc status on a node without its referee"
grep -q "^state: *connecting" <<<"$st" || fail "state of node2: $st"
st2() { on node2 "$DIPC" status 2>&1 || true; }  # exits 3 while not joined
wait_for 'st2 | grep -q "^last error: "' 10 ||
  fail "no last error on node2: $(on node2 "$DIPC" status 2>&1)"

rc=0
DIPC_RUNDIR=$SCRATCH/nowhere "$DIPC" status >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 1 "exit status of dipc status without dipcd"
log "ok"
