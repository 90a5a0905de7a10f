#!/usr/bin/env bash
# isolation: what one caller does cannot harm dipcd or other callers.
#  - after calls that dipcd carried out as the unprivileged user nobody, every thread of
#    dipcd still has real uid 0, so nobody cannot signal (stop, kill) any of them;
#  - a process killed while blocked in a remote msgrcv takes no message, even when a child
#    it forked keeps its connection to dipcd open;
#  - GETALL from another node works for a caller allowed by the real object's mode, even
#    when the object changed owner after the placeholder was made.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
ST=$PROGS/semtool
cluster_up 3

# 1. Real uids of dipcd's threads.
expect_eq "$(on node1 "${NOBODY[@]}" "$MW" mkq 9601 0666)" OK "queue made by nobody on node1"
expect_eq "$(on node2 "${NOBODY[@]}" "$MW" send 9601 1 x)" OK "msgsnd by nobody from node2"
expect_eq "$(on node2 "${NOBODY[@]}" "$MW" nbrecv 9601 1)" "RECV 1 x" "msgrcv by nobody from node2"
expect_eq "$(on node1 "${NOBODY[@]}" "$MW" rmid 9601)" OK "IPC_RMID by nobody on node1"
for n in node1 node2; do
  pid=$(cat "$DIR/$n/dipcd.pid")
  bad=$(awk '/^Uid:/ && $2 != 0 {print FILENAME": "$0}' /proc/"$pid"/task/*/status || true)
  [[ -z "$bad" ]] || fail "a thread of $n's dipcd has a non-root real uid: $bad"
done

# 2. A killed process's blocked call is cancelled although its child holds the connection.
K=9602
expect_eq "$(on node2 "$MW" mkq $K 0666)" OK "queue $K on node2"
bg_on node3 "$PROGS/forkwait" $K "$SCRATCH/fw.pids"
wait_for "[[ -s '$SCRATCH/fw.pids' ]]" 10 || fail "forkwait did not start"
read -r parent child <"$SCRATCH/fw.pids"
sleep 0.5
kill -9 "$parent"
sleep 0.5
kill -0 "$child" 2>/dev/null || fail "the child should still be alive, holding the connection"
expect_eq "$(on node1 "$MW" send $K 1 precious)" OK "msgsnd after the receiver was killed"
sleep 0.3
expect_eq "$(on node2 "$MW" nbrecv $K 1)" "RECV 1 precious" "the message is still in the queue"
kill -9 "$child" 2>/dev/null || true

# 3. GETALL on a set whose owner changed after the placeholders were made.
expect_eq "$(on node2 "${NOBODY[@]}" "$ST" mk 9603 3 1)" OK "set 9603 made by nobody on node2"
expect_eq "$(on node3 "${NOBODY[@]}" "$ST" getval 9603 0)" 1 "GETVAL from node3 (placeholder made)"
expect_eq "$(on node2 "${NOBODY[@]}" "$ST" chown 9603 1 0600)" OK "IPC_SET to uid 1, mode 0600"
r=$(on node3 setpriv --reuid=1 --regid=1 --clear-groups "$ST" getall 9603)
expect_eq "$r" "1,1,1" "GETALL from node3 by the set's new owner"
