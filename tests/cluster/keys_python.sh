#!/usr/bin/env bash
# keys_python: unmodified Python programs (Debian's python3-sysv-ipc, which masks IPC_DIPC
# out of the flags it passes) share queues and semaphores across two nodes because the
# nodes' configuration distributes their keys ([distribute] keys in dipc.conf).
#  1. Without the rules, Python's queue 40 on node1 is local: not in dipc ls, not found on
#     node2 (so what follows is the configuration's doing).
#  2. With keys = [40, "41-42"] on both nodes: examples/python/hello1.py and hello2.py
#     exchange the hello message in both directions (dipc ls lists key 40 with its owner).
#  3. examples/python/sem_mutex.py: node1 and node2 each add 100 to a counter under one
#     semaphore at the same time; the count is 200 (no update lost), seen from both nodes;
#     dipc ls lists sem 41 and msg 42 owned by node1; rm removes them cluster-wide.
#  4. A key outside the rules (43) stays local on each node even while the rules apply.
#  5. examples/python/shm_counter.py: the same race with the counter in a distributed
#     shared-memory segment (key 45) under a semaphore (key 44): 200, seen from both nodes.
# Everything runs as the unprivileged user nobody.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=keyslib.sh
source "$(dirname "${BASH_SOURCE[0]}")/keyslib.sh"
need_python_sysv_ipc

cluster_up 2

mkq='import sys, sysv_ipc as s; s.MessageQueue(int(sys.argv[1], 0), s.IPC_CREX, 0o666); print("made")'
findq='import sys, sysv_ipc as s
try:
    s.MessageQueue(int(sys.argv[1], 0)); print("found")
except s.ExistentialError:
    print("ENOENT")'
rmq='import sys, sysv_ipc as s; s.MessageQueue(int(sys.argv[1], 0)).remove(); print("removed")'

log "1. no rules: Python's queue is local"
expect_eq "$(on node1 "${NOBODY[@]}" "$PY" -c "$mkq" 40)" made "queue 40 made on node1"
ls_absent node1 msg 40 || fail "queue 40 made without rules is listed by dipc ls"
expect_eq "$(on node2 "${NOBODY[@]}" "$PY" -c "$findq" 40)" ENOENT "queue 40 seen from node2"
expect_eq "$(on node1 "${NOBODY[@]}" "$PY" -c "$rmq" 40)" removed "queue 40 removed on node1"

distribute 'keys = [40, "41-42", "44-45"]' node1 node2
st=$(on node2 "$DIPC" status)
grep -qxF 'keys:      40 (0x28), 41-42 (0x29-0x2a), 44-45 (0x2c-0x2d)' <<<"$st" || fail "dipc status on node2: $st"

log "2. hello1.py / hello2.py"
hello_pair node1 node2 "$PY $PYEX/hello1.py" "$PY $PYEX/hello2.py"
hello_pair node2 node1 "$PY $PYEX/hello1.py" "$PY $PYEX/hello2.py"

log "3. sem_mutex.py on two nodes at once"
on node1 "${NOBODY[@]}" "$PY" "$PYEX/sem_mutex.py" init || fail "sem_mutex.py init failed"
for t in sem:41 msg:42; do
  line=$(ls_lines node2 "${t%:*}" "${t#*:}") || fail "$t not listed by dipc ls on node2"
  expect_eq "$(ls_owner "$line")" node1 "owner of $t [$line]"
done
mutex_race "$PY $PYEX/sem_mutex.py" "$PY $PYEX/sem_mutex.py"
expect_eq "$(on node2 "${NOBODY[@]}" "$PY" "$PYEX/sem_mutex.py" result)" "count = 200" "count on node2"
expect_eq "$(on node1 "${NOBODY[@]}" "$PY" "$PYEX/sem_mutex.py" result)" "count = 200" "count on node1"
on node2 "${NOBODY[@]}" "$PY" "$PYEX/sem_mutex.py" rm || fail "sem_mutex.py rm on node2 failed"
wait_for "ls_absent node1 sem 41 && ls_absent node1 msg 42" 10 ||
  fail "sem 41 / msg 42 still listed after sem_mutex.py rm"

log "4. a key outside the rules stays local"
expect_eq "$(on node1 "${NOBODY[@]}" "$PY" -c "$mkq" 43)" made "queue 43 made on node1"
expect_eq "$(on node2 "${NOBODY[@]}" "$PY" -c "$mkq" 43)" made "queue 43 made on node2 as well"
ls_absent node1 msg 43 || fail "queue 43 (not in the rules) is listed by dipc ls"

log "5. shm_counter.py on two nodes at once: a counter in distributed shared memory"
on node1 "${NOBODY[@]}" "$PY" "$PYEX/shm_counter.py" init || fail "shm_counter.py init failed"
line=$(ls_lines node2 shm 45) || fail "shm 45 not listed by dipc ls on node2"
expect_eq "$(ls_owner "$line")" node1 "owner of shm 45 [$line]"
mutex_race "$PY $PYEX/shm_counter.py" "$PY $PYEX/shm_counter.py"
expect_eq "$(on node2 "${NOBODY[@]}" "$PY" "$PYEX/shm_counter.py" result)" "count = 200" "shm count on node2"
expect_eq "$(on node1 "${NOBODY[@]}" "$PY" "$PYEX/shm_counter.py" result)" "count = 200" "shm count on node1"
on node2 "${NOBODY[@]}" "$PY" "$PYEX/shm_counter.py" rm || fail "shm_counter.py rm on node2 failed"
