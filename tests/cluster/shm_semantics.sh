#!/usr/bin/env bash
# shm_semantics: the shared-memory calls on a distributed segment behave as on plain Linux,
# from the owner and from other nodes, and the kernel's own accesses and forked children
# stay coherent:
#   - shmget: IPC_CREAT|IPC_EXCL across the cluster (EEXIST elsewhere), a size above the
#     segment's is EINVAL, a smaller one is found, size 0 is EINVAL (SHMMIN);
#   - shmat address rules (shmaddr, SHM_RND, SHM_REMAP, overlap) and shmdt, compared with
#     the same program on plain Linux;
#   - SHM_RDONLY: reads see the data, a store raises SIGSEGV;
#   - write(2) from and read(2) into the segment on node2, checked from node3; msgsnd from
#     and msgrcv into it through a distributed queue;
#   - a forked child on node3 reads and writes coherently;
#   - SHM_REMAP of a one-page segment inside a larger attachment on node2 cuts it in two
#     pieces: shm_nattch counts each (2, 4 with a forked child), the child reads and writes
#     both pieces and the page put in between, shmdt detaches the right one: all as on
#     plain Linux (the same program, compared);
#   - threads of one process on node2, each on its own page;
#   - two processes on node2 and one on node3 take turns on one page.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

# shellcheck disable=SC2016  # expanded by the inner bash
ref_addr=$(plain bash -c '"$1" mk 0x7501 100000 >/dev/null && "$1" addr 0x7501' bash "$SHM")
# shellcheck disable=SC2016
ref_pieces=$(plain bash -c '"$1" mk 0x7504 65536 >/dev/null && "$1" mk 0x7505 4096 >/dev/null &&
  "$1" put 0x7504 32768 41 >/dev/null && "$1" put 0x7505 0 9 >/dev/null &&
  "$1" pieces 0x7504 0x7505' bash "$SHM")
[[ $ref_pieces == "cut=2/1 child=4/2 after=2/1 stores=42/10 "* ]] ||
  fail "plain Linux's pieces run is not what this test expects: $ref_pieces"
cluster_up 3
for n in node1 node2 node3; do dsm_debug $n; done
K=0x7501
shm_mk node1 $K 100000
expect_eq "$(on node2 "$SHM" mk $K 100000 01666)" OK "IPC_CREAT of an existing key on node2"
expect_eq "$(on node2 "$SHM" get $K 200000)" EINVAL "a size above the segment's on node2"
expect_eq "$(on node3 "$SHM" get $K 4096)" OK "a smaller size on node3"
# IPC_EXCL (02000) with IPC_CREAT: the key exists in the cluster.
expect_eq "$(on node3 "$SHM" mk $K 4096 02666)" EEXIST "IPC_CREAT|IPC_EXCL on node3"
# SHMMIN: a new segment of size 0 is refused, as on plain Linux.
expect_eq "$(plain "$SHM" mk 0x7509 0)" EINVAL "size 0 on plain Linux"
expect_eq "$(on node2 "$SHM" mk 0x7509 0)" EINVAL "size 0 on node2"

for n in node1 node2; do
  expect_eq "$(on $n "$SHM" addr $K)" "$ref_addr" "shmat address rules on $n (as plain Linux)"
done

expect_eq "$(on node1 "$SHM" put $K 16 4242)" OK "store on the owner"
expect_eq "$(on node2 "$SHM" peekro $K 16)" 4242 "SHM_RDONLY read on node2"
expect_eq "$(on node2 "$SHM" storero $K 16)" SIGSEGV "SHM_RDONLY store on node2"
expect_eq "$(on node1 "$SHM" storero $K 16)" SIGSEGV "SHM_RDONLY store on the owner"
expect_eq "$(on node3 "$SHM" peek $K 16)" 4242 "value unchanged after the refused stores"

expect_eq "$(on node2 "$SHM" sys $K)" OK "write(2) from and read(2) into the segment on node2"
expect_eq "$(on node3 "$SHM" syscheck $K)" OK "what read(2) stored, seen from node3"
expect_eq "$(on node1 "$MW" mkq 0x7510 0666)" OK "a distributed queue owned by node1"
expect_eq "$(on node3 "$SHM" msg $K 0x7510)" OK "msgsnd from and msgrcv into the segment on node3"
expect_eq "$(on node1 "$SHM" msg $K 0x7510)" OK "the same on the owner of both"

expect_eq "$(on node1 "$SHM" put $K 64 77)" OK "value for the child"
expect_eq "$(on node3 "$SHM" fork $K 64)" 78 "forked child on node3 read 77 and stored 78"
expect_eq "$(on node1 "$SHM" peek $K 72)" 78 "the child's store, seen on the owner"

shm_mk node1 0x7504 65536
shm_mk node1 0x7505 4096
expect_eq "$(on node1 "$SHM" put 0x7504 32768 41)" OK "value past the cut, on the owner"
expect_eq "$(on node1 "$SHM" put 0x7505 0 9)" OK "value of the page put in between"
expect_eq "$(on node2 "$SHM" pieces 0x7504 0x7505)" "$ref_pieces" \
  "an attachment on node2 cut in two by SHM_REMAP, with a forked child (as plain Linux)"
expect_eq "$(on node1 "$SHM" peek 0x7504 40960)" 42 "the child's store past the cut, seen on the owner"
expect_eq "$(on node3 "$SHM" peek 0x7505 8)" 10 "the child's store in between, seen on node3"

K2=0x7502
shm_mk node3 $K2 $((16 * 4096))
expect_eq "$(on node2 "$SHM" threads $K2 8)" 8000 "8 threads on node2, 1000 stores each"
expect_eq "$(on node1 "$SHM" sumpages $K2 8)" 8000 "their pages, seen from node1"

K3=0x7503
shm_mk node1 $K3 4096
N=200
bg_on_t 60 node2 "$SHM" turns $K3 0 $N 3
p0=$BG_PID o0=$BG_OUT
bg_on_t 60 node2 "$SHM" turns $K3 1 $N 3
p1=$BG_PID o1=$BG_OUT
bg_on_t 60 node3 "$SHM" turns $K3 2 $N 3
p2=$BG_PID o2=$BG_OUT
for p in $p0 $p1 $p2; do bg_wait "$p" 60 || fail "a player failed: $(cat "$o0" "$o1" "$o2")"; done
expect_eq "$(cat "$o0" "$o1" "$o2" | tr '\n' ' ')" "DONE $N DONE $N DONE $N " "three players"
expect_eq "$(on node1 "$SHM" peek $K3 0)" $((3 * N)) "turns taken by two processes on node2 and one on node3"
