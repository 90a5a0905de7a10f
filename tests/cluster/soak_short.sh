#!/usr/bin/env bash
# soak_short: a short, bounded fault soak (soaklib.sh). Receivers on node3 of a queue on
# node2 are stopped with SIGTERM every 150 ms while messages flow: a SIGTERM interrupts a
# blocked remote msgrcv (EINTR) or lets it finish with a message the owner had taken, so
# on one machine not one acknowledged message can be lost, and across nodes neither may
# one (the same soak without DIPC checks the harness itself). The long soak with SIGKILL
# and cut links, whose result is in docs/soak.md, is tests/soak/fault_soak.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=soaklib.sh
source "$(dirname "${BASH_SOURCE[0]}")/soaklib.sh"

cluster_up 3 --set debug.fault_injection=true
plain_r=$(soak_run plain 8 150 TERM 0 3)
log "plain: $plain_r"
dipc_r=$(soak_run dipc 8 150 TERM 0 3)
log "dipc:  $dipc_r"
read -r _ a _ _ _ l _ d _ k _ <<<"$plain_r"
((a > 100 && k > 20)) || fail "the plain soak did too little: $plain_r"
((l == 0 && d == 0)) || fail "the plain soak lost or doubled messages (a harness bug): $plain_r"
read -r _ a _ _ _ l _ d _ k _ <<<"$dipc_r"
((a > 100 && k > 20)) || fail "the soak did too little: $dipc_r"
((l == 0)) || fail "acknowledged messages lost across nodes: $dipc_r"
((d == 0)) || fail "messages received twice across nodes: $dipc_r"
log "ok"
