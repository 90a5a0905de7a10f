#!/usr/bin/env bash
# tests/soak/fault_soak.sh: the long fault soak (not in ctest; docs/soak.md has results).
# Run as root from a built tree:
#   DIPC_BUILD=$PWD/build SOAK_SECONDS=120 tests/soak/fault_soak.sh
# Receivers of a queue are killed with SIGKILL every SOAK_KILL_MS (default 200), one in
# turn out of SOAK_RECEIVERS (3), while a sender sends numbered messages, and, across
# nodes, node3 cuts its link to the queue's owner every SOAK_CUT_S seconds (default 5).
# The same soak runs first on one machine (one IPC namespace, no DIPC, no links to cut),
# then on a 3-node cluster (owner and sender node2, receivers node3), then across nodes
# without cuts, each for SOAK_SECONDS (default 60). It prints one line per run: messages
# acknowledged, received, lost (acknowledged, never received), received twice, kills,
# cuts. A SIGKILL right after msgrcv returned and before the receiver wrote the number
# down loses that message on one machine too: the plain run measures that floor.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/soaklib.sh"

secs=${SOAK_SECONDS:-60}
kill_ms=${SOAK_KILL_MS:-200}
cut_s=${SOAK_CUT_S:-5}
nrecv=${SOAK_RECEIVERS:-3}
cluster_up 3 --set debug.fault_injection=true
printf '%-22s %s\n' "one machine (SIGKILL)" "$(soak_run plain "$secs" "$kill_ms" KILL 0 "$nrecv")"
printf '%-22s %s\n' "DIPC, kills and cuts" "$(soak_run dipc "$secs" "$kill_ms" KILL "$cut_s" "$nrecv")"
printf '%-22s %s\n' "DIPC, kills only" "$(soak_run dipc "$secs" "$kill_ms" KILL 0 "$nrecv")"
log "requeued at the owner: $(grep -c "put back on queue" "$DIR/node2/dipcd.log" || true) log lines; not put back: $(grep -c "cannot be put back" "$DIR/node2/dipcd.log" || true)"
