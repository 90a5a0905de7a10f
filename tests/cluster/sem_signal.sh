#!/usr/bin/env bash
# sem_signal: signals and removal for a process blocked in a remote semop, as on Linux.
# 1. The set (value 0) lives on node1. A P blocked on node2 that gets SIGUSR1 (handler
#    without SA_RESTART) returns EINTR and leaves nothing behind at the owner: no waiter
#    (GETNCNT 0), the value is unchanged, a V from node1 stays there (value 1) and a new P
#    from node2 takes it. The same EINTR check on the owner itself.
# 2. Race between a V and the signal: 24 rounds in which a process on node1 does V and
#    signals the P blocked on node2 microseconds apart (the order and gap vary, from the
#    signal 1950 us before the V to 1500 us after it); every round the P returns OK and the
#    value is 0, or EINTR and the value is 1 (a unit the owner took for an interrupted caller
#    is never lost or counted twice).
# 3. IPC_RMID from node3 while a P waits on node2 (and one on node1, the owner): both get
#    EIDRM; later calls on node2's old id give EINVAL. The set is made and removed by
#    nobody (a remote root acts as nobody at the owner unless remote_root = true).
# 4. A P blocked on node2 whose process is killed with SIGKILL leaves nothing at the owner:
#    no waiter, and a later V stays (with and without SEM_UNDO).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=semlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"

cluster_up 3

# ncnt_is NODE KEY N: GETNCNT of semaphore 0 of KEY on NODE is N (predicate for wait_for).
ncnt_is() { [[ "$(on "$1" "$ST" ncnt "$2" 0 2>/dev/null)" == "$3" ]]; }

K=0x6901
expect_eq "$(on node1 "$ST" mk $K 1 0)" OK "set $K created on node1"

# 1. EINTR on node2 (remote) and on node1 (owner).
for node in node2 node1; do
  pf=$SCRATCH/intr.$node.pid
  bg_on "$node" "$ST" wait $K 0 25 "$pf"
  p=$BG_PID
  out=$BG_OUT
  await_prog "$pf"
  wait_for "ncnt_is node1 $K 1" 5 ||
    fail "the P on $node is not waiting at the owner (GETNCNT [$(on node1 "$ST" ncnt $K 0)])"
  bg_running "$p" || fail "P on $node ended before the signal: $(cat "$out")"
  log "SIGUSR1 to the P on $node (pid $PROG_PID)"
  signal_prog USR1 "$PROG_PID"
  rc=0
  bg_wait "$p" 10 || rc=$?
  expect_eq "$(cat "$out")" EINTR "result of the interrupted semop on $node"
  expect_eq "$rc" 0 "exit status of the interrupted P on $node"
  expect_val node1 $K 0 0 "value after the interrupted P on $node"
  wait_for "ncnt_is node1 $K 0" 5 ||
    fail "a waiter is left at the owner after the EINTR on $node (GETNCNT [$(on node1 "$ST" ncnt $K 0)])"
done
expect_eq "$(on node1 "$ST" op $K 0 1)" OK "V on node1 after the EINTRs"
sleep 0.5
expect_val node1 $K 0 1 "value after V (nothing left behind took it)"
expect_eq "$(on node2 "$ST" op $K 0 -1 n)" OK "new P (IPC_NOWAIT) from node2"
expect_val node2 $K 0 0 "value after the new P"
bg_on node2 "$ST" wait $K 0 25
p=$BG_PID
wait_for "ncnt_is node1 $K 1" 5 || fail "blocking P from node2 is not waiting"
expect_eq "$(on node1 "$ST" op $K 0 1)" OK "V on node1 for the blocked P"
bg_wait "$p" 10 || true
expect_eq "$(cat "$BG_OUT")" OK "blocking P from node2 after V on node1"
expect_val node1 $K 0 0 "value at the end of part 1"

