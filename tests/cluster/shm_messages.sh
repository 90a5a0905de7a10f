#!/usr/bin/env bash
# shm_messages: the network messages of a remote read fault, counted by the daemons (the
# "dsm:" line of `dipc status`), not derived from the protocol. node1 owns a segment of 64
# pages and holds them all; a process on node2 reads every other page once (so no
# read-ahead joins in). Each of its 32 read faults must cost node2 exactly one request to
# the owner and one answer (the grant carrying its page), and bring in exactly one page.
# Then a sequential read of 4096 pages (16 MiB): the data is right (dsmbench checks every
# page's word), every page comes in exactly once, and read-ahead windows (growing to 256
# pages, each asked for while the reader is in the one before) keep it to a few dozen
# requests.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DSMBENCH=$DIPC_BUILD/bench/dsmbench
[[ -x $DSMBENCH ]] || fail "$DSMBENCH is missing: build first"
# counters NODE: "read_faults requests answers pages_in" from the node's dsm line.
counters() {
  local line
  line=$(on "$1" "$DIPC" status | grep '^dsm:') || fail "no dsm line in $1's status"
  sed -E 's/.*faults ([0-9]+) read .*requests ([0-9]+) answers ([0-9]+) .*pages [0-9]+ out ([0-9]+) in.*/\1 \2 \3 \4/' <<<"$line"
}
cluster_up 2
on node1 "$DSMBENCH" fill 0x5e10 64 || fail "fill on node1"
read -r f0 q0 a0 p0 <<<"$(counters node2)"
on node2 "$DSMBENCH" read 0x5e10 64 2 >/dev/null || fail "read on node2"
read -r f1 q1 a1 p1 <<<"$(counters node2)"
log "node2: $((f1 - f0)) read faults, $((q1 - q0)) requests, $((a1 - a0)) answers, $((p1 - p0)) pages in"
expect_eq "$((f1 - f0))" 32 "read faults on node2"
expect_eq "$((q1 - q0))" 32 "requests to the owner: one per fault"
expect_eq "$((a1 - a0))" 32 "answers from the owner: one per fault (the grant carries the page)"
expect_eq "$((p1 - p0))" 32 "pages brought in: one per fault"

on node1 "$DSMBENCH" fill 0x5e11 4096 || fail "fill of 4096 pages on node1"
read -r f0 q0 a0 p0 <<<"$(counters node2)"
on node2 "$DSMBENCH" read 0x5e11 4096 >/dev/null || fail "sequential read on node2 (wrong data?)"
read -r f1 q1 a1 p1 <<<"$(counters node2)"
log "node2, sequential: $((f1 - f0)) read faults, $((q1 - q0)) requests, $((a1 - a0)) answers, $((p1 - p0)) pages in"
expect_eq "$((p1 - p0))" 4096 "pages brought in by the sequential read: each once"
(( q1 - q0 <= 40 && q1 - q0 == a1 - a0 )) ||
  fail "sequential read: $((q1 - q0)) requests and $((a1 - a0)) answers (want at most 40, one answer each)"
log "ok"
