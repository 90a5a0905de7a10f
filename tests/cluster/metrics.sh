#!/usr/bin/env bash
# metrics: [metrics] listen serves Prometheus text at /metrics (off by default).
#  - a cluster with --set metrics.listen="127.0.0.1:0": each node writes its port to
#    RUN_DIR/metrics.port; after node1 sends two messages to node2's queue, node1's
#    /metrics counts them (calls by kind and op, a latency histogram with both), shows the
#    link to node2 (rtt, bytes) and its placeholders; node2's its owned objects; after a
#    store on node1 into node2's segment and a read back on node2, node1 counts faults
#    and pages received, node2 pages sent;
#  - promtool check metrics finds nothing wrong with either text;
#  - another path is 404, another method 405, a request larger than 4 KiB 431; the endpoint
#    still answers after those;
#  - a node without [metrics] listen has no endpoint (no metrics.port).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v promtool >/dev/null || { log "promtool missing (Debian package prometheus): skipped"; exit 77; }
command -v curl >/dev/null || { log "curl missing: skipped"; exit 77; }
MW=$PROGS/msgwait
cluster_up 2 --set 'metrics.listen="127.0.0.1:0"'
wait_for '[[ -s $DIR/node1/run/metrics.port && -s $DIR/node2/run/metrics.port ]]' 10 ||
  fail "no metrics.port files: $(ls "$DIR"/node*/run)"
p1=$(tr -dc '0-9' <"$DIR/node1/run/metrics.port")
p2=$(tr -dc '0-9' <"$DIR/node2/run/metrics.port")
scrape() { curl -sS --max-time 10 "http://127.0.0.1:$1/metrics"; }

expect_eq "$(on node2 "$PROGS/shmtool" mk 0x7701 4096)" OK "segment on node2"
expect_eq "$(on node1 "$PROGS/shmtool" put 0x7701 0 42)" OK "store on node1"
expect_eq "$(on node2 "$PROGS/shmtool" peek 0x7701 0)" 42 "value read back on node2"
expect_eq "$(on node2 "$MW" mkq 0x7700 0666)" OK "queue on node2"
expect_eq "$(on node1 "$MW" send 0x7700 1 a)" OK "first send from node1"
expect_eq "$(on node1 "$MW" send 0x7700 1 b)" OK "second send from node1"
m1=$(scrape "$p1") || fail "cannot scrape node1 on port $p1"
m2=$(scrape "$p2") || fail "cannot scrape node2 on port $p2"
grep -q '^dipc_remote_calls_total{kind="msg",op="msgsnd"} 2$' <<<"$m1" ||
  fail "node1 does not count its two msgsnd: $(grep calls_total <<<"$m1")"
grep -q '^dipc_remote_call_duration_seconds_count{kind="msg",op="msgsnd"} 2$' <<<"$m1" ||
  fail "no latency histogram of the two msgsnd: $(grep duration <<<"$m1")"
grep -q '^dipc_remote_call_duration_seconds_bucket{kind="msg",op="msgsnd",le="+Inf"} 2$' <<<"$m1" ||
  fail "histogram +Inf bucket: $(grep duration <<<"$m1")"
grep -Eq '^dipc_link_rtt_seconds\{node="node2"\} [0-9.e-]+$' <<<"$m1" || fail "no rtt to node2: $m1"
grep -Eq '^dipc_link_sent_bytes_total\{node="node2"\} [1-9][0-9]*$' <<<"$m1" || fail "no bytes: $m1"
grep -q '^dipc_placeholders 2$' <<<"$m1" || fail "node1's placeholders: $(grep placeholders <<<"$m1")"
grep -q '^dipc_owned_objects 2$' <<<"$m2" || fail "node2's owned objects: $(grep owned <<<"$m2")"
grep -Eq '^dipc_dsm_faults_total [1-9][0-9]*$' <<<"$m1" || fail "node1's faults: $(grep dsm <<<"$m1")"
grep -Eq '^dipc_dsm_pages_received_total [1-9][0-9]*$' <<<"$m1" || fail "node1's pages in: $(grep dsm <<<"$m1")"
grep -Eq '^dipc_dsm_pages_sent_total [1-9][0-9]*$' <<<"$m2" || fail "node2's pages out: $(grep dsm <<<"$m2")"
grep -q '^dipc_joined 1$' <<<"$m2" || fail "node2 not joined in its metrics"
for n in 1 2; do
  v=m$n
  out=$(promtool check metrics <<<"${!v}" 2>&1) || fail "promtool rejects node$n's metrics: $out"
  [[ -z "$out" ]] || fail "promtool complains about node$n's metrics: $out"
done

code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
expect_eq "$(code "http://127.0.0.1:$p1/other")" 404 "another path"
expect_eq "$(code -X POST "http://127.0.0.1:$p1/metrics")" 405 "another method"
big=$(head -c 6000 /dev/zero | tr '\0' 'x')
expect_eq "$(code -H "X-Big: $big" "http://127.0.0.1:$p1/metrics")" 431 "an oversized request"
# Read whole, then matched: grep -q in a pipe may quit before curl has written the rest
# (curl: Failed writing body), which pipefail takes for a failed scrape.
after=$(scrape "$p1") || fail "node1's endpoint does not answer after bad requests"
grep -q '^dipc_joined 1$' <<<"$after" || fail "node1's endpoint answers wrongly after bad requests: $after"

cluster_down
cluster_up 1
[[ -e $DIR/node1/run/metrics.port ]] && fail "metrics.port without [metrics] listen"
log "ok"
