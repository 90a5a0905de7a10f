#!/usr/bin/env bash
# status_cluster: dipc status --cluster, run on any node, shows every member as the referee
# sees it and the nodes declared dead with since when.
#  - on node3 (not the referee): node1 is the referee, node2 and node3 are members, each
#    "ok" (the referee heard it lately), node3 marked as this node; exit 0;
#  - node2's dipcd killed: node3's view lists node2 under "declared dead:" with a time and a
#    reason, and no longer as a member;
#  - on a node that has not joined (its referee gone) it exits 3.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up 3
st=$(on node3 "$DIPC" status --cluster) || fail "dipc status --cluster exited non-zero: $st"
grep -q "^cluster of referee node1: 3 member(s), 0 declared dead (seen from node3)" <<<"$st" ||
  fail "no summary line: $st"
grep -Eq "^  node1 +[0-9.]+:[0-9]+ +referee +20[0-9-]+T[0-9:]+Z +ok " <<<"$st" ||
  fail "node1 not shown as the referee: $st"
grep -Eq "^  node2 +[0-9.]+:[0-9]+ +member +20[0-9-]+T[0-9:]+Z +ok +[0-9]+ ms ago +[0-9.]+ ms " \
  <<<"$st" || fail "node2 not shown as a healthy member: $st"
grep -Eq "^  node3 .* member .* this node$" <<<"$st" || fail "node3 not shown as this node: $st"
grep -q "^declared dead:" <<<"$st" && fail "a dead node in a healthy cluster: $st"

log "kill node2's dipcd: node3's view lists it as declared dead"
kill -9 "$(tr -dc '0-9' <"$DIR/node2/dipcd.pid")"
wait_for 'on node3 "$DIPC" status --cluster | grep -Eq "^  node2 +[0-9.]+:[0-9]+ +since 20[0-9-]+T[0-9:]+Z \(.+\)$"' 20 ||
  fail "node2 not declared dead in node3's view: $(on node3 "$DIPC" status --cluster)"
st=$(on node3 "$DIPC" status --cluster)
grep -q "2 member(s), 1 declared dead" <<<"$st" || fail "counts after node2 died: $st"
grep -Eq "^  node2 .* member " <<<"$st" && fail "node2 still a member: $st"

log "kill node1's dipcd (the referee): node3 cannot ask, exit 3"
kill -9 "$(tr -dc '0-9' <"$DIR/node1/dipcd.pid")"
wait_for '! on node3 "$DIPC" status >/dev/null 2>&1' 20 || fail "node3 still says joined"
rc=0
on node3 "$DIPC" status --cluster >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 3 "exit status of dipc status --cluster on a node that has not joined"
log "ok"
