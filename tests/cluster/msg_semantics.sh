#!/usr/bin/env bash
# msg_semantics: a distributed queue behaves exactly as a Linux queue.
# tests/progs/msgsem runs a fixed script of msgsnd/msgrcv/msgctl/msgget cases (type
# selection, MSG_EXCEPT, MSG_NOERROR, E2BIG, ENOMSG, EINVAL, EAGAIN on a full queue, IPC_STAT
# and IPC_SET, EEXIST/ENOENT, 4 and 8 KiB messages, 0-byte messages, order of 100 messages,
# IPC_RMID) and prints one line per step with nothing run-dependent in it. Its output when
# the queue is owned by another node must be identical to its output on plain Linux (a fresh
# IPC namespace without DIPC): created on node1 and run on node2, the other way round, and
# created and run on the owner itself.
# The cross-node runs are made as the unprivileged user nobody (creator and caller alike),
# so IPC_SET/IPC_RMID permissions don't depend on how the owner maps a remote root.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MSGSEM=$PROGS/msgsem

cluster_up 2

# run_case NAME CREATE_NODE RUN_NODE KEY USER: msgsem create KEY on CREATE_NODE, msgsem run
# KEY on RUN_NODE, both as USER (nobody or root), against the same on plain Linux.
run_case() {
  local name=$1 cnode=$2 rnode=$3 key=$4 user=$5 rc=0 out
  local -a as=()
  [[ $user == nobody ]] && as=("${NOBODY[@]}")
  local a=$SCRATCH/$name.dipc b=$SCRATCH/$name.plain
  log "case $name: create on $cnode, run on $rnode, as $user, key $key"

  plain "${as[@]}" sh -c '"$1" create "$2" && "$1" run "$2"' sh "$MSGSEM" "$key" \
    >"$b" 2>"$b.err" || fail "$name: msgsem on plain Linux failed (exit $?): $(cat "$b.err")"
  [[ $(wc -l <"$b") -ge 90 ]] || fail "$name: plain Linux reference is too short: $(cat "$b")"

  out=$(on "$cnode" "${as[@]}" "$MSGSEM" create "$key" 2>&1) ||
    fail "$name: msgsem create $key on $cnode failed: $out"
  on "$rnode" "${as[@]}" "$MSGSEM" run "$key" >"$a" 2>"$a.err" || rc=$?
  if ! diff -u "$b" "$a" >"$SCRATCH/$name.diff"; then
    echo "---- $name: diff plain Linux (-) vs DIPC (+):" >&2
    cat "$SCRATCH/$name.diff" >&2
    echo "---- $name: stderr of msgsem run on $rnode:" >&2
    cat "$a.err" >&2
    fail "$name: msgsem output on $rnode differs from plain Linux (msgsem exit $rc)"
  fi
  expect_eq "$rc" 0 "$name: exit status of msgsem run on $rnode"
  # The script ends with IPC_RMID: the key is gone from the cluster.
  wait_for "ls_absent $cnode msg $key && ls_absent $rnode msg $key" 10 ||
    fail "$name: key $key still listed by dipc ls after IPC_RMID"
  log "case $name: identical to plain Linux ($(wc -l <"$a") steps)"
}

run_case remote node1 node2 5101 nobody
run_case swapped node2 node1 5201 nobody
run_case owner_local node1 node1 5301 nobody
run_case owner_local_root node1 node1 5401 root
