#!/usr/bin/env bash
# keys_ipcs: util-linux ipcs and ipcrm on a node that holds placeholders, with keys
# distributed by configuration ([distribute] keys = ["0x5000-0x50ff"] on both nodes).
# node1 owns queue 0x5001 and semaphore set 0x5002 (value 7), made by Python; Python on
# node2 looks them up, so node2 holds a placeholder of each. Then on node2:
#  1. ipcs lists both placeholders (key, owner nobody, mode 666, nsems 1), with and
#     without the shim, as it lists local objects;
#  2. ipcrm -S 0x5002 WITHOUT the shim removes only node2's placeholder: the set lives on
#     at node1 (dipc ls, ipcs there), node2's dipcd notices within its 1 s sweep (dipc
#     status: 1 placeholder left), and a later lookup on node2 makes a new placeholder that
#     still reads the value 7 from the owner;
#  3. ipcrm -Q 0x5001 WITH the shim removes the queue from the whole cluster, as
#     IPC_RMID from any node does: gone from dipc ls and from node1's kernel;
#  4. ipcrm -s ID (by the placeholder's id) with the shim removes the set cluster-wide.
# Everything runs as nobody (remote root acts as nobody and could not remove nobody's
# objects at the owner).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=keyslib.sh
source "$(dirname "${BASH_SOURCE[0]}")/keyslib.sh"
need_python_sysv_ipc

# The rules come from "dipc cluster up --set" here (the other keys_* scenarios add them to
# running nodes' configuration and restart them).
cluster_up 2 --set 'distribute.keys=["0x5000-0x50ff"]'
st=$(on node2 "$DIPC" status)
grep -qxF 'keys:      20480-20735 (0x5000-0x50ff)' <<<"$st" || fail "dipc status on node2: $st"

py() { on "$1" "${NOBODY[@]}" "$PY" -c "$2"; }
noshim() { on "$1" env -u LD_PRELOAD "${NOBODY[@]}" "${@:2}"; }
# The ipcs line of KEY (0x%08x) in the output of "ipcs -q" or "ipcs -s".
ipcs_line() { awk -v k="$(printf '0x%08x' "$2")" '$1 == k' <<<"$1"; }

py node1 'import sysv_ipc as s
s.MessageQueue(0x5001, s.IPC_CREX, 0o666)
s.Semaphore(0x5002, s.IPC_CREX, 0o666, initial_value=7)' || fail "could not make the objects"
out=$(py node2 'import sysv_ipc as s
q = s.MessageQueue(0x5001); m = s.Semaphore(0x5002); print(m.value)') ||
  fail "node2 could not look the objects up"
expect_eq "$out" 7 "semaphore value read on node2"
st=$(on node2 "$DIPC" status)
grep -q '^objects: .* 2 placeholders' <<<"$st" || fail "node2 holds no 2 placeholders: $st"

log "1. ipcs on node2"
for how in on noshim; do
  q=$($how node2 ipcs -q) || fail "ipcs -q on node2 ($how) failed"
  s=$($how node2 ipcs -s) || fail "ipcs -s on node2 ($how) failed"
  line=$(ipcs_line "$q" 0x5001)
  [[ -n $line ]] || fail "ipcs -q on node2 ($how) does not list 0x5001: $q"
  expect_eq "$(awk '{print $3, $4, $6}' <<<"$line")" "nobody 666 0" "ipcs -q line ($how)"
  line=$(ipcs_line "$s" 0x5002)
  [[ -n $line ]] || fail "ipcs -s on node2 ($how) does not list 0x5002: $s"
  expect_eq "$(awk '{print $3, $4, $5}' <<<"$line")" "nobody 666 1" "ipcs -s line ($how)"
done

log "2. ipcrm -S without the shim: only the placeholder goes"
old_id=$(ipcs_line "$(noshim node2 ipcs -s)" 0x5002 | awk '{print $2}')
noshim node2 ipcrm -S 0x5002 || fail "ipcrm -S 0x5002 on node2 failed"
[[ -z $(ipcs_line "$(noshim node2 ipcs -s)" 0x5002) ]] || fail "placeholder still in node2's kernel"
wait_for "on node2 '$DIPC' status | grep -q '^objects: .* 1 placeholders'" 5 ||
  fail "node2's dipcd did not notice the removed placeholder: $(on node2 "$DIPC" status)"
line=$(ls_lines node1 sem 20482) || fail "set 0x5002 vanished from dipc ls"
expect_eq "$(ls_owner "$line")" node1 "owner of set 0x5002 after ipcrm of the placeholder"
[[ -n $(ipcs_line "$(noshim node1 ipcs -s)" 0x5002) ]] || fail "set 0x5002 gone from node1"
out=$(py node2 'import sysv_ipc as s; m = s.Semaphore(0x5002); print(m.id, m.value)') ||
  fail "node2 could not look set 0x5002 up again"
expect_eq "${out#* }" 7 "value of set 0x5002 seen from node2 after ipcrm of its placeholder"
[[ ${out% *} != "$old_id" ]] || log "(the new placeholder reuses id $old_id)"
[[ -n $(ipcs_line "$(noshim node2 ipcs -s)" 0x5002) ]] || fail "no new placeholder on node2"

log "3. ipcrm -Q with the shim: removed from the cluster"
on node2 "${NOBODY[@]}" ipcrm -Q 0x5001 || fail "ipcrm -Q 0x5001 on node2 failed"
wait_for "ls_absent node1 msg 20481" 10 || fail "queue 0x5001 still listed by dipc ls"
[[ -z $(ipcs_line "$(noshim node1 ipcs -q)" 0x5001) ]] || fail "queue 0x5001 still at node1"
[[ -z $(ipcs_line "$(noshim node2 ipcs -q)" 0x5001) ]] || fail "placeholder 0x5001 still on node2"

log "4. ipcrm -s ID with the shim"
id=$(ipcs_line "$(noshim node2 ipcs -s)" 0x5002 | awk '{print $2}')
on node2 "${NOBODY[@]}" ipcrm -s "$id" || fail "ipcrm -s $id on node2 failed"
wait_for "ls_absent node1 sem 20482" 10 || fail "set 0x5002 still listed by dipc ls"
[[ -z $(ipcs_line "$(noshim node1 ipcs -s)" 0x5002) ]] || fail "set 0x5002 still at node1"
