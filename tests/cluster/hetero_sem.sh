#!/usr/bin/env bash
# hetero_sem: a semaphore mutex counter across mixed nodes. The mutex (one semaphore, value
# 1) is owned by the big-endian s390x node2 (dipcd under qemu-user), the counter queue by the
# x86-64 node1; node1, node2 and node3 (x86-64) each run N iterations of "P (SEM_UNDO); take
# the counter message (IPC_NOWAIT: under the lock it must be there); send counter+1; V",
# started together. The counter travels as decimal text (message contents are raw bytes,
# so a program that shares numbers across architectures converts them, as here). The final
# count must be exactly 3N, the mutex back at 1 with no waiter, read the same from either
# architecture; SETVAL and SETALL at the s390x owner set what was asked (semaphore values
# cross as integers, and the owner passes them to its kernel as its ABI wants); a P from
# x86-64 blocked at the s390x owner is woken with EIDRM by IPC_RMID.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=semlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
# shellcheck source=heterolib.sh
source "$(dirname "${BASH_SOURCE[0]}")/heterolib.sh"
need_cross

N=25 # qemu is slow: a small loop still interleaves the three nodes many times
cluster_up_mixed 3 node2

K=0x6801 # the mutex, owned by node2 (s390x)
Q=0x6802 # the counter, owned by node1 (x86-64)
expect_eq "$(on node2 "$(prog node2 semtool)" mk $K 1 1)" OK "mutex $K created on node2 with value 1"
expect_eq "$(on node1 "$MW" mkq $Q 0666)" OK "counter queue $Q created on node1"
expect_eq "$(on node3 "$MW" send $Q 1 0)" OK "counter 0 sent from node3"
expect_eq "$(ls_owner "$(ls_lines node3 sem $((K)))")" node2 "owner of the mutex"
expect_eq "$(on node2 "$(prog node2 semtool)" getval $K 0)" 1 "mutex value on its s390x owner"
expect_eq "$(on node3 "$ST" getval $K 0)" 1 "mutex value read from x86-64"

# SETVAL at the s390x owner: the kernel of a 64-bit big-endian machine takes union semun's
# int from the high half of the argument (a value passed as a plain long arrives as 0).
K2=0x6803
expect_eq "$(on node2 "$(prog node2 semtool)" mk $K2 2 0)" OK "set $K2 created on node2"
expect_eq "$(on node2 "$(prog node2 semtool)" setval $K2 1 3)" OK "SETVAL 3 from node2"
expect_eq "$(on node1 "$ST" setval $K2 0 7)" OK "SETVAL 7 from node1"
expect_eq "$(on node3 "$ST" getall $K2)" 7,3 "values of $K2 read from x86-64"
expect_eq "$(on node2 "$(prog node2 semtool)" getval $K2 0)" 7 "value 0 of $K2 on its s390x owner"
expect_eq "$(on node2 "$(prog node2 semtool)" rmid $K2)" OK "set $K2 removed"

run_lock_loops $K $Q $N 120 node1="$(prog node1 semtool)" node2="$(prog node2 semtool)" node3="$(prog node3 semtool)"
log "3 x $N locked increments across x86-64 and $XARCH in $LOCK_MS ms"

# The loops have exited; their SEM_UNDO adjustments (net 0) are applied at the owner.
wait_for "[[ \$(on node1 \"\$ST\" getval $K 0) == 1 ]]" 10 || fail "mutex not back at 1"
expect_eq "$(on node2 "$(prog node2 msgwait)" count $Q)" 1 "messages in the counter queue (from s390x)"
expect_eq "$(on node2 "$(prog node2 msgwait)" nbrecv $Q 1)" "RECV 1 $((3 * N))" "final count, read on s390x"
expect_eq "$(on node2 "$(prog node2 semtool)" getval $K 0)" 1 "mutex value on its s390x owner"
expect_eq "$(on node3 "$ST" ncnt $K 0)" 0 "waiters on the mutex"
# A P blocked on node3 (x86-64) at the s390x owner is woken with EIDRM by IPC_RMID there.
expect_eq "$(on node1 "$ST" op $K 0 -1 -)" OK "P from node1 (no SEM_UNDO: it stays taken)"
bg_on node3 "$ST" wait $K 0 20
p=$BG_PID
wait_for "[[ \$(on node2 \"\$(prog node2 semtool)\" ncnt $K 0) == 1 ]]" 15 || fail "node3 never blocked"
expect_eq "$(on node2 "$(prog node2 semtool)" rmid $K)" OK "mutex removed on node2, its owner"
bg_wait "$p" 20 || true
expect_eq "$(cat "$BG_OUT")" EIDRM "blocked P on node3 after IPC_RMID of the s390x-owned mutex"
expect_eq "$(on node1 "$MW" rmid $Q)" OK "queue removed on node1, its owner"
