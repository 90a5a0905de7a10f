#!/usr/bin/env bash
# refused: only addresses in the allow file take part in a cluster.
# Part 1: two nodes joined; node1's allow file is narrowed to 192.0.2.1 (not a local
# address) and node1's dipcd is sent SIGHUP: node2's link is dropped and its reconnection
# refused; node2's run/state becomes "refused: REASON", and node2's log and "dipc status" on
# node2 both say so ("last error:"), and dipc status exits 3 (not joined). Part 2: a fresh cluster whose allow file lists only 192.0.2.1 never
# forms: "dipc cluster up" fails and says "refused".
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up 2
state() { cat "$DIR/$1/run/state" 2>/dev/null || true; }
expect_eq "$(state node2)" joined "node2 state after cluster up"

log "allow only 192.0.2.1 on node1, SIGHUP to its dipcd"
echo "192.0.2.1" >"$DIR/node1/dipc.allow"
kill -HUP "$(tr -dc '0-9' <"$DIR/node1/dipcd.pid")"
wait_for '[[ $(state node2) == refused:* ]]' 20 ||
  fail "node2 state is [$(state node2)] 20 s after node1 stopped allowing it"
log "node2 state: $(state node2)"
grep -qi refused "$DIR/node2/dipcd.log" || fail "node2's dipcd.log does not mention the refusal"
rc=0
st=$(on node2 "$DIPC" status 2>&1) || rc=$?
grep -qi refused <<<"$st" || fail "dipc status on node2 does not say refused: $st"
expect_eq "$rc" 3 "exit status of dipc status on a refused node"
grep -q "^last error: .*refused" <<<"$st" || fail "dipc status shows no last error: $st"
log "dipc status on node2: $(tr '\n' ';' <<<"$st")"

cluster_down
log "a fresh cluster whose allow file lists only 192.0.2.1"
if cluster_try_up 2 --allow 192.0.2.1; then
  fail "dipc cluster up succeeded although no node's address is allowed"
fi
grep -qi refused "$UP_OUT" ||
  fail "dipc cluster up failed (exit $UP_RC) without saying refused: $(cat "$UP_OUT")"
[[ "$(state node2)" != joined ]] || fail "node2 of the refused cluster says joined"
