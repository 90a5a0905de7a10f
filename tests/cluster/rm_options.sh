#!/usr/bin/env bash
# rm_options: dipc rm takes ipcrm's options and removes cluster-wide.
#  - -Q KEY (hex), -S KEY (decimal), the older "rm msg KEY";
#  - -q ID with the id of node1's placeholder (as ipcs on node1 shows it): the object goes at
#    its owner node2, not only the placeholder;
#  - -a msg removes every distributed queue and leaves the semaphore set;
#  Everything runs as nobody: a remote root acts as nobody, who may not remove root's objects.
#  - an unknown key or id exits 1 and says why; no target or a bad key exits 2.
set -euo pipefail
# shellcheck disable=SC2086  # "${NOBODY[@]}" is a command prefix, split on purpose
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2
for k in 0x7401 0x7402 0x7405; do expect_eq "$(on node2 "${NOBODY[@]}" "$MW" mkq $k 0666)" OK "queue $k on node2"; done
expect_eq "$(on node1 "${NOBODY[@]}" "$MW" mkq 0x7404 0666)" OK "queue 0x7404 on node1"
expect_eq "$(on node2 "${NOBODY[@]}" "$PROGS/semtool" mk 0x7403 2 0)" OK "set 0x7403 on node2"

on node1 "${NOBODY[@]}" "$DIPC" rm -Q 0x7401 || fail "dipc rm -Q 0x7401"
ls_absent node2 msg 0x7401 || fail "queue 0x7401 still listed after rm -Q"

expect_eq "$(on node1 "${NOBODY[@]}" "$MW" get 0x7402)" OK "placeholder of 0x7402 on node1"
id=$(on node1 "${NOBODY[@]}" "$MW" id 0x7402)
on node1 "${NOBODY[@]}" "$DIPC" rm -q "$id" || fail "dipc rm -q $id (node1's placeholder id)"
ls_absent node2 msg 0x7402 || fail "queue 0x7402 still listed after rm -q"
[[ $(on node2 "${NOBODY[@]}" "$MW" get 0x7402 0) == ENOENT ]] || fail "queue 0x7402 still at its owner node2"

on node1 "${NOBODY[@]}" "$DIPC" rm msg 0x7405 || fail "the older form dipc rm msg KEY"
ls_absent node1 msg 0x7405 || fail "queue 0x7405 still listed"

on node2 "${NOBODY[@]}" "$DIPC" rm -a msg || fail "dipc rm -a msg"
expect_eq "$(on node1 "$DIPC" ls -q -n)" "" "queues left after rm -a msg"
ls_has node1 sem 0x7403 || fail "rm -a msg removed the semaphore set"
on node1 "${NOBODY[@]}" "$DIPC" rm -S $((0x7403)) || fail "dipc rm -S in decimal"
ls_absent node1 sem 0x7403 || fail "set 0x7403 still listed"

rc=0
out=$(on node1 "${NOBODY[@]}" "$DIPC" rm -Q 0x7999 2>&1) || rc=$?
expect_eq "$rc" 1 "exit status of rm of an unknown key"
grep -q "No such file" <<<"$out" || fail "rm of an unknown key does not say ENOENT: $out"
rc=0
out=$(on node1 "${NOBODY[@]}" "$DIPC" rm -q 99999 2>&1) || rc=$?
expect_eq "$rc" 1 "exit status of rm of an unknown id"
rc=0
on node1 "${NOBODY[@]}" "$DIPC" rm >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 2 "exit status of rm with nothing to remove"
rc=0
on node1 "${NOBODY[@]}" "$DIPC" rm -Q zz >/dev/null 2>&1 || rc=$?
expect_eq "$rc" 2 "exit status of rm with a bad key"
log "ok"
