#!/usr/bin/env bash
# bad_referee: node2's referee address points at a service that is no referee: one that
# accepts and closes at once (this once made dipcd abort with a double free), one that
# answers with garbage, one that never answers. Each time node2's dipcd stays up, keeps
# retrying (state "connecting"), says what is wrong in its log, and answers its local
# callers (dipc status).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up 2 --no-secret --heartbeat-ms 200 --peer-timeout-ms 1000
start_node2() { # restarts node2's dipcd with its edited config, without waiting to join
  kill -9 "$(cat "$DIR/node2/dipcd.pid")" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    pgrep -f -- "^$DIPC_BUILD/sbin/dipcd --config $DIR/node2/dipc.conf" >/dev/null || break
    sleep 0.05
  done
  rm -f "$DIR/node2/run/state"
  setsid "$DIPC" cluster exec node2 --dir "$DIR" -- "$DIPC_BUILD/sbin/dipcd" \
    --config "$DIR/node2/dipc.conf" </dev/null >>"$DIR/node2/dipcd.log" 2>&1 &
  wait_for "pgrep -f -- '^$DIPC_BUILD/sbin/dipcd --config $DIR/node2/dipc.conf' >/dev/null" 5 ||
    fail "node2's dipcd did not start"
  pgrep -f -- "^$DIPC_BUILD/sbin/dipcd --config $DIR/node2/dipc.conf" | head -n 1 >"$DIR/node2/dipcd.pid"
}
for mode in close garbage silent; do
  pf=$SCRATCH/$mode.port
  timeout 30 python3 "$DIPC_SRC/tests/progs/badpeer.py" "$mode" "$pf" 15 &
  bp=$!
  wait_for "[[ -s '$pf' ]]" 10 || fail "badpeer $mode did not start"
  port=$(cat "$pf")
  sed -i "s/^address *=.*/address = '127.0.0.1:$port'/" "$DIR/node2/dipc.conf"
  grep -q "127.0.0.1:$port" "$DIR/node2/dipc.conf" || fail "cannot point node2 at the bad referee"
  lines=$(wc -l <"$DIR/node2/dipcd.log")
  start_node2
  pid2=$(cat "$DIR/node2/dipcd.pid")
  wait_for "tail -n +$((lines + 1)) '$DIR/node2/dipcd.log' | grep -q 'cannot reach the referee at 127.0.0.1:$port'" 10 ||
    fail "node2's log says nothing about the bad referee ($mode)"
  # It retries once a second: after three attempts it is still alive and still trying.
  wait_for "(( \$(wc -l <'$pf.log' 2>/dev/null || echo 0) >= 3 ))" 10 ||
    fail "node2 did not keep retrying the referee ($mode)"
  kill -0 "$pid2" || fail "node2's dipcd died on a referee that $mode"
  [[ $(cat "$DIR/node2/run/state" 2>/dev/null) != joined ]] || fail "node2 joined a service that is no referee ($mode)"
  expect_eq "$(cat "$DIR/node2/run/state")" connecting "node2's state with a referee that $mode"
  rc=0
  st=$(on node2 "$DIPC" status 2>/dev/null) || rc=$?
  expect_eq "$rc" 3 "dipc status exit status on node2, not joined ($mode)"
  grep -q "^state: *connecting" <<<"$st" || fail "dipc status on node2 ($mode): $st"
  grep -q "^last error: " <<<"$st" || fail "dipc status on node2 shows no last error ($mode): $st"
  log "$mode: $(tail -n +$((lines + 1)) "$DIR/node2/dipcd.log" | grep -m1 'cannot reach the referee' || true)"
  kill "$bp" 2>/dev/null || true
  wait "$bp" 2>/dev/null || true
done
log "ok"
