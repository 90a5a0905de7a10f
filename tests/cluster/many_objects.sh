#!/usr/bin/env bash
# many_objects: dipc ls lists thousands of objects, whole, from any node.
# 3,000 queues owned by node2 and 100 by node1 (the referee): the referee's list crosses
# the link in pages and the answer to dipc in parts; both nodes list every one exactly once.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2
expect_eq "$(on node2 "$MW" mkqs 100000 3000 0600)" OK "3000 queues created on node2"
expect_eq "$(on node1 "$MW" mkqs 200000 100 0600)" OK "100 queues created on node1"
for n in node1 node2; do
  out=$(on "$n" "$DIPC" ls) || fail "dipc ls on $n failed"
  lines=$(grep -c '^msg ' <<<"$out" || true)
  expect_eq "$lines" 3100 "queues listed by dipc ls on $n"
  uniq=$(awk '$1 == "msg" {print $2}' <<<"$out" | sort -u | wc -l)
  expect_eq "$uniq" 3100 "distinct keys listed on $n"
  expect_eq "$(awk '$1 == "msg" && $4 == "node2"' <<<"$out" | wc -l)" 3000 "owned by node2 ($n)"
done
log "ok"
