#!/usr/bin/env bash
# rmid_wakes: IPC_RMID of a distributed queue wakes every blocked receiver in the cluster.
# The queue is owned by node1; receivers are blocked in msgrcv on node1, node2 and node3.
# Removing it with "dipc rm msg KEY" from node3 makes all three return EIDRM; later calls on
# the old ids (send, receive, IPC_STAT) give EINVAL on every node, msgget of the key gives
# ENOENT, and the key is gone from dipc ls. A second round removes with msgctl(IPC_RMID)
# from node2 instead. The queues are created by nobody, so removal is permitted whether the
# owner runs a remote root as root or as nobody.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 3

# block_all KEY NODE...: a blocked receiver on each NODE (sets RPIDS/ROUTS, indexed by node).
declare -A RPIDS ROUTS IDS
block_all() {
  local key=$1 n
  shift
  for n in "$@"; do
    bg_on "$n" "$MW" recv "$key" 1 25 "$SCRATCH/rmid.$key.$n.pid"
    RPIDS[$n]=$BG_PID
    ROUTS[$n]=$BG_OUT
  done
  for n in "$@"; do await_pid "$SCRATCH/rmid.$key.$n.pid"; done
  sleep 1 # every call reaches the owner and blocks there
  for n in "$@"; do
    bg_running "${RPIDS[$n]}" || fail "receiver on $n ended early: $(cat "${ROUTS[$n]}")"
  done
}

expect_all_eidrm() {
  local n rc
  for n in "$@"; do
    rc=0
    bg_wait "${RPIDS[$n]}" 10 || rc=$?
    expect_eq "$(cat "${ROUTS[$n]}")" EIDRM "blocked msgrcv on $n after IPC_RMID"
    expect_eq "$rc" 0 "exit status of the receiver on $n"
  done
}

expect_gone() { # KEY NODE...
  local key=$1 n
  shift
  for n in "$@"; do
    expect_eq "$(on "$n" "$MW" send "id:${IDS[$n]}" 1 late)" EINVAL "msgsnd on the old id on $n"
    expect_eq "$(on "$n" "$MW" nbrecv "id:${IDS[$n]}" 1)" EINVAL "msgrcv on the old id on $n"
    expect_eq "$(on "$n" "$MW" count "id:${IDS[$n]}")" EINVAL "IPC_STAT on the old id on $n"
    wait_for "[[ \$(on $n '$MW' get $key) == ENOENT ]]" 5 ||
      fail "msgget of key $key on $n: [$(on "$n" "$MW" get "$key")], expected ENOENT"
    wait_for "ls_absent $n msg $key" 5 || fail "key $key still listed by dipc ls on $n"
  done
}

# Round 1: dipc rm from node3.
K=8101
expect_eq "$(on node1 "${NOBODY[@]}" "$MW" mkq $K 0666)" OK "queue $K created on node1"
for n in node1 node2 node3; do
  IDS[$n]=$(on "$n" "$MW" id $K)
  [[ ${IDS[$n]} =~ ^[0-9]+$ ]] || fail "msgget of key $K on $n: [${IDS[$n]}]"
done
block_all $K node1 node2 node3
out=$(on node3 "$DIPC" rm msg $K 2>&1) || fail "dipc rm msg $K on node3 failed: $out"
expect_all_eidrm node1 node2 node3
expect_gone $K node1 node2 node3

# Round 2: msgctl(IPC_RMID) by the creator on node2.
K=8201
expect_eq "$(on node1 "${NOBODY[@]}" "$MW" mkq $K 0666)" OK "queue $K created on node1"
for n in node1 node2 node3; do
  IDS[$n]=$(on "$n" "$MW" id $K)
  [[ ${IDS[$n]} =~ ^[0-9]+$ ]] || fail "msgget of key $K on $n: [${IDS[$n]}]"
done
block_all $K node1 node3
expect_eq "$(on node2 "${NOBODY[@]}" "$MW" rmid $K)" OK "msgctl(IPC_RMID) on node2"
expect_all_eidrm node1 node3
expect_gone $K node1 node2 node3
