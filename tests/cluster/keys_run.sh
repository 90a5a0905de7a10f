#!/usr/bin/env bash
# keys_run: keys distributed per command, with `dipc run --keys LIST` and
# `dipc run --all-keyed` (the variables DIPC_KEYS and DIPC_ALL_KEYED), on nodes whose
# configuration distributes nothing, and merged with a node's rules.
#  1. hello1.pl under dipc run --keys 40 on node1, hello2.py under dipc run --keys 40 on
#     node2; and the same with --all-keyed.
#  2. The variables reach children: a shell started by dipc run --keys runs the programs.
#  3. Merge: with [distribute] keys = [0x5000] on both nodes, a command run with
#     --keys 40 has both 40 and 0x5000 distributed; one run without it has only 0x5000.
#  4. dipc status shows the node's rules (none, then the range).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=keyslib.sh
source "$(dirname "${BASH_SOURCE[0]}")/keyslib.sh"
need_python_sysv_ipc

cluster_up 2
st=$(on node1 "$DIPC" status)
grep -qxF 'keys:      none (only calls with IPC_DIPC)' <<<"$st" || fail "dipc status on node1: $st"

log "1. dipc run --keys 40, dipc run --all-keyed"
hello_pair node1 node2 "$DIPC run --keys 40 -- $PERL $PLEX/hello1.pl" \
  "$DIPC run --keys 0x28 -- $PY $PYEX/hello2.py"
hello_pair node2 node1 "$DIPC run --all-keyed -- $PY $PYEX/hello1.py" \
  "$DIPC run --all-keyed -- $PERL $PLEX/hello2.pl"

log "2. children inherit the keys"
printf '#!/bin/sh\n"%s" "%s"\n' "$PY" "$PYEX/hello1.py" >"$SCRATCH/rx.sh"
printf '#!/bin/sh\n"%s" "%s"\n' "$PERL" "$PLEX/hello2.pl" >"$SCRATCH/tx.sh"
chmod 755 "$SCRATCH/rx.sh" "$SCRATCH/tx.sh"
hello_pair node1 node2 "$DIPC run --keys 39-41 -- $SCRATCH/rx.sh" "$DIPC run --keys 40 -- $SCRATCH/tx.sh"

log "3. merged with the node's rules"
distribute 'keys = [0x5000]' node1 node2
st=$(on node2 "$DIPC" status)
grep -qxF 'keys:      20480 (0x5000)' <<<"$st" || fail "dipc status on node2: $st"
mk='import sys, sysv_ipc as s
for k in sys.argv[1:]:
    s.MessageQueue(int(k, 0), s.IPC_CREX, 0o666)'
on node1 "${NOBODY[@]}" "$DIPC" run --keys 40 -- "$PY" -c "$mk" 40 0x5000 ||
  fail "could not make queues 40 and 0x5000 under dipc run --keys 40"
ls_has node2 msg 40 || fail "queue 40 (from --keys) is not distributed"
ls_has node2 msg 20480 || fail "queue 0x5000 (from the node's rules) is not distributed"
on node1 "${NOBODY[@]}" "$PY" -c "$mk" 41 0x5001 0x5000 2>/dev/null &&
  fail "queue 0x5000 could be made again: the node's rules were not applied"
ls_absent node2 msg 41 || fail "queue 41 (in no rule) is distributed"
rm1='import sys, sysv_ipc as s
for k in sys.argv[1:]:
    s.MessageQueue(int(k, 0)).remove()'
on node2 "${NOBODY[@]}" "$DIPC" run --keys 40 -- "$PY" -c "$rm1" 40 0x5000 ||
  fail "could not remove queues 40 and 0x5000 from node2"
wait_for "ls_absent node1 msg 40 && ls_absent node1 msg 20480" 10 ||
  fail "queues 40 / 0x5000 still listed after their removal from node2"
