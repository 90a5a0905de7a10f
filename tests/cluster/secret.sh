#!/usr/bin/env bash
# secret: with [security] secret_file, nodes admit only nodes that know the same secret.
#  - all three nodes given one secret (and restarted) join, and a message crosses nodes;
#  - node3 given another secret is refused by the referee: its state and log say
#    "authentication failed", and the referee's log names it;
#  - node3 with no secret at all is refused too ("requires a cluster secret"), and the
#    referee's log says so as well;
#  - a secret file that others can read, or one too short, stops dipcd at start with a
#    message saying what to do.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
DIPCD=$DIPC_BUILD/sbin/dipcd
cluster_up 3

set_secret() { # NODE FILE
  sed -i '/^secret_file *=/d' "$DIR/$1/dipc.conf"
  sed -i "/^\[security\]/a secret_file = \"$2\"" "$DIR/$1/dipc.conf"
}
umask 077
head -c 32 /dev/urandom | base64 >"$SCRATCH/good.secret"
head -c 32 /dev/urandom | base64 >"$SCRATCH/other.secret"
for n in node1 node2 node3; do set_secret "$n" "$SCRATCH/good.secret"; done
restart_node node1 || fail "node1 did not start with the secret"
for n in node2 node3; do restart_node "$n" || fail "$n did not rejoin with the secret: $(cat "$DIR/$n/run/state" 2>/dev/null)"; done
expect_eq "$(on node1 "$MW" mkq 9801 0666)" OK "queue made on node1"
expect_eq "$(on node3 "$MW" send 9801 1 authenticated)" OK "msgsnd from node3"
expect_eq "$(on node2 "$MW" nbrecv 9801 1)" "RECV 1 authenticated" "msgrcv on node2"

set_secret node3 "$SCRATCH/other.secret"
restart_node node3 && fail "node3 joined with the wrong secret"
wait_for "grep -q '^refused: authentication failed' '$DIR/node3/run/state'" 10 ||
  fail "node3's state: $(cat "$DIR/node3/run/state" 2>/dev/null)"
grep -q "authentication failed" "$DIR/node3/dipcd.log" || fail "node3's log does not say why"
grep -q "authentication failed: node 'node3'" "$DIR/node1/dipcd.log" ||
  fail "the referee's log does not name node3"

sed -i '/^secret_file *=/d' "$DIR/node3/dipc.conf"
restart_node node3 && fail "node3 joined without a secret"
wait_for "grep -q 'requires a cluster secret' '$DIR/node3/run/state'" 10 ||
  fail "node3's state without a secret: $(cat "$DIR/node3/run/state" 2>/dev/null)"
# The refusal is in both logs: the referee says node3 closed instead of proving the secret.
wait_for "grep -q \"refusing node 'node3' from .*: it closed the link instead of proving the cluster secret\" '$DIR/node1/dipcd.log'" 10 ||
  fail "the referee's log does not show node3 refused for lack of a secret"

chmod 644 "$SCRATCH/other.secret"
set_secret node3 "$SCRATCH/other.secret"
rc=0
out=$("$DIPCD" --check --config "$DIR/node3/dipc.conf" 2>&1) || rc=$?
expect_eq "$rc" 2 "dipcd exit status with a secret others can read"
grep -q "chmod 600" <<<"$out" || fail "no advice for a readable secret: $out"
printf 'short' >"$SCRATCH/short.secret"
chmod 600 "$SCRATCH/short.secret"
set_secret node3 "$SCRATCH/short.secret"
rc=0
out=$("$DIPCD" --check --config "$DIR/node3/dipc.conf" 2>&1) || rc=$?
expect_eq "$rc" 2 "dipcd exit status with a short secret"
grep -q "shorter than 16 bytes" <<<"$out" || fail "no advice for a short secret: $out"
