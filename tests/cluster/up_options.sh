#!/usr/bin/env bash
# up_options: `dipc cluster up --set` and cluster directories other users cannot search.
#  - a DIR without o+x (a mktemp -d directory), or one below a parent without it, is refused
#    with a non-zero exit and the chmod that fixes it, and nothing is made; --fix-perms adds
#    o+x and the cluster comes up;
#  - a program run as nobody in that cluster really reaches dipcd: the queue it creates on
#    node2 is distributed (dipc ls on node1 lists it, owned by node2), not a local fallback;
#  - --set reaches every node: in its dipc.conf (the last --set of a key wins) and in
#    behaviour (security.remote_root=true lets root on node2 open a 0600 queue of root on
#    node1, which the cluster without it refuses with EACCES);
#  - a bad --set (unknown section or key, a bad value, a key up sets itself, a bad form) is
#    refused with a non-zero exit and a message naming it, before anything is made or run.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MW=$PROGS/msgwait
_check_built

# The directory is refused: exit status, message, and nothing made in it or running for it.
expect_refused() {
  local d=$1 what=$2 fragment=$3
  shift 3
  local rc=0 out
  out=$(timeout 60 "$DIPC" cluster up --nodes 2 --dir "$d" "$@" </dev/null 2>&1) || rc=$?
  ((rc != 0)) || fail "$what: cluster up succeeded: $out"
  grep -qF -- "$fragment" <<<"$out" || fail "$what: the message does not say [$fragment]: $out"
  [[ ! -e "$d/cluster" && ! -e "$d/node1" ]] || fail "$what: cluster up made files in $d"
  ! pgrep -f -- "dipcd --config $d/" >/dev/null || fail "$what: a dipcd runs for $d"
  ! grep -qF -- " $d/" /proc/self/mountinfo || fail "$what: something is mounted under $d"
  log "$what: refused ($(head -n 1 <<<"$out"))"
}

# 1. Directories other users cannot search.
closed=$(mktemp -d /tmp/dipc-test.XXXXXX)
track_dir "$closed"
expect_refused "$closed" "0700 cluster dir" "chmod o+x $closed"
parent=$(mktemp -d /tmp/dipc-test.XXXXXX)
track_dir "$parent/c"
expect_refused "$parent/c" "dir below a 0700 parent" "chmod o+x $parent\`"
[[ ! -e "$parent/c" ]] || fail "cluster up made $parent/c although it refused it"

DIR=$parent/c
log "dipc cluster up --nodes 2 --dir $DIR --fix-perms"
timeout 90 "$DIPC" cluster up --nodes 2 --dir "$DIR" --fix-perms </dev/null >"$SCRATCH/up.out" 2>&1 ||
  fail "cluster up --fix-perms failed: $(cat "$SCRATCH/up.out")"
[[ $(($(stat -c '%#a' "$parent") & 1)) == 1 ]] || fail "--fix-perms left $parent without o+x"
grep -qF "added o+x to $parent" "$SCRATCH/up.out" || fail "--fix-perms did not say what it changed"

sed 's/^/  up: /' "$SCRATCH/up.out" >&2

# 2. nobody reaches dipcd from node2: the queue is the cluster's, owned by node2.
K=9301
expect_eq "$(on node2 "${NOBODY[@]}" "$MW" mkq $K 0666)" OK "nobody creates queue $K on node2"
line=$(ls_lines node1 msg $K) ||
  fail "queue $K made by nobody on node2 is not in dipc ls on node1: it fell back to a local queue"
expect_eq "$(ls_owner "$line")" node2 "owner of queue $K [$line]"
expect_eq "$(on node1 "${NOBODY[@]}" "$MW" send $K 1 hi)" OK "nobody on node1 sends to queue $K"
expect_eq "$(on node2 "${NOBODY[@]}" "$MW" nbrecv $K 1)" "RECV 1 hi" "nobody on node2 receives"
# Without remote_root, root on node2 acts as nobody at the owner: a 0600 queue is closed.
K2=9302
expect_eq "$(on node1 "$MW" mkq $K2 0600)" OK "root creates queue $K2 (0600) on node1"
expect_eq "$(on node2 "$MW" get $K2)" EACCES "root on node2 without remote_root"
cluster_down

# 3. --set reaches every node.
cluster_up 2 --set security.remote_root=true --set log.level=warn --set 'log.level="debug"' \
  --set timeouts.connect_timeout_ms=1234
for n in node1 node2; do
  conf=$DIR/$n/dipc.conf
  grep -qx 'remote_root = true' "$conf" || fail "$n's dipc.conf lacks remote_root = true: $(cat "$conf")"
  grep -qxE "level = ['\"]debug['\"]" "$conf" || fail "$n's dipc.conf: the last log.level is not debug"
  grep -qx 'connect_timeout_ms = 1234' "$conf" || fail "$n's dipc.conf lacks connect_timeout_ms"
  "$DIPC_BUILD/sbin/dipcd" --check --config "$conf" >/dev/null || fail "dipcd --check rejects $conf"
done
expect_eq "$(on node1 "$MW" mkq $K2 0600)" OK "root creates queue $K2 (0600) on node1"
expect_eq "$(on node2 "$MW" get $K2)" OK "root on node2 with --set security.remote_root=true"
cluster_down

# 4. A bad --set is refused before anything is made or run.
bad=/tmp/dipc-test-unmade.$$
track_dir "$bad"
expect_refused "$bad" "unknown key" "--set security.nosuch=1: unknown key 'nosuch' in [security]" \
  --set security.nosuch=1
expect_refused "$bad" "unknown section" "--set nosuch.key=1: unknown section [nosuch]" \
  --set log.level=debug --set nosuch.key=1
expect_refused "$bad" "bad value" "--set log.level=loud: [log] level must be one of" \
  --set log.level=loud
expect_refused "$bad" "wrong type" "--set security.remote_root=1: [security] remote_root must be" \
  --set security.remote_root=1
expect_refused "$bad" "out of range" "--set timeouts.heartbeat_ms=0" --set timeouts.heartbeat_ms=0
expect_refused "$bad" "invalid together" "peer_timeout_ms (2000) must be greater than heartbeat_ms" \
  --set timeouts.heartbeat_ms=3000
expect_refused "$bad" "a key up sets" "--set node.run_dir=\"/x\": [node] run_dir is set by" \
  --set 'node.run_dir="/x"'
expect_refused "$bad" "no section" "--set level=debug: must be SECTION.KEY=VALUE" --set level=debug
expect_refused "$bad" "not TOML" "--set log.level=\"debug: VALUE is not a TOML value" \
  --set 'log.level="debug'
[[ ! -e "$bad" ]] || fail "a refused cluster up made $bad"
