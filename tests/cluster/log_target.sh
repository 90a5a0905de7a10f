#!/usr/bin/env bash
# log_target: [log] level = "debug" gives a line per remote call in the node's log (on the
# caller's node and, as "serving op", on the owner's) and per link event; "trace" a line
# per frame in and out; on SIGHUP a changed level applies at once and a changed key that
# needs a restart is logged as such;
# [log] target accepts stderr, syslog and journal (dipcd --check) and refuses anything else
# with the file and line (exit status 2).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIPCD=$DIPC_BUILD/sbin/dipcd

MW=$PROGS/msgwait
cluster_up 2 --set 'log.level="trace"'
expect_eq "$(on node2 "$MW" mkq 0x7500 0666)" OK "queue on node2"
expect_eq "$(on node1 "$MW" send 0x7500 1 hi)" OK "send from node1"
wait_for 'grep -q "debug call op .* at node2: ret 0" "$DIR/node1/dipcd.log"' 5 ||
  fail "no debug line for the remote call in node1's log: $(tail -5 "$DIR/node1/dipcd.log")"
wait_for 'grep -q "debug serving op 2 id .* of node1" "$DIR/node2/dipcd.log"' 5 ||
  fail "no debug line for the served call in node2's log: $(tail -5 "$DIR/node2/dipcd.log")"
grep -q "debug link event: node1 .* ready on fd [0-9]*" "$DIR/node2/dipcd.log" ||
  fail "no debug line for the link event in node2's log"
grep -q "debug link event: connection from .* accepted" "$DIR/node1/dipcd.log" ||
  fail "no debug line for the accepted connection in node1's log"
# trace: a line per frame, both ways (a msgsnd is type 1 out, its answer type 2 in).
grep -q "trace frame out fd [0-9]*: type 1 request [0-9]* payload" "$DIR/node1/dipcd.log" ||
  fail "no trace line for the kOp frame sent by node1"
grep -q "trace frame in fd [0-9]*: type 2 request" "$DIR/node1/dipcd.log" ||
  fail "no trace line for the answer node1 received"

# SIGHUP: the level applies at once; a key that needs a restart is logged as such.
sed -i "s/^level = .*/level = 'info'/; s/^peer_timeout_ms = .*/peer_timeout_ms = 9000/" \
  "$DIR/node2/dipc.conf"
kill -HUP "$(tr -dc '0-9' <"$DIR/node2/dipcd.pid")"
wait_for 'grep -q "SIGHUP: \[timeouts\] peer_timeout_ms changed: needs a restart of dipcd" "$DIR/node2/dipcd.log"' 10 ||
  fail "the changed peer_timeout_ms is not logged as needing a restart: $(tail -5 "$DIR/node2/dipcd.log")"
grep -q "SIGHUP: \[log\] level" "$DIR/node2/dipcd.log" && fail "[log] level reported as needing a restart"
n=$(grep -c "trace frame" "$DIR/node2/dipcd.log")
expect_eq "$(on node1 "$MW" send 0x7500 1 again)" OK "send after node2's reload"
expect_eq "$(grep -c "trace frame" "$DIR/node2/dipcd.log")" "$n" "trace lines on node2 once its level is info"

printf '127.0.0.1\n' >"$SCRATCH/allow"
for t in stderr syslog journal; do
  printf '[node]\nname = "n1"\n[referee]\nenabled = true\n[security]\nallow_file = "%s"\n[log]\ntarget = "%s"\n' \
    "$SCRATCH/allow" "$t" >"$SCRATCH/$t.conf"
  "$DIPCD" --check --config "$SCRATCH/$t.conf" >/dev/null || fail "dipcd --check refuses target $t"
done
sed -i 's/target = "journal"/target = "file"/' "$SCRATCH/journal.conf"
rc=0
out=$("$DIPCD" --check --config "$SCRATCH/journal.conf" 2>&1) || rc=$?
expect_eq "$rc" 2 "dipcd --check on target = \"file\""
grep -q "journal.conf:.*target must be one of stderr, syslog, journal" <<<"$out" ||
  fail "bad target not reported with file and key: $out"
log "ok"
