#!/usr/bin/env bash
# ls_table: dipc ls shows records as lsipc does, from any node.
#  - keys in hex as ipcs prints them (0x80000001, negative as a key_t, is 0x80000001);
#  - MSGS and USEDBYTES are the queue's content, read at the owner: from the owner node's
#    kernel, and from another node by an IPC_STAT forwarded to the owner;
#  - -q/-s/-m filter by type, -i by id, -k by key (hex or decimal), -o picks columns and
#    +LIST adds to the default ones, -n drops the header, --raw and --json work (the JSON
#    parses, unknown content is null), -P gives octal permissions;
#  - a segment's NATTCH counts the attachments on every node (not dipcd's own mapping),
#    from the owner node and from another node alike;
#  - an unknown column is a usage error (exit 2), a bad key too.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MW=$PROGS/msgwait
cluster_up 2
expect_eq "$(on node2 "$MW" mkq 0x80000001 0666)" OK "queue 0x80000001 on node2"
expect_eq "$(on node2 "$MW" send 0x80000001 1 hello)" OK "first message"
expect_eq "$(on node2 "$MW" send 0x80000001 2 world!)" OK "second message"
expect_eq "$(on node1 "$PROGS/semtool" mk 0x5100 3 1)" OK "set 0x5100 on node1"

for n in node1 node2; do
  out=$(on "$n" "$DIPC" ls -q -o TYPE,KEY,OWNER,MSGS,USEDBYTES -n) || fail "dipc ls on $n failed"
  expect_eq "$(awk '{$1=$1; print}' <<<"$out")" "msg 0x80000001 node2 2 11" "queue content listed on $n"
  line=$(ls_lines "$n" msg 0x80000001) || fail "ls_lines on $n"
  expect_eq "$(awk '{print $4}' <<<"$line")" node2 "OWNER column (4th) on $n"
done

# Filters.
id=$(on node2 "$MW" id 0x80000001)
out=$(on node1 "$DIPC" ls -n -o KEY -i "$id" -q)
expect_eq "$(tr -d ' ' <<<"$out")" 0x80000001 "dipc ls -i $id"
out=$(on node1 "$DIPC" ls -n -o KEY -k 2147483649)
expect_eq "$(tr -d ' ' <<<"$out")" 0x80000001 "dipc ls -k in decimal"
out=$(on node2 "$DIPC" ls -n -s -o TYPE,KEY,OWNER,SIZE)
expect_eq "$(awk '{$1=$1; print}' <<<"$out")" "sem 0x00005100 node1 3" "dipc ls -s"
out=$(on node1 "$DIPC" ls -n -m)
expect_eq "$out" "" "dipc ls -m with no segments"
out=$(on node1 "$DIPC" ls -o +CTIME | head -1)
grep -q "HOLDERS.*CTIME" <<<"$out" || fail "+CTIME does not add to the default columns: $out"
out=$(on node1 "$DIPC" ls -P -n -o PERMS -q)
expect_eq "$(tr -d ' ' <<<"$out")" 0666 "octal permissions with -P"
out=$(on node1 "$DIPC" ls --raw -n -q)
expect_eq "$(awk '{print NF}' <<<"$out")" 11 "raw line has the 11 default cells"

# JSON: parses, numbers are numbers, unknown content is null.
json=$(on node1 "$DIPC" ls --json)
python3 - "$json" <<'PY' || fail "dipc ls --json: $json"
import json, sys
rows = json.loads(sys.argv[1])["dipc"]
q = [r for r in rows if r["key"] == "0x80000001"]
assert len(q) == 1, rows
q = q[0]
assert q["type"] == "msg" and q["owner"] == "node2" and q["msgs"] == 2 and q["usedbytes"] == 11, q
assert q["size"] == 16384 and q["nattch"] is None, q
PY

# A segment owned by node1, attached by one process on node2: NATTCH 1 from both nodes.
expect_eq "$(on node1 "$PROGS/shmtool" mk 0x5200 8192)" OK "segment 0x5200 on node1"
bg_on node2 "$PROGS/shmtool" hold 0x5200 0 7 "$SCRATCH/held"
wait_for '[[ -e $SCRATCH/held ]]' 20 || fail "the holder on node2 did not attach"
for n in node1 node2; do
  out=$(on "$n" "$DIPC" ls -n -m -o KEY,OWNER,NATTCH,HOLDERS)
  expect_eq "$(awk '{$1=$1; print}' <<<"$out")" "0x00005200 node1 1 node2" "segment listed on $n"
done
kill "$BG_PID" 2>/dev/null || true

# Usage errors.
rc=0
out=$(on node1 "$DIPC" ls -o TYPE,NOPE 2>&1) || rc=$?
expect_eq "$rc" 2 "exit status of an unknown column"
grep -q "unknown column 'NOPE'" <<<"$out" || fail "unknown column not named: $out"
rc=0
out=$(on node1 "$DIPC" ls -k 0xzz 2>&1) || rc=$?
expect_eq "$rc" 2 "exit status of a bad key"
log "ok"
