#!/usr/bin/env bash
# fork_threads: the shim's connection to dipcd under fork, threads and descriptor games.
#
# A 2-node cluster; each scenario uses its own queue, created on node1 (the owner) and used
# from node2, where every call travels shim -> node2's dipcd -> node1. The programs
# (shimcheck) also read node2's local placeholder straight from the kernel: it must stay
# empty, so the calls really went to the owner.
#  (a) forks: the parent talks to dipcd, then forks 6 children that each do 15 msgsnd/msgrcv
#      round trips on the remote queue (own message type; a child must open its own
#      connection, not reuse the parent's) while the parent does its own; every child
#      leaves one "done" message, the parent counts them exactly; queue empty at the end.
#  (b) threads: 8 threads block in msgrcv at the owner at the same time (each its own type),
#      are woken by the main thread, then pass 40 rounds of messages round a ring; every
#      message arrives once, in order; bounded by alarm().
#  (b2) threadids: a queue of daemon's (uid 1), mode 0600. On node2 the main thread becomes
#      daemon; a second thread calls as daemon, then turns its own effective ids (only its
#      own) to nobody: its call fails with EACCES at the owner while the main thread's goes
#      through; then the other way round. Each call is made with the ids of the thread that
#      makes it, at that call, as on Linux.
#  (c) closefds: every descriptor 3..1023 closed between remote calls: the shim reconnects.
#  (d) dupfds: after a remote call a file is dup2'd onto every descriptor 3..1023; further
#      remote calls work, every descriptor still is the file, and the file is unchanged
#      (no protocol bytes written into it). The same with one end of a socket pair dup2'd
#      onto every descriptor (dupsock): there a stray send would succeed, so the other end
#      must receive nothing.
#  (e) forkdup: (d) in a forked child whose parent had a connection: the child's remote call
#      works and closes none of the child's descriptors.
#  (f) threadexit: a thread that talked to dipcd exits after the program dup2'd a file onto
#      every descriptor: none of the program's descriptors is closed by that.
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

CHECK=$PROGS/shimcheck
[[ -x "$CHECK" ]] || fail "$CHECK is missing: build first (DIPC_BUILD=$DIPC_BUILD)"

cluster_up 2

# long_on NODE CMD...: like "on", with more time for the bigger scenarios.
long_on() {
  local node=$1
  shift
  timeout 120 "$DIPC" cluster exec "$node" --dir "$DIR" -- "$@" </dev/null
}

# A fresh queue with key KEY owned by node1, seen from node2.
make_queue() {
  local key=$1 r line owner
  r=$(on node1 "$PROGS/msgwait" mkq "$key" 0666) || fail "msgwait mkq $key on node1 failed"
  expect_eq "$r" OK "msgget($key, IPC_DIPC|IPC_CREAT) on node1"
  r=$(on node2 "$PROGS/msgwait" get "$key") || fail "msgwait get $key on node2 failed"
  expect_eq "$r" OK "msgget($key, IPC_DIPC) on node2"
  line=$(ls_lines node2 msg "$key") || fail "dipc ls on node2 does not list key $key"
  owner=$(ls_owner "$line")
  expect_eq "$owner" node1 "owner of key $key [$line]"
}

# run_case NAME KEY ARGS...: shimcheck NAME KEY ARGS... on node2; must print "NAME OK...".
# A failure is recorded (FAILED) and the next scenario still runs, so one run shows them all.
FAILED=()
run_case() {
  local name=$1 key=$2 out rc=0
  shift 2
  log "($name) shimcheck $name $key $*"
  out=$(long_on node2 "$CHECK" "$name" "$key" "$@" 2>&1) || rc=$?
  printf '%s\n' "$out" | sed "s/^/  [$name] /" >&2
  if ((rc != 0)) || ! grep -q "^$name OK" <<<"$out"; then
    log "($name) FAILED: shimcheck exited with $rc"
    FAILED+=("$name")
    return 0
  fi
  # Nothing left at the owner.
  out=$(on node1 "$PROGS/msgwait" count "$key") || fail "msgwait count $key on node1 failed"
  if [[ "$out" != 0 ]]; then
    log "($name) FAILED: $out messages left in queue $key at the owner"
    FAILED+=("$name")
  fi
}

# same_file NAME: the covered file must be byte for byte what it was.
same_file() {
  if ! cmp "$FILE" "$SCRATCH/covered.orig" >&2; then
    log "($1) FAILED: the covered file changed"
    FAILED+=("$1-file")
    cp "$SCRATCH/covered.orig" "$FILE"
  fi
}

make_queue 0x6a01
run_case forks 0x6a01 6 15

make_queue 0x6a02
run_case threads 0x6a02 8 40

# Made by daemon on node1 (so daemon's, 0600); node2's root, nobody at the owner, cannot
# look it up, so the scenario itself does, as daemon.
r=$(on node1 setpriv --reuid=1 --regid=1 --clear-groups "$PROGS/msgwait" mkq 0x6a08 0600) ||
  fail "msgwait mkq 0x6a08 as daemon on node1 failed"
expect_eq "$r" OK "msgget(0x6a08, IPC_DIPC|IPC_CREAT|0600) as daemon on node1"
run_case threadids 0x6a08

make_queue 0x6a03
run_case closefds 0x6a03

# The file the scenarios cover every descriptor with, and a copy to compare it with.
FILE=$SCRATCH/covered.txt
printf 'This file must not change: the shim never writes to a descriptor it does not own.\n' \
  >"$FILE"
head -c 4096 /dev/urandom >>"$FILE"
cp "$FILE" "$SCRATCH/covered.orig"
chmod 666 "$FILE"

make_queue 0x6a04
run_case dupfds 0x6a04 "$FILE"
same_file dupfds

make_queue 0x6a05
run_case dupsock 0x6a05

make_queue 0x6a06
run_case forkdup 0x6a06 "$FILE"
same_file forkdup

make_queue 0x6a07
run_case threadexit 0x6a07 "$FILE"
same_file threadexit

((${#FAILED[@]} == 0)) || fail "failed scenarios: ${FAILED[*]}"
