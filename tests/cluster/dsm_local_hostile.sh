#!/usr/bin/env bash
# dsm_local_hostile: a local user cannot make dipcd's fault server keep descriptors.
# As nobody, send 300 requests to node1's RUN_DIR/dipcd-dsm.sock that carry a userfaultfd
# where none belongs (kPiece, kUnmap, kDetach, each saying a descriptor travels with it):
# every one is refused, and dipcd's count of open descriptors is back where it was (each
# kept one would also pin the sender's memory).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up 1
pid1=$(cat "$DIR/node1/dipcd.pid")
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
before=$(fds "$pid1")
out=$(on node1 "${NOBODY[@]}" "$PROGS/dsmpoke" "$DIR/node1/run/dipcd-dsm.sock" 300)
expect_eq "$out" "SENT 300 REFUSED 300" "requests with a userfaultfd where none belongs"
# The fault server handles a hang-up on its own thread: wait until the count settles.
wait_for "(( \$(find /proc/$pid1/fd -mindepth 1 -maxdepth 1 | wc -l) <= before + 4 ))" 10 ||
  fail "dipcd kept descriptors: $before before, $(fds "$pid1") after 300 requests"
kill -0 "$pid1" || fail "node1's dipcd died"
on node1 "$DIPC" status | grep -q "^dsm: " || fail "dipc status on node1 after the requests"
log "ok: $before descriptors before, $(fds "$pid1") after"
