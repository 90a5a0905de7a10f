#!/usr/bin/env bash
# port_file: `dipc cluster up` takes a node's port from run/dipcd.port only once the file
# holds a whole line, whether dipcd writes it in place (a reader can catch "4" of
# "41235\n") or through a temporary file and a rename, and fails with the node's log file
# named when the daemon dies first, writes something that is not a port, or never finishes.
#
# The daemons here are a stand-in script (a copy of dipc finds "dipcd" at ../sbin/dipcd
# beside itself), so that the test decides how the file is written: FAKE_MODE in the
# environment, which up passes on to its daemons.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
_check_built

TREE=$SCRATCH/tree
mkdir -p "$TREE/bin" "$TREE/sbin" "$TREE/lib"
cp "$DIPC" "$TREE/bin/dipc"
cat >"$TREE/sbin/dipcd" <<'FAKE'
#!/usr/bin/env bash
# A stand-in for dipcd: --config FILE, the run dir read from it; FAKE_MODE picks how the
# port file is written. It then says joined and waits (bounded) for SIGTERM.
set -u
cfg=$2
run=$(sed -n "s/^run_dir = ['\"]\(.*\)['\"]$/\1/p" "$cfg")
[[ -d "$run" ]] || { echo "fake dipcd: no run_dir in $cfg" >&2; exit 2; }
echo "fake dipcd: mode $FAKE_MODE, run dir $run" >&2
trap 'exit 0' TERM
case $FAKE_MODE in
  inplace) # in place, in two writes with a pause between them: "4", then "1235\n"
    printf 4 >"$run/dipcd.port"
    sleep 1
    printf '1235\n' >>"$run/dipcd.port" ;;
  atomic) # a temporary file, renamed
    printf '41236\n' >"$run/dipcd.port.tmp"
    mv "$run/dipcd.port.tmp" "$run/dipcd.port" ;;
  die)
    printf 4 >"$run/dipcd.port"
    echo "fake dipcd: giving up half way" >&2
    exit 3 ;;
  garbage)
    printf 'port 41235\n' >"$run/dipcd.port" ;;
  stall)
    printf 4 >"$run/dipcd.port" ;;
esac
echo joined >"$run/state"
for _ in $(seq 1 600); do sleep 0.1; done
FAKE
chmod 755 "$TREE/sbin/dipcd"

# up_with MODE: runs the copy's up on a fresh DIR with FAKE_MODE=MODE; sets DIR, OUT, RC.
up_with() {
  DIR=$(mktemp -d /tmp/dipc-test.XXXXXX)
  chmod 755 "$DIR"
  track_dir "$DIR"
  OUT=$SCRATCH/up.$1.out
  RC=0
  FAKE_MODE=$1 timeout 60 "$TREE/bin/dipc" cluster up --nodes 1 --dir "$DIR" </dev/null \
    >"$OUT" 2>&1 || RC=$?
  sed "s/^/  up ($1): /" "$OUT" >&2
}

up_with inplace
expect_eq "$RC" 0 "up with a port file written in place in two steps"
expect_eq "$(head -n 1 "$OUT" | cut -d' ' -f2)" 127.0.0.1:41235 "node1's address and port"
cluster_down

up_with atomic
expect_eq "$RC" 0 "up with a port file written by rename"
expect_eq "$(head -n 1 "$OUT" | cut -d' ' -f2)" 127.0.0.1:41236 "node1's address and port"
cluster_down

up_with die
((RC != 0)) || fail "up succeeded although node1's dipcd died"
grep -qF "node1 failed: its dipcd exited with status 3" "$OUT" || fail "no reason given: $(cat "$OUT")"
grep -qF "last lines of $DIR/node1/dipcd.log" "$OUT" || fail "the log file is not named"
grep -qF "giving up half way" "$OUT" || fail "the log's tail is not shown"

up_with garbage
((RC != 0)) || fail "up succeeded with a port file that holds no port"
grep -qF 'not a port number: run/dipcd.port holds "port 41235?"' "$OUT" ||
  fail "a bad port file is not reported: $(cat "$OUT")"
grep -qF "$DIR/node1/dipcd.log" "$OUT" || fail "the log file is not named"

up_with stall
((RC != 0)) || fail "up succeeded with a port file that never got its newline"
grep -qF 'did not finish its port file (run/dipcd.port holds "4", no whole line) within 15 s' \
  "$OUT" || fail "an unfinished port file is not reported: $(cat "$OUT")"
grep -qF "$DIR/node1/dipcd.log" "$OUT" || fail "the log file is not named"
