#!/usr/bin/env bash
# fail_stop: a node the cluster declared dead comes back as a new node (docs/errors.md).
#  - restart: node2's dipcd is killed (-9) and started again. The queue it owned is gone
#    from its kernel (the new dipcd removed it), so msgget(IPC_CREAT|IPC_EXCL) there makes a
#    new, empty queue instead of failing with EEXIST; node3's old id is dead (EINVAL).
#  - pause: node2's dipcd is stopped (SIGSTOP) past the peer time-out; meanwhile node3
#    creates the key node2 owned. When node2 resumes it starts over: its own object of that
#    key is removed (not left stranded in its kernel), and it finds node3's queue.
#  - a stalled link to the referee (dipc fault): both ends time out; node2 joins the same
#    run of the referee again, which had declared it dead, and starts over.
#  - the referee paused: it starts over itself (new incarnation, its own queue removed);
#    the other nodes re-register what they own, as after a referee restart, and keep it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 3 --set debug.fault_injection=true --heartbeat-ms 200 --peer-timeout-ms 1500

hexkey() { printf '0x%08x' "$1"; }
in_kernel() { on "$1" ipcs -q | grep -q "$(hexkey "$2")"; } # NODE KEY: a queue with KEY
starts_over() { grep -c "starts over as a new node" "$DIR/$1/dipcd.log" || true; }
joined() { [[ $(cat "$DIR/$1/run/state" 2>/dev/null) == joined ]]; }

log "restart: the new dipcd removes what its predecessor owned"
K1=9701
expect_eq "$(on node2 "$MW" mkq $K1 0666)" OK "queue $K1 created on node2"
expect_eq "$(on node2 "$MW" send $K1 1 before)" OK "a message in it"
ID3=$(on node3 "$MW" id $K1)
# 40 more made and removed: RUN_DIR/owned, a journal, records them made and gone, and is
# rewritten whole once it has grown past twice its live entries; either way it must still
# name K1 alone.
expect_eq "$(on node2 "$MW" mkqs 9720 40 0666)" OK "40 queues made on node2"
for k in $(seq 9720 9759); do
  [[ $(on node2 "$MW" rmid "$k") == OK ]] || fail "IPC_RMID of queue $k on node2"
done
restart_node node2 || fail "node2 did not rejoin after its restart"
in_kernel node2 $K1 && fail "the restarted dipcd left its predecessor's queue $K1 in the kernel"
grep -q "removed 1 objects a previous dipcd owned" "$DIR/node2/dipcd.log" ||
  fail "node2's log does not report the queue it removed"
expect_eq "$(on node3 "$MW" nbrecv "id:$ID3" 1)" EINVAL "node3's old id after node2 restarted"
expect_eq "$(on node2 "$MW" excl $K1)" WON "msgget(IPC_CREAT|IPC_EXCL) of $K1 on node2"
expect_eq "$(on node3 "$MW" nbrecv $K1 1)" ENOMSG "the new queue is empty"

log "pause past the time-out: node2 starts over when it resumes"
K2=9702
expect_eq "$(on node2 "$MW" mkq $K2 0666)" OK "queue $K2 created on node2"
expect_eq "$(on node2 "$MW" send $K2 1 old)" OK "a message in it"
n2=$(starts_over node2)
pid2=$(cat "$DIR/node2/dipcd.pid")
kill -STOP "$pid2"
if ! wait_for "ls_absent node3 msg $K2" 10; then
  kill -CONT "$pid2"
  fail "the referee still lists node2's queue $K2 while node2 is stopped"
fi
r=$(on node3 "$MW" excl $K2) || true
expect_eq "$r" WON "node3 creates $K2 while node2 is stopped" || kill -CONT "$pid2"
expect_eq "$(on node3 "$MW" send $K2 1 new)" OK "a message in node3's queue"
kill -CONT "$pid2"
wait_for "((\$(starts_over node2) > $n2))" 10 || fail "node2 did not start over after its pause"
grep -q "this node ran nothing for" "$DIR/node2/dipcd.log" || fail "node2 did not notice its stall"
in_kernel node2 $K2 && fail "node2's own queue $K2 is stranded in its kernel"
wait_for "joined node2" 10 || fail "node2 did not join again"
wait_for "[[ \$(on node2 '$MW' nbrecv $K2 1) == 'RECV 1 new' ]]" 10 ||
  fail "node2 does not reach node3's queue $K2"
expect_eq "$(ls_owner "$(ls_lines node1 msg $K2)")" node3 "owner of $K2"

log "a stalled link to the referee: node2 joins the referee that declared it dead"
K3=9703
wait_for "[[ \$(on node2 '$MW' mkq $K3 0666) == OK ]]" 10 || fail "queue $K3 not created on node2"
n2=$(starts_over node2)
on node2 "$DIPC" fault node1 stall
wait_for "((\$(starts_over node2) > $n2))" 15 || fail "node2 did not start over"
grep -q "the referee .* declared this node dead while it was away" "$DIR/node2/dipcd.log" ||
  fail "node2 does not say the referee declared it dead"
in_kernel node2 $K3 && fail "node2's queue $K3 is stranded in its kernel"
wait_for "joined node2" 10 || fail "node2 did not join again"
expect_eq "$(on node3 "$MW" get $K3 0666)" ENOENT "msgget of $K3 after node2 started over"

log "the referee paused: it starts over; the others keep their objects"
K4=9704 K5=9705
expect_eq "$(on node3 "$MW" mkq $K4 0666)" OK "queue $K4 created on node3"
expect_eq "$(on node3 "$MW" send $K4 1 kept)" OK "a message in it"
expect_eq "$(on node1 "$MW" mkq $K5 0666)" OK "queue $K5 created on node1 (the referee)"
n1=$(starts_over node1)
n3=$(starts_over node3)
dead3=$(grep -c "node node1 declared dead" "$DIR/node3/dipcd.log" || true)
pid1=$(cat "$DIR/node1/dipcd.pid")
kill -STOP "$pid1"
if ! wait_for "((\$(grep -c 'node node1 declared dead' '$DIR/node3/dipcd.log' || true) > $dead3))" 10; then
  kill -CONT "$pid1"
  fail "node3 did not declare the stopped referee dead"
fi
kill -CONT "$pid1"
wait_for "((\$(starts_over node1) > $n1))" 10 || fail "the referee did not start over"
in_kernel node1 $K5 && fail "the referee's own queue $K5 is stranded in its kernel"
wait_for "ls_has node2 msg $K4" 15 || fail "node3's queue $K4 is not registered again"
expect_eq "$(starts_over node3)" "$n3" "node3 started over although only the referee paused"
expect_eq "$(on node2 "$MW" nbrecv $K4 1)" "RECV 1 kept" "node3's message, through node2"
log "ok"
