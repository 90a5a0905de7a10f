#!/usr/bin/env bash
# owner_killed: fail-stop. When the owner node's dipcd dies, callers blocked on its queue
# get EIDRM within the peer time-out, and the object is gone from the cluster.
# Three nodes, heartbeat 200 ms, peer time-out 2000 ms; the queue is owned by node2;
# receivers block in msgrcv on node1 and node3; node2's dipcd is killed with SIGKILL. Both
# receivers must print EIDRM within peer time-out + 2 s; later calls on the old ids give
# EINVAL, msgget of the key gives ENOENT (its owner is gone), dipc ls no longer lists it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
PEER_TIMEOUT_MS=2000
BOUND_MS=$((PEER_TIMEOUT_MS + 2000))
cluster_up 3 --heartbeat-ms 200 --peer-timeout-ms $PEER_TIMEOUT_MS

K=9301
expect_eq "$(on node2 "$MW" mkq $K 0666)" OK "queue $K created on node2"
declare -A IDS PIDS OUTS DONE_MS
for n in node1 node3; do
  IDS[$n]=$(on "$n" "$MW" id $K)
  [[ ${IDS[$n]} =~ ^[0-9]+$ ]] || fail "msgget of key $K on $n: [${IDS[$n]}]"
done
line=$(ls_lines node1 msg $K) || fail "key $K not listed by dipc ls"
expect_eq "$(ls_owner "$line")" node2 "owner of key $K in dipc ls [$line]"

for n in node1 node3; do
  bg_on "$n" "$MW" recv $K 1 25 "$SCRATCH/owner.$n.pid"
  PIDS[$n]=$BG_PID
  OUTS[$n]=$BG_OUT
done
for n in node1 node3; do await_pid "$SCRATCH/owner.$n.pid"; done
sleep 1 # both calls are blocked at node2
for n in node1 node3; do
  bg_running "${PIDS[$n]}" || fail "receiver on $n ended early: $(cat "${OUTS[$n]}")"
done

dpid=$(tr -dc '0-9' <"$DIR/node2/dipcd.pid")
[[ -n "$dpid" && -d /proc/$dpid ]] || fail "node2's dipcd (pid file: [$dpid]) is not running"
log "kill -9 node2's dipcd (pid $dpid)"
t0=$(now_ms)
kill -KILL "$dpid"

# Note when each receiver ends (bounded: 15 s, polled every 20 ms).
for _ in $(seq 1 750); do
  for n in node1 node3; do
    if [[ -z ${DONE_MS[$n]:-} ]] && ! bg_running "${PIDS[$n]}"; then
      DONE_MS[$n]=$(($(now_ms) - t0))
    fi
  done
  [[ -n ${DONE_MS[node1]:-} && -n ${DONE_MS[node3]:-} ]] && break
  (($(now_ms) - t0 > 15000)) && break
  sleep 0.02
done
for n in node1 node3; do
  [[ -n ${DONE_MS[$n]:-} ]] || fail "receiver on $n still blocked 15 s after node2's dipcd died"
  rc=0
  bg_wait "${PIDS[$n]}" 5 || rc=$?
  log "receiver on $n: [$(cat "${OUTS[$n]}")] after ${DONE_MS[$n]} ms"
  expect_eq "$(cat "${OUTS[$n]}")" EIDRM "blocked msgrcv on $n after the owner died"
  expect_eq "$rc" 0 "exit status of the receiver on $n"
  ((DONE_MS[$n] <= BOUND_MS)) ||
    fail "receiver on $n took ${DONE_MS[$n]} ms to return, bound is $BOUND_MS ms"
done

for n in node1 node3; do
  expect_eq "$(on "$n" "$MW" send "id:${IDS[$n]}" 1 late)" EINVAL "msgsnd on the old id on $n"
  expect_eq "$(on "$n" "$MW" nbrecv "id:${IDS[$n]}" 1)" EINVAL "msgrcv on the old id on $n"
  expect_eq "$(on "$n" "$MW" get $K)" ENOENT "msgget of key $K on $n after its owner died"
  wait_for "ls_absent $n msg $K" 5 || fail "key $K still listed by dipc ls on $n"
done
