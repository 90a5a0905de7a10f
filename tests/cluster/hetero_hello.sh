#!/usr/bin/env bash
# hetero_hello: the hello pair between an x86-64 node and a big-endian s390x node (its dipcd
# and programs cross-built and run under qemu-user), both ways. Also: a message type wider
# than 32 bits, sent from each side, arrives as sent (types travel as 64-bit integers, not
# bytes); an errno made by one node's kernel reaches a program on the other by its meaning
# (ENOMSG, EINVAL); `cluster exec` on the s390x node runs an s390x program under qemu
# with the s390x shim, and a program of this machine natively; and `up --arch` refuses a
# node or architecture it does not know and a missing cross build before starting anything.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=heterolib.sh
source "$(dirname "${BASH_SOURCE[0]}")/heterolib.sh"
need_cross

# Refused before anything starts: an unknown node or architecture, a missing cross build.
refused() {
  local want=$1
  shift
  cluster_try_up 2 "$@" || true
  expect_eq "$UP_RC" 1 "exit status of up $*"
  grep -qF -- "$want" "$UP_OUT" || fail "up $* did not say [$want]: $(cat "$UP_OUT")"
  [[ ! -e "$DIR/node1/dipcd.pid" ]] || fail "up $* started a node before refusing"
}
refused "no node 'node3' in a cluster of 2 nodes" --arch node3=s390x
refused "unknown architecture 'mips' (known: s390x)" --arch node2=mips
refused "expected NODE=ARCH" --arch node2
DIPC_CROSS_DIR=$SCRATCH/none refused "no s390x build at $SCRATCH/none/s390x/sbin/dipcd" --arch 2=s390x

cluster_up_mixed 2 node2

# exec on node2: an s390x program really runs as one (its shim is what dipcd sees), while a
# program of this machine (ipcs) runs natively in node2's namespace.
expect_eq "$(on node2 "$XPROGS/shimcheck" whoami 2>&1)" "$(on node1 "$PROGS/shimcheck" whoami 2>&1)" \
  "shimcheck whoami on the s390x node says what it says on x86-64"
on node2 ipcs -q >/dev/null || fail "a native program (ipcs) did not run on node2"

hello_between() {
  local rx=$1 tx=$2 out sent rc
  log "hello1 on $rx, hello2 on $tx"
  bg_on "$rx" "$(example "$rx" hello1)"
  out=$BG_OUT
  wait_for "ls_has $tx msg 40" 20 || fail "key 40 never appeared in dipc ls on $tx"
  expect_eq "$(ls_owner "$(ls_lines "$tx" msg 40)")" "$rx" "owner of key 40"
  sent=$(on "$tx" "$(example "$tx" hello2)" 2>&1) || fail "hello2 on $tx failed: $sent"
  expect_eq "$sent" 'hello2: sent "Hello, Distributed Programming!"' "hello2 output on $tx"
  rc=0
  bg_wait "$BG_PID" 20 || rc=$?
  expect_eq "$rc" 0 "hello1 exit status on $rx"
  grep -qxF 'hello1: received "Hello, Distributed Programming!"' "$out" ||
    fail "hello1 on $rx did not print the received line: $(cat "$out" "$BG_ERR")"
  wait_for "ls_absent $tx msg 40" 10 || fail "key 40 still listed after hello1 removed it"
}
hello_between node1 node2
hello_between node2 node1

# 64-bit message types both ways, through a queue owned by each side in turn.
big=$((0x123456789))
for owner in node1 node2; do
  other=node1
  [[ $owner == node1 ]] && other=node2
  q=$((0x6701))
  expect_eq "$(on $owner "$(prog $owner msgwait)" mkq $q 0666)" OK "queue made on $owner"
  expect_eq "$(on $other "$(prog $other msgwait)" nbrecv $q 0)" ENOMSG "empty queue from $other"
  expect_eq "$(on $other "$(prog $other msgwait)" send $q $big wide)" OK "type $big sent from $other"
  expect_eq "$(on $owner "$(prog $owner msgwait)" count $q)" 1 "queue length on $owner"
  expect_eq "$(on $owner "$(prog $owner msgwait)" nbrecv $q $big)" "RECV $big wide" \
    "type $big from $other received on $owner"
  expect_eq "$(on $owner "$(prog $owner msgwait)" send $q $big back)" OK "type $big sent on $owner"
  expect_eq "$(on $other "$(prog $other msgwait)" nbrecv $q -$big)" "RECV $big back" \
    "type $big from $owner received on $other (msgtyp -$big)"
  id=$(on $other "$(prog $other msgwait)" id $q)
  expect_eq "$(on $owner "$(prog $owner msgwait)" rmid $q)" OK "queue removed on $owner"
  expect_eq "$(on $other "$(prog $other msgwait)" nbrecv "id:$id" 1)" EINVAL \
    "old id on $other after the owner removed it"
done
log "hello both ways, 64-bit types and errno names across x86-64 and $XARCH"
