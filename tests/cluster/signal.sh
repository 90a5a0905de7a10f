#!/usr/bin/env bash
# signal: a signal to a process blocked in a remote msgrcv behaves as on Linux.
# The queue lives on node1. A msgrcv blocked on node2 that gets SIGUSR1 (handler without
# SA_RESTART) returns EINTR; the interrupted call leaves nothing behind at the owner: a
# message sent afterwards stays queued and a new receiver on node2 gets it. The same EINTR
# check is made on the owner itself. Then a race: 30 rounds in which one process on node1
# sends a message and signals the receiver blocked on node2 microseconds apart (order and
# gap vary); every round the receiver gets a message or EINTR (the message then stays
# queued), and in the end messages sent = messages received + messages left in the queue,
# each message exactly once: a message the owner took for an interrupted caller is
# delivered, never dropped or duplicated.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2

signal_prog() { # SIG PID: only if PID still runs msgwait
  if [[ -r /proc/$2/cmdline ]] && tr '\0' ' ' <"/proc/$2/cmdline" | grep -q msgwait; then
    kill -s "$1" "$2" 2>/dev/null || true
  fi
}

K=7101
expect_eq "$(on node1 "$MW" mkq $K 0666)" OK "msgget IPC_CREAT on node1"

# 1. EINTR for a blocked receiver, on node2 (remote) and on node1 (owner).
for node in node2 node1; do
  pf=$SCRATCH/intr.$node.pid
  bg_on "$node" "$MW" recv $K 1 25 "$pf"
  p=$BG_PID
  out=$BG_OUT
  await_pid "$pf"
  sleep 1 # let the call reach the owner and block there
  bg_running "$p" || fail "receiver on $node ended before the signal: $(cat "$out")"
  log "SIGUSR1 to the receiver on $node (pid $PROG_PID)"
  signal_prog USR1 "$PROG_PID"
  rc=0
  bg_wait "$p" 10 || rc=$?
  expect_eq "$(cat "$out")" EINTR "result of the interrupted msgrcv on $node"
  expect_eq "$rc" 0 "exit status of the interrupted receiver on $node"
done

# 2. Nothing lost: no leftover receiver at the owner takes the next message.
expect_eq "$(on node1 "$MW" send $K 1 after-signal)" OK "msgsnd on node1 after the EINTR"
sleep 0.5
expect_eq "$(on node1 "$MW" count $K)" 1 "messages queued at the owner after the interrupted receive"
expect_eq "$(on node2 "$MW" recv $K 1 10)" "RECV 1 after-signal" "msgrcv on node2 after the EINTR"
expect_eq "$(on node1 "$MW" count $K)" 0 "messages queued at the owner at the end of part 2"

# 3. Race between a message and a signal. Each round, msgwait sendsig on node1 (the owner)
# sends a message and signals the receiver blocked on node2 from one process, microseconds
# apart: the signal goes DELAY_US before (negative) or after the send, from 5 ms before to
# 2 ms after, densest around 0, so that some rounds interrupt before the message exists,
# some land while the owner is handing the message over, and some after it was delivered.
K2=7201
expect_eq "$(on node1 "$MW" mkq $K2 0666)" OK "msgget IPC_CREAT on node1 (race queue)"
DELAYS_US=(-5000 -3000 -2000 -1500 -1000 -800 -600 -500 -400 -300 -250 -200 -150 -100 -75
  -50 -25 0 25 50 75 100 150 200 300 400 600 800 1000 2000)
ROUNDS=${#DELAYS_US[@]}
sent=0
intr=0
texts=()
leftover=()
for i in $(seq 1 "$ROUNDS"); do
  pf=$SCRATCH/race.$i.pid
  bg_on node2 "$MW" recv $K2 2 25 "$pf"
  rp=$BG_PID
  rout=$BG_OUT
  await_pid "$pf"
  sleep 0.3 # blocked at the owner (the queue is empty at the start of every round)
  delay_us=${DELAYS_US[$((i - 1))]}
  r=$(on node1 "$MW" sendsig $K2 2 "r$i" "$PROG_PID" "$delay_us" 2>&1) ||
    fail "round $i: msgwait sendsig on node1 failed: $r"
  expect_eq "$r" OK "round $i: msgsnd of r$i on node1"
  sent=$((sent + 1))
  rc=0
  bg_wait "$rp" 20 || rc=$?
  r=$(cat "$rout")
  expect_eq "$rc" 0 "round $i: exit status of the receiver (output [$r])"
  case $r in
  "RECV 2 r"*) texts+=("${r#RECV 2 }") ;;
  EINTR) intr=$((intr + 1)) ;;
  *) fail "round $i (signal ${delay_us} us after the send): receiver printed [$r], expected a message or EINTR" ;;
  esac
  # Whatever the round left in the queue is taken out at the owner, so that the next
  # receiver blocks again (it would otherwise just pick up the leftover).
  left=""
  for _ in 1 2 3 4 5; do
    q=$(on node1 "$MW" nbrecv $K2 2)
    case $q in
    "RECV 2 r"*)
      leftover+=("${q#RECV 2 }")
      left+=" ${q#RECV 2 }"
      ;;
    ENOMSG) break ;;
    *) fail "round $i: draining the race queue at the owner: [$q]" ;;
    esac
  done
  log "round $i: signal ${delay_us} us after the send: [$r], left in the queue:${left:- none}"
  [[ ($r == EINTR && $left == " r$i") || ($r == "RECV 2 r$i" && -z $left) ]] ||
    fail "round $i: receiver got [$r] and the queue held [${left# }]: r$i lost or doubled"
done
received=${#texts[@]}
queued=${#leftover[@]}
log "race: sent $sent, received $received (EINTR $intr), left in the queue $queued"
expect_eq "$((received + queued))" "$sent" "messages received + left in the queue vs sent"
expect_eq "$(printf '%s\n' "${texts[@]}" "${leftover[@]}" | sort -V | tr '\n' ' ')" \
  "$(seq -f 'r%g' 1 "$ROUNDS" | tr '\n' ' ')" "messages received or left over, each once"
expect_eq "$(on node1 "$MW" count $K2)" 0 "race queue empty at the end"
