#!/usr/bin/env bash
# excl_race: IPC_CREAT|IPC_EXCL means the same across the cluster as on one machine.
# Three nodes call msgget(KEY, IPC_DIPC|IPC_CREAT|IPC_EXCL|0666) at the same moment (each
# spins on a start file that is created once all three are ready): exactly one gets the
# queue (WON), the two others EEXIST, and dipc ls names the winner as owner. Five keys.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 3

for key in 6101 6102 6103 6104 6105; do
  go=$SCRATCH/go.$key
  pids=()
  outs=()
  ready=()
  for n in 1 2 3; do
    ready+=("$SCRATCH/ready.$key.node$n")
    bg_on "node$n" "$MW" excl "$key" "$go" "$SCRATCH/ready.$key.node$n"
    pids+=("$BG_PID")
    outs+=("$BG_OUT")
  done
  wait_for "[[ -e ${ready[0]} && -e ${ready[1]} && -e ${ready[2]} ]]" 20 ||
    fail "key $key: not every node got ready to race"
  touch "$go"

  won=0
  eexist=0
  winner=""
  for i in 0 1 2; do
    rc=0
    bg_wait "${pids[$i]}" 20 || rc=$?
    r=$(cat "${outs[$i]}")
    expect_eq "$rc" 0 "key $key: exit status of msgwait excl on node$((i + 1)) (output [$r])"
    case $r in
    WON)
      won=$((won + 1))
      winner=node$((i + 1))
      ;;
    EEXIST) eexist=$((eexist + 1)) ;;
    *) fail "key $key: node$((i + 1)) got [$r], expected WON or EEXIST" ;;
    esac
  done
  log "key $key: won by $winner"
  expect_eq "$won WON, $eexist EEXIST" "1 WON, 2 EEXIST" "key $key: outcome of the race"

  line=$(ls_lines node1 msg "$key") || fail "key $key: not listed by dipc ls"
  expect_eq "$(ls_owner "$line")" "$winner" "key $key: owner in dipc ls [$line]"
done
