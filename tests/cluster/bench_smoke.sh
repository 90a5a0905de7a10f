#!/usr/bin/env bash
# bench_smoke: the throughput and scale benchmark programs (bench/tput, bench/referee_rate)
# still work against a real 2-node cluster, in a few seconds and with no timing threshold:
# queues made on node1 are looked up from node2, two workers on node2 send to them while a
# drainer on node1 empties them, two TCP clients talk to tput's epoll server, and the
# referee's table answers look-ups in process. Each prints its figures in the documented
# format (median_cps, slice lines, elapsed_us, lookups_per_s), with calls counted.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TPUT=$DIPC_BUILD/bench/tput
RRATE=$DIPC_BUILD/bench/referee_rate
for f in "$TPUT" "$RRATE"; do
  [[ -x $f ]] || fail "$f is missing: build first"
done
T=(--warm 10 --dur 20 --reps 2)
# As an ordinary user, as bench/run.sh runs them: a call from root runs as nobody at the
# owner (no remote_root), and the queues are made with mode 0600.
NB=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

# cps_ok OUTPUT WHAT: the result line has calls > 0 and a rate, and two slices follow.
cps_ok() {
  awk '$1 == "median_cps" && $2 > 0 && $10 > 0 { ok = 1 } $1 == "slice" && $3 > $2 { s++ }
       END { exit !(ok && s == 2) }' <<<"$1" || fail "$2: unexpected output: $1"
}

cluster_up 2
K=7300
out=$(on node1 "${NB[@]}" "$TPUT" make-msg --key $K --n 2) || fail "make-msg on node1: $out"
[[ $out =~ ^elapsed_us\ [0-9]+\ n\ 2$ ]] || fail "make-msg output: $out"
out=$(on node2 "${NB[@]}" "$TPUT" get-msg --key $K --n 2) || fail "get-msg on node2: $out"
[[ $out =~ ^elapsed_us\ [0-9]+\ n\ 2$ ]] || fail "get-msg output: $out"
bg_on node1 "${NB[@]}" "$TPUT" drain --key $K --n 2 --limit 25
drain=$BG_PID
out=$(on node2 "${NB[@]}" "$TPUT" msg --many --procs 2 --key $K "${T[@]}") || fail "tput msg: $out"
cps_ok "$out" "tput msg --many"
on node1 "${NB[@]}" "$TPUT" rm-msg --key $K --n 2 || fail "rm-msg on node1"
bg_wait "$drain" 15 || fail "the drainers did not end when their queues went"

pf=$SCRATCH/tcp/port
mkdir -m 1777 "$SCRATCH/tcp"
bg_on node1 "${NB[@]}" "$TPUT" tcp-serve --portfile "$pf" --limit 25
server=$BG_PID
wait_for "[[ -s '$pf' ]]" 10 || fail "tcp-serve wrote no port"
out=$(on node2 "${NB[@]}" "$TPUT" tcp --procs 2 --port "$(cat "$pf")" "${T[@]}") || fail "tput tcp: $out"
cps_ok "$out" "tput tcp"
bg_wait "$server" 10 || fail "tcp-serve did not end after its clients closed"

out=$("$RRATE" --objects 100 --nodes 2 --ms 20) || fail "referee_rate: $out"
[[ $out =~ ^lookups_per_s\ [1-9][0-9]*\ objects\ 100\ nodes\ 2$ ]] || fail "referee_rate: $out"
log "ok"
