#!/usr/bin/env bash
# bounds: a local user cannot grow dipcd's memory by asking and never reading.
# As nobody, flood node1's socket with 300,000 status requests without reading an answer.
# dipcd stops reading that connection once its unread answers pass the high-water mark
# (4 MiB, Conn::kHighWater), so the flooder's writes stall long before all 300,000 are
# taken, dipcd's memory stays within a bound, and every other caller is served meanwhile.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up 2
pid1=$(cat "$DIR/node1/dipcd.pid")
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }  # KiB
before=$(rss "$pid1")
bg_on node1 "${NOBODY[@]}" "$PROGS/flood" "$DIR/node1/run/dipcd.sock" 300000 8
FLOOD=$BG_PID
wait_for "grep -q '^SENT' '$BG_OUT'" 20 || fail "the flooder never finished writing: $(cat "$BG_OUT")"
sent=$(awk '/^SENT/ {print $2}' "$BG_OUT")
log "dipcd took $sent of 300000 requests before it stopped reading"
((sent < 300000)) || fail "dipcd read all 300000 requests of a client that reads nothing"
# While the flooder holds its connection, dipcd serves everyone else.
on node1 "$DIPC" status | grep -q "^state: *joined" || fail "dipc status on node1 during the flood"
expect_eq "$(on node2 "$PROGS/msgwait" mkq 9701 0666)" OK "msgget from node2 during the flood"
after=$(rss "$pid1")
log "dipcd RSS: $before KiB before, $after KiB during the flood"
((after - before < 48 * 1024)) || fail "dipcd grew by $(((after - before) / 1024)) MiB"
kill -0 "$pid1" || fail "node1's dipcd died"
bg_wait "$FLOOD" 20 || true
log "ok"
