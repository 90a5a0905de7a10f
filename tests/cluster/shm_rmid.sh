#!/usr/bin/env bash
# shm_rmid: IPC_RMID of a segment attached on two nodes. Before: IPC_STAT from any node
# counts both attachments. The removal (from node2, a holder) frees the key at once in the
# whole cluster, while the owner's System V segment shows SHM_DEST; the attached processes
# keep reading it (through the owner) until they detach, and once the last one has, the
# owner's segment is gone. exec detaches like exit. The segment is made and removed by the
# user nobody (remote root is not root), from two nodes; IPC_SET and IPC_STAT are made at
# the owner as the caller.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

cluster_up 3
for n in node1 node2 node3; do dsm_debug $n; done
K=0x7901
expect_eq "$(on node1 "${NOBODY[@]}" "$SHM" mk $K 8192)" OK "segment made by nobody on node1"
for n in node2 node3; do
  wait_for "[[ \$(on $n '$SHM' get $K 0) == OK ]]" 10 || fail "segment $K not found on $n"
done
expect_eq "$(on node1 "$SHM" put $K 0 9)" OK "value stored on the owner"
f2=$SCRATCH/att2 f3=$SCRATCH/att3
bg_on_t 60 node2 "$SHM" attwait $K "$f2"
p2=$BG_PID o2=$BG_OUT
bg_on_t 60 node3 "$SHM" attwait $K "$f3"
p3=$BG_PID o3=$BG_OUT
wait_for "[[ -e '$f2' && -e '$f3' ]]" 15 || fail "attachments not made"
wait_for "[[ \$(on node1 '$SHM' stat $K) == 'nattch=2 dest=0 size=8192' ]]" 10 ||
  fail "IPC_STAT on the owner: $(on node1 "$SHM" stat $K)"
expect_eq "$(on node3 "$SHM" stat $K)" "nattch=2 dest=0 size=8192" "IPC_STAT on node3"
# IPC_SET from another node is made at the owner, as the caller (remote root is nobody
# there, which owns this segment; the creator's other user is refused).
expect_eq "$(on node3 "${NOBODY[@]}" "$SHM" setmode $K 640)" 640 "IPC_SET of the mode by nobody from node3"
expect_eq "$(on node1 "$SHM" setmode $K 660)" 660 "IPC_SET on the owner by root"
expect_eq "$(on node2 setpriv --reuid=daemon --regid=daemon --clear-groups "$SHM" setmode $K 666)" EACCES \
  "IPC_STAT from node2 by daemon, who may not read it (mode 660, owner nobody)"
# exec detaches: a third process on node2 attaches, then execs a program that attaches
# nothing; while it still runs, the count is back to 2.
fx=$SCRATCH/execd
bg_on_t 30 node2 "$SHM" execsleep $K "$fx"
px=$BG_PID
wait_for "[[ -e '$fx' ]]" 15 || fail "execsleep did not attach"
wait_for "[[ \$(on node1 '$SHM' stat $K) == 'nattch=3 dest=0 size=8192' ]]" 10 ||
  fail "the third attachment is not counted: $(on node1 "$SHM" stat $K)"
rm -f "$fx"
wait_for "[[ \$(on node1 '$SHM' stat $K) == 'nattch=2 dest=0 size=8192' ]]" 10 ||
  fail "the exec'd process still counts as attached: $(on node1 "$SHM" stat $K)"
bg_running $px || fail "the exec'd program ended too early to tell"
expect_eq "$(on node2 "${NOBODY[@]}" "$SHM" rmid $K)" OK "IPC_RMID from node2 by nobody"
expect_eq "$(on node3 "$SHM" get $K 0)" ENOENT "the key after IPC_RMID, on node3"
expect_eq "$(on node1 "$SHM" get $K 0)" ENOENT "the key after IPC_RMID, on the owner"
on node1 ipcs -m | grep -q dest || fail "the owner's segment does not show SHM_DEST: $(on node1 ipcs -m)"
expect_eq "$(on node1 "$SHM" mk $K 4096)" OK "a new segment with the same key"
rm -f "$f2"
bg_wait $p2 30 || fail "attached process on node2: $(cat "$o2")"
expect_eq "$(cat "$o2")" 9 "node2 still reads the removed segment"
on node1 ipcs -m | grep -q dest || fail "destroyed while node3 still has it attached"
rm -f "$f3"
bg_wait $p3 30 || fail "attached process on node3: $(cat "$o3")"
expect_eq "$(cat "$o3")" 9 "node3 still reads the removed segment"
wait_for "! on node1 ipcs -m | grep -q dest" 10 || fail "the owner's segment outlived its last detach"
