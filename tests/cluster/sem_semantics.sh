#!/usr/bin/env bash
# sem_semantics: a distributed semaphore set behaves exactly as a Linux one.
# tests/progs/semsem runs a fixed script of semop/semtimedop/semctl/semget cases (SETVAL,
# GETVAL, SETALL, GETALL, multi-op atomicity with IPC_NOWAIT, semtimedop expiry and bad
# timeouts, E2BIG, EFBIG, ERANGE, EINVAL, wait-for-zero, IPC_STAT, IPC_SET and EACCES,
# GETNCNT/GETZCNT, semget EINVAL/EEXIST, IPC_RMID and calls on the removed id) and prints one
# line per step with nothing run-dependent in it. Its output when the set is owned by
# another node must be identical to its output on plain Linux (a fresh IPC namespace
# without DIPC): created on node1 and run on node2, the other way round, and created and run
# on the owner itself (as nobody and as root).
# The cross-node runs are made as the unprivileged user nobody (creator and caller alike),
# so permission checks don't depend on how the owner maps a remote root.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=semlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"

SEMSEM=$PROGS/semsem

cluster_up 2

# run_case NAME CREATE_NODE RUN_NODE KEY USER
run_case() {
  local name=$1 cnode=$2 rnode=$3 key=$4 user=$5 rc=0 out line
  local -a as=()
  [[ $user == nobody ]] && as=("${NOBODY[@]}")
  local a=$SCRATCH/$name.dipc b=$SCRATCH/$name.plain
  log "case $name: create on $cnode, run on $rnode, as $user, key $key"

  # shellcheck disable=SC2016  # expanded by sh
  plain "${as[@]}" sh -c '"$1" create "$2" 4 && "$1" run "$2"' sh "$SEMSEM" "$key" \
    >"$b" 2>"$b.err" || fail "$name: semsem on plain Linux failed (exit $?): $(cat "$b.err")"
  [[ $(wc -l <"$b") -ge 100 ]] || fail "$name: plain Linux reference is too short: $(cat "$b")"

  out=$(on "$cnode" "${as[@]}" "$SEMSEM" create "$key" 4 2>&1) ||
    fail "$name: semsem create $key 4 on $cnode failed: $out"
  line=$(ls_lines "$rnode" sem "$key") || fail "$name: key $key not listed by dipc ls on $rnode"
  expect_eq "$(ls_owner "$line")" "$cnode" "$name: owner of key $key in dipc ls [$line]"
  on "$rnode" "${as[@]}" "$SEMSEM" run "$key" >"$a" 2>"$a.err" || rc=$?
  if ! diff -u "$b" "$a" >"$SCRATCH/$name.diff"; then
    echo "---- $name: diff plain Linux (-) vs DIPC (+):" >&2
    cat "$SCRATCH/$name.diff" >&2
    echo "---- $name: stderr of semsem run on $rnode:" >&2
    cat "$a.err" >&2
    fail "$name: semsem output on $rnode differs from plain Linux (semsem exit $rc)"
  fi
  expect_eq "$rc" 0 "$name: exit status of semsem run on $rnode"
  # The script ends with IPC_RMID: the key is gone from the cluster.
  wait_for "ls_absent $cnode sem $key && ls_absent $rnode sem $key" 10 ||
    fail "$name: key $key still listed by dipc ls after IPC_RMID"
  log "case $name: identical to plain Linux ($(wc -l <"$a") steps)"
}

run_case remote node1 node2 6101 nobody
run_case swapped node2 node1 6201 nobody
run_case owner_local node1 node1 6301 nobody
run_case owner_local_root node1 node1 6401 root
