#!/usr/bin/env bash
# hello: the original DIPC example across two nodes, in both directions.
# Proves that a queue created with IPC_DIPC on one node is listed cluster-wide by "dipc ls"
# (type msg, key 40, owned by the creating node), that a program on another node finds it by
# key alone and sends to it, that the blocked receiver gets the message, and that IPC_RMID
# by the owner removes the key from the cluster (so the same key can be created again from
# the other node).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cluster_up 2

hello_between() {
  local rx=$1 tx=$2 p out line owner sent rc
  log "hello1 on $rx, hello2 on $tx"
  bg_on "$rx" "$EXAMPLES/hello1"
  p=$BG_PID
  out=$BG_OUT
  wait_for "ls_has $tx msg 40" 15 || fail "key 40 never appeared in dipc ls on $tx"
  line=$(ls_lines "$tx" msg 40) || fail "dipc ls on $tx lost key 40"
  log "dipc ls on $tx: $line"
  [[ $(wc -l <<<"$line") -eq 1 ]] || fail "dipc ls on $tx lists key 40 more than once: $line"
  expect_eq "$(awk '{print $1}' <<<"$line")" msg "type of key 40 in dipc ls on $tx"
  owner=$(ls_owner "$line")
  expect_eq "$owner" "$rx" "owner of key 40 in dipc ls on $tx [$line]"
  bg_running "$p" || fail "hello1 on $rx ended early: $(cat "$out" "$BG_ERR")"

  sent=$(on "$tx" "$EXAMPLES/hello2" 2>&1) || fail "hello2 on $tx failed: $sent"
  expect_eq "$sent" 'hello2: sent "Hello, Distributed Programming!"' "hello2 output"

  rc=0
  bg_wait "$p" 15 || rc=$?
  expect_eq "$rc" 0 "hello1 exit status on $rx"
  grep -qxF 'hello1: received "Hello, Distributed Programming!"' "$out" ||
    fail "hello1 on $rx did not print the received line: $(cat "$out")"

  # hello1 removed the queue: the key is gone from the whole cluster.
  wait_for "ls_absent $tx msg 40 && ls_absent $rx msg 40" 10 ||
    fail "key 40 still listed by dipc ls after hello1 removed it"
}

hello_between node1 node2
hello_between node2 node1
