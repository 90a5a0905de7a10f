#!/usr/bin/env bash
# restart: dipcd restarts cleanly.
#  - node2 holds a placeholder of node1's queue; its dipcd is killed (-9) and started again:
#    the new dipcd removes the placeholder its predecessor left in the kernel, rejoins, and
#    a program on node2 finds the queue again through a new placeholder.
#  - the referee (node1) is killed and started again: node2 re-registers the queue it owns,
#    so dipc ls shows it again and node3 can use it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
DIPCD=$DIPC_BUILD/sbin/dipcd
cluster_up 3

# restart NODE: start that node's dipcd again, in its namespace, as dipc cluster up does.
restart() {
  local n=$1
  setsid "$DIPC" cluster exec "$n" --dir "$DIR" -- "$DIPCD" --config "$DIR/$n/dipc.conf" \
    </dev/null >>"$DIR/$n/dipcd.log" 2>&1 &
  wait_for "[[ \$(cat '$DIR/$n/run/state' 2>/dev/null) == joined ]]" 10 ||
    fail "$n did not rejoin: $(cat "$DIR/$n/run/state" 2>/dev/null)"
  pgrep -f -- "dipcd --config $DIR/$n/dipc.conf" | head -n 1 >"$DIR/$n/dipcd.pid"
}

K=9401
expect_eq "$(on node1 "$MW" mkq $K 0666)" OK "queue $K created on node1"
expect_eq "$(on node2 "$MW" get $K)" OK "msgget on node2 (placeholder)"
on node2 ipcs -q | grep -q "0x0000$(printf '%04x' $K)" || fail "no placeholder on node2"
kill -9 "$(cat "$DIR/node2/dipcd.pid")"
sleep 0.3
on node2 ipcs -q | grep -q "0x0000$(printf '%04x' $K)" || fail "placeholder vanished before restart"
restart node2
if on node2 ipcs -q | grep -q "0x0000$(printf '%04x' $K)"; then
  fail "the restarted dipcd left the stale placeholder of key $K"
fi
grep -q "removed 1 placeholders left by a previous dipcd" "$DIR/node2/dipcd.log" ||
  fail "node2's log does not report the stale placeholder"
expect_eq "$(on node2 "$MW" send $K 1 again)" OK "msgsnd from node2 after its restart"
expect_eq "$(on node1 "$MW" nbrecv $K 1)" "RECV 1 again" "the message reached node1"

log "referee restart: node2's queue is registered again"
K2=9402
expect_eq "$(on node2 "$MW" mkq $K2 0666)" OK "queue $K2 created on node2"
# The other nodes know the referee by address and port: start it again on the same port.
port=$(tr -dc '0-9' <"$DIR/node1/run/dipcd.port")
sed -i "s/^listen_port *=.*/listen_port = $port/" "$DIR/node1/dipc.conf"
kill -9 "$(cat "$DIR/node1/dipcd.pid")"
sleep 0.3
restart node1
wait_for "ls_has node3 msg $K2" 10 || fail "key $K2 not listed after the referee restarted"
expect_eq "$(on node3 "$MW" send $K2 1 hi)" OK "msgsend from node3 to node2's queue"
expect_eq "$(on node2 "$MW" nbrecv $K2 1)" "RECV 1 hi" "the message reached node2"
