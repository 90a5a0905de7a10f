#!/usr/bin/env bash
# referee_holders: a restarted referee rebuilds its holder lists as well as its owners.
# node2 owns a queue and node3 holds a placeholder of it. The referee (node1) is killed and
# started again: node2 re-registers the queue and node3 re-announces its placeholder
# (kRegHold), so dipc ls lists node3 as a holder again, and node2's IPC_RMID reaches node3,
# whose placeholder goes (before the fix, it stayed: the referee had forgotten node3).
# (A holding that does not match what the owner re-registers, or whose owner does not come
# back, is in tests/unit/referee_test.cc, RefereeHoldTest.)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 3

K=9611
hexkey=$(printf '0x%08x' $K)
expect_eq "$(on node2 "$MW" mkq $K 0666)" OK "queue $K created on node2"
expect_eq "$(on node3 "$MW" get $K)" OK "msgget on node3 (placeholder)"
holders() { ls_lines "$1" msg "$2" | awk '{ print $NF }'; }
expect_eq "$(holders node1 $K)" node3 "holders of $K before the restart"

restart_node node1 || fail "node1 did not come back"
wait_for "[[ \$(holders node1 $K) == node3 ]]" 15 ||
  fail "node3 is not a holder of $K after the referee restarted: $(ls_lines node1 msg $K || true)"
line=$(ls_lines node3 msg $K) || fail "key $K not listed after the restart"
expect_eq "$(ls_owner "$line")" node2 "owner of $K after the restart"

expect_eq "$(on node2 "$MW" rmid $K)" OK "IPC_RMID on node2"
wait_for "! on node3 ipcs -q | grep -qi '$hexkey'" 10 ||
  fail "node3's placeholder of $K survived the IPC_RMID after the referee restart"
expect_eq "$(on node3 "$MW" get $K)" ENOENT "msgget of the removed key on node3"
