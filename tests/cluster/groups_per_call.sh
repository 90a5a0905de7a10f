#!/usr/bin/env bash
# groups_per_call: the owner checks each call with the caller's groups at that call.
# groupcall (run as root) makes a queue only group 4242 may use, then, as euid nobody
# throughout, asks for access to it (msgget with mode 0666) without 4242 in its groups,
# with it, and without it again: only its supplementary groups change (setgroups), so the
# shim keeps its connection to dipcd, and dipcd, which checks a *get of a key its node owns
# as the caller, must read the caller's current credentials at each call. The answers must
# be Linux's, as the same program gives without DIPC. (A remote owner maps the caller's
# login name to its account's groups: docs/errors.md.)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GC=$PROGS/groupcall
cluster_up 2
linux=$(plain "$GC" 9801 4242)
expect_eq "$linux" "EACCES OK EACCES" "groupcall without DIPC"
expect_eq "$(on node1 "$GC" 9801 4242)" "$linux" "groupcall on a queue its node owns"
log "ok"
