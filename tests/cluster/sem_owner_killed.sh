#!/usr/bin/env bash
# sem_owner_killed: fail-stop for semaphores. When the owner node's dipcd dies, callers
# blocked in semop on its set get EIDRM within the peer time-out, and the set is gone.
# Three nodes, heartbeat 200 ms, peer time-out 2000 ms; the set (value 0) is owned by
# node2; P blocks on node1 and on node3 (GETNCNT on the owner shows both); node2's dipcd is
# killed with SIGKILL. Both callers must print EIDRM within peer time-out + 2 s; later
# semop/semctl on the old ids give EINVAL, semget of the key ENOENT, dipc ls no longer
# lists it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=semlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"

PEER_TIMEOUT_MS=2000
BOUND_MS=$((PEER_TIMEOUT_MS + 2000))
cluster_up 3 --heartbeat-ms 200 --peer-timeout-ms $PEER_TIMEOUT_MS

K=0x6801
expect_eq "$(on node2 "$ST" mk $K 1 0)" OK "set $K created on node2"
declare -A IDS PIDS OUTS DONE_MS
for n in node1 node3; do
  IDS[$n]=$(on "$n" "$ST" id $K)
  [[ ${IDS[$n]} =~ ^[0-9]+$ ]] || fail "semget of key $K on $n: [${IDS[$n]}]"
done
line=$(ls_lines node1 sem $((K))) || fail "key $K not listed by dipc ls"
expect_eq "$(ls_owner "$line")" node2 "owner of key $K in dipc ls [$line]"

for n in node1 node3; do
  bg_on "$n" "$ST" wait "id:${IDS[$n]}" 0 25 "$SCRATCH/owner.$n.pid"
  PIDS[$n]=$BG_PID
  OUTS[$n]=$BG_OUT
done
for n in node1 node3; do await_prog "$SCRATCH/owner.$n.pid"; done
wait_for "[[ \$(on node2 '$ST' ncnt $K 0) == 2 ]]" 5 ||
  fail "GETNCNT on node2: expected 2 waiters, got [$(on node2 "$ST" ncnt $K 0)]"
for n in node1 node3; do
  bg_running "${PIDS[$n]}" || fail "waiter on $n ended early: $(cat "${OUTS[$n]}")"
done

dpid=$(dipcd_pid node2)
log "kill -9 node2's dipcd (pid $dpid)"
t0=$(now_ms)
kill -KILL "$dpid"

# Note when each waiter ends (bounded: 15 s, polled every 20 ms).
for i in $(seq 1 750); do
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
  [[ -n ${DONE_MS[$n]:-} ]] || fail "waiter on $n still blocked 15 s after node2's dipcd died"
  rc=0
  bg_wait "${PIDS[$n]}" 5 || rc=$?
  log "waiter on $n: [$(cat "${OUTS[$n]}")] after ${DONE_MS[$n]} ms"
  expect_eq "$(cat "${OUTS[$n]}")" EIDRM "blocked semop on $n after the owner died"
  expect_eq "$rc" 0 "exit status of the waiter on $n"
  ((DONE_MS[$n] <= BOUND_MS)) ||
    fail "waiter on $n took ${DONE_MS[$n]} ms to return, bound is $BOUND_MS ms"
done

for n in node1 node3; do
  expect_eq "$(on "$n" "$ST" op "id:${IDS[$n]}" 0 1)" EINVAL "semop V on the old id on $n"
  expect_eq "$(on "$n" "$ST" op "id:${IDS[$n]}" 0 -1 n)" EINVAL "semop P IPC_NOWAIT on the old id on $n"
  expect_eq "$(on "$n" "$ST" getval "id:${IDS[$n]}" 0)" EINVAL "semctl GETVAL on the old id on $n"
  expect_eq "$(on "$n" "$ST" id $K)" ENOENT "semget of key $K on $n after its owner died"
  wait_for "ls_absent $n sem $((K))" 5 || fail "key $K still listed by dipc ls on $n"
done
