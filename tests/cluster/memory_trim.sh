#!/usr/bin/env bash
# memory_trim: dipcd gives memory back after a burst. 120 local clients each send 1400
# status requests and read none of the answers (about 650 KB queued per client, up to 4 MiB
# before the read pause), then close. Once the queued answers are freed, the sweep sees
# freed memory still resident and calls malloc_trim: node1's log says how much it gave
# back, and its resident set is below what it was during the burst.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RAW=$PROGS/rawsend
cluster_up 1 --no-secret
sock=$DIR/node1/run/dipcd.sock
pid1=$(cat "$DIR/node1/dipcd.pid")
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$pid1/status"; }

hdr() { # TYPE(4 hex) LENGTH(8 hex): magic, version 1, type, request id 1, length
  printf '444950430001%s0000000000000001%s' "$1" "$2"
}
status_req="$(hdr 0028 0000000f)00000006$(printf status | od -An -tx1 | tr -d ' \n')0000000000"
burst=$(printf "%.0s$status_req" $(seq 1400))
before=$(rss_kib)
pids=()
for _ in $(seq 120); do
  RAWSEND_HOLD_MS=4000 "$RAW" "$sock" "$burst" >/dev/null &
  pids+=($!)
done
# The answers are queued while the clients hold their connections: the largest resident
# set seen then.
peak=$before
for _ in $(seq 30); do
  r=$(rss_kib)
  ((r > peak)) && peak=$r
  sleep 0.1
done
wait "${pids[@]}"
log "resident set: $before KiB before, $peak KiB during the burst"
((peak > before + 12288)) || fail "the burst did not grow dipcd (peak $peak KiB, before $before KiB)"
wait_for "grep -q 'gave [0-9]* MiB back to the system after a burst' '$DIR/node1/dipcd.log'" 10 ||
  fail "dipcd gave no memory back after the burst"
after=$(rss_kib)
log "$(grep -o 'gave [0-9]* MiB back.*' "$DIR/node1/dipcd.log" | tail -1); resident now $after KiB"
((after < peak - 4096)) || fail "resident set $after KiB after the trim, $peak KiB during the burst"
kill -0 "$pid1" || fail "dipcd died"