# 2. Race between V and the signal. After each round the value is checked and set back to 0,
# so that every round starts with a P that really waits at the owner.
K2=0x6902
expect_eq "$(on node1 "$ST" mk $K2 1 0)" OK "set $K2 created on node1"
ROUNDS=24
oks=0
intr=0
for i in $(seq 1 $ROUNDS); do
  pf=$SCRATCH/race.$i.pid
  bg_on node2 "$ST" wait $K2 0 25 "$pf"
  rp=$BG_PID
  rout=$BG_OUT
  await_prog "$pf"
  wait_for "ncnt_is node1 $K2 1" 5 ||
    fail "round $i: the P on node2 is not waiting at the owner ($(cat "$rout"))"
  [[ -n "$PROG_PID" ]] || fail "round $i: the P on node2 ended before the signal: $(cat "$rout")"
  delay_us=$(((i - 14) * 150))
  r=$(on node1 "$ST" opsig $K2 0 1 "$PROG_PID" "$delay_us" 2>&1) ||
    fail "round $i: semtool opsig on node1 failed: $r"
  expect_eq "$r" OK "round $i: V on node1"
  rc=0
  bg_wait "$rp" 20 || rc=$?
  r=$(cat "$rout")
  expect_eq "$rc" 0 "round $i: exit status of the P (output [$r])"
  wait_for "ncnt_is node1 $K2 0" 5 || fail "round $i: a waiter is left at the owner"
  left=$(on node1 "$ST" getval $K2 0)
  case $r in
  OK)
    oks=$((oks + 1))
    expect_eq "$left" 0 "round $i (signal ${delay_us} us after the V): value after a P that succeeded"
    ;;
  EINTR)
    intr=$((intr + 1))
    expect_eq "$left" 1 "round $i (signal ${delay_us} us after the V): value after an interrupted P"
    ;;
  *) fail "round $i (signal ${delay_us} us after the V): P printed [$r], expected OK or EINTR" ;;
  esac
  expect_eq "$(on node1 "$ST" setval $K2 0 0)" OK "round $i: SETVAL 0"
done
log "race: $ROUNDS rounds, P OK $oks, EINTR $intr"

# 3. IPC_RMID from node3 while P waits on node2 and on node1.
K3=0x6903
expect_eq "$(on node1 "${NOBODY[@]}" "$ST" mk $K3 1 0)" OK "set $K3 created on node1 by nobody"
id2=$(on node2 "$ST" id $K3)
[[ $id2 =~ ^[0-9]+$ ]] || fail "semget of key $K3 on node2: [$id2]"
declare -A PIDS OUTS
for n in node2 node1; do
  bg_on "$n" "$ST" wait $K3 0 25 "$SCRATCH/rmid.$n.pid"
  PIDS[$n]=$BG_PID
  OUTS[$n]=$BG_OUT
  await_prog "$SCRATCH/rmid.$n.pid"
done
wait_for "ncnt_is node1 $K3 2" 5 ||
  fail "GETNCNT on node1: expected 2 waiters, got [$(on node1 "$ST" ncnt $K3 0)]"
expect_eq "$(on node3 "${NOBODY[@]}" "$ST" rmid $K3)" OK "IPC_RMID from node3 (as nobody)"
for n in node2 node1; do
  rc=0
  bg_wait "${PIDS[$n]}" 10 || rc=$?
  expect_eq "$(cat "${OUTS[$n]}")" EIDRM "P blocked on $n when the set was removed"
  expect_eq "$rc" 0 "exit status of the P on $n"
done
expect_eq "$(on node2 "$ST" op "id:$id2" 0 1)" EINVAL "semop on the removed set's old id on node2"
expect_eq "$(on node2 "$ST" id $K3)" ENOENT "semget of the removed key on node2"
wait_for "ls_absent node2 sem $((K3))" 5 || fail "key $K3 still listed by dipc ls"

# 4. A P blocked on node2 whose process is killed (SIGKILL) leaves nothing behind at the
#    owner: the waiter is gone (GETNCNT 0) and a later V stays (value 1), with or without
#    SEM_UNDO.
K4=0x6904
expect_eq "$(on node1 "$ST" mk $K4 1 0)" OK "set $K4 created on node1"
for how in plain undo; do
  pf=$SCRATCH/kill.$how.pid
  if [[ $how == plain ]]; then
    bg_on node2 "$ST" wait $K4 0 25 "$pf"
  else
    # hold writes its pid file only once it holds: found by its command line instead.
    bg_on node2 "$ST" hold $K4 0 "$pf.held" 25
  fi
  p=$BG_PID
  wait_for "ncnt_is node1 $K4 1" 5 || fail "$how: the P on node2 is not waiting at the owner"
  if [[ $how == plain ]]; then
    await_prog "$pf"
    victim=$PROG_PID
  else
    victim=$(pgrep -f -- "^[^ ]*semtool hold $K4 0 $pf.held" | head -n 1) || true
  fi
  [[ -n "$victim" ]] || fail "$how: cannot find the blocked semtool on node2"
  log "$how: kill -9 the P blocked on node2 (pid $victim)"
  kill -KILL "$victim"
  bg_wait "$p" 10 || true
  wait_for "ncnt_is node1 $K4 0" 5 ||
    fail "$how: the killed P still waits at the owner (GETNCNT [$(on node1 "$ST" ncnt $K4 0)])"
  expect_eq "$(on node3 "$ST" op $K4 0 1)" OK "$how: V from node3 after the P was killed"
  sleep 1
  expect_val node1 $K4 0 1 "$how: value after V (the killed P took nothing)"
  expect_eq "$(on node1 "$ST" setval $K4 0 0)" OK "$how: SETVAL 0"
done
