#!/usr/bin/env bash
# many_objects: dipc ls lists 10,000 objects, whole and quickly, from any node.
# 7,000 queues owned by node2 and 3,000 by node1 (the referee): the referee's list crosses
# the link in pages, each remote object's content is an IPC_STAT at its owner, and the
# records reach dipc in kAdminRows pages. Both nodes list every one exactly once, each in
# under 10 s (about a second on a 2-vCPU machine), with the content column filled.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2
expect_eq "$(on node2 "$MW" mkqs 100000 7000 0666)" OK "7000 queues created on node2"
expect_eq "$(on node1 "$MW" mkqs 200000 3000 0666)" OK "3000 queues created on node1"
for n in node1 node2; do
  t0=$(now_ms)
  out=$(on "$n" "$DIPC" ls) || fail "dipc ls on $n failed"
  ms=$(($(now_ms) - t0))
  log "dipc ls of 10000 objects on $n: $ms ms"
  ((ms < 10000)) || fail "dipc ls on $n took $ms ms"
  lines=$(grep -c '^msg ' <<<"$out" || true)
  expect_eq "$lines" 10000 "queues listed by dipc ls on $n"
  uniq=$(awk '$1 == "msg" {print $2}' <<<"$out" | sort -u | wc -l)
  expect_eq "$uniq" 10000 "distinct keys listed on $n"
  expect_eq "$(awk '$1 == "msg" && $4 == "node2"' <<<"$out" | wc -l)" 7000 "owned by node2 ($n)"
  expect_eq "$(awk '$1 == "msg" && $8 == "0"' <<<"$out" | wc -l)" 10000 "MSGS known for all ($n)"
done
json=$(on node2 "$DIPC" ls --json -q)
python3 -c 'import json,sys; r=json.load(sys.stdin)["dipc"]; assert len(r)==10000, len(r)' \
  <<<"$json" || fail "dipc ls --json of 10000 queues"
log "ok"
