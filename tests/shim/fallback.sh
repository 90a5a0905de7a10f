#!/usr/bin/env bash
# fallback: without a dipcd, a DIPC program runs exactly as on plain Linux.
#
# The original example (hello1 in the background, then hello2, both with IPC_DIPC) runs in
# one private IPC namespace with the shim preloaded and DIPC_RUNDIR pointing at
#   - an empty directory,
#   - a directory with a stale dipcd.sock: a socket file nobody listens on (a killed dipcd),
#   - a directory with a regular file named dipcd.sock,
#   - a directory that does not exist,
# and must behave exactly as without the shim: same output of both programs (hello1 prints
# the received message), same exit codes, nothing on stderr, the queue gone afterwards.
# hello2 alone (no hello1: key 40 unknown) must fail with the same error as on Linux.
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

SHIM=$DIPC_BUILD/lib/libdipc.so
CHECK=$PROGS/shimcheck
for f in "$SHIM" "$CHECK" "$EXAMPLES/hello1" "$EXAMPLES/hello2"; do
  [[ -e "$f" ]] || fail "$f is missing: build first (DIPC_BUILD=$DIPC_BUILD)"
done

# The pair in one fresh IPC namespace. Prints, one per line: hello1's exit code, its stdout,
# its stderr, hello2's exit code, stdout, stderr, then the queues left (keys from ipcs -q).
# hello1 gets 20 s, hello2 10 s; the whole namespace 60 s.
# shellcheck disable=SC2016  # expanded by the inner bash
pair_script='
  out=$1; e=$2
  timeout 20 "$e/hello1" >"$out/h1.out" 2>"$out/h1.err" </dev/null &
  p=$!
  for i in $(seq 1 100); do
    grep -q waiting "$out/h1.out" 2>/dev/null && break
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  r2=0; timeout 10 "$e/hello2" >"$out/h2.out" 2>"$out/h2.err" </dev/null || r2=$?
  r1=0; wait "$p" || r1=$?
  echo "hello1 exit $r1"; sed "s/^/hello1 out: /" "$out/h1.out"; sed "s/^/hello1 err: /" "$out/h1.err"
  echo "hello2 exit $r2"; sed "s/^/hello2 out: /" "$out/h2.out"; sed "s/^/hello2 err: /" "$out/h2.err"
  ipcs -q | awk "/^0x/ { print \"queue left: \" \$1 }"
'
# shellcheck disable=SC2016
alone_script='
  r=0; timeout 10 "$1/hello2" 2>&1 </dev/null || r=$?
  echo "hello2 exit $r"
  ipcs -q | awk "/^0x/ { print \"queue left: \" \$1 }"
'

# run_pair NAME [RUNDIR]: without RUNDIR, plain Linux (no shim); with it, the shim.
run_pair() {
  local name=$1 out=$SCRATCH/out-$1
  mkdir -p "$out"
  if (($# == 1)); then
    timeout 60 env -u LD_PRELOAD -u DIPC_RUNDIR unshare --ipc \
      bash -c "$pair_script" pair "$out" "$EXAMPLES" </dev/null >"$out/result"
  else
    timeout 60 env LD_PRELOAD="$SHIM" DIPC_RUNDIR="$2" unshare --ipc \
      bash -c "$pair_script" pair "$out" "$EXAMPLES" </dev/null >"$out/result"
  fi
}

run_alone() {
  local name=$1 out=$SCRATCH/out-$1
  mkdir -p "$out"
  if (($# == 1)); then
    timeout 30 env -u LD_PRELOAD -u DIPC_RUNDIR unshare --ipc \
      bash -c "$alone_script" alone "$EXAMPLES" </dev/null >"$out/alone"
  else
    timeout 30 env LD_PRELOAD="$SHIM" DIPC_RUNDIR="$2" unshare --ipc \
      bash -c "$alone_script" alone "$EXAMPLES" </dev/null >"$out/alone"
  fi
}

log "plain Linux (no shim)"
run_pair plain || fail "the plain run failed"
sed 's/^/  /' "$SCRATCH/out-plain/result" >&2
expected=$'hello1 exit 0\nhello1 out: hello1: waiting for a message on key 40
hello1 out: hello1: received "Hello, Distributed Programming!"\nhello2 exit 0
hello2 out: hello2: sent "Hello, Distributed Programming!"'
expect_eq "$(cat "$SCRATCH/out-plain/result")" "$expected" "hello1/hello2 on plain Linux"
run_alone plain || fail "the plain hello2-alone run failed"
grep -qx 'hello2 exit 1' "$SCRATCH/out-plain/alone" ||
  fail "hello2 alone on plain Linux: $(cat "$SCRATCH/out-plain/alone")"

EMPTY=$SCRATCH/empty
mkdir -p "$EMPTY"
STALE=$SCRATCH/stale
mkdir -p "$STALE"
"$CHECK" stalesock "$STALE/dipcd.sock" || fail "cannot make a stale socket"
[[ -S "$STALE/dipcd.sock" ]] || fail "no socket file at $STALE/dipcd.sock"
FILE=$SCRATCH/file
mkdir -p "$FILE"
echo "not a socket" >"$FILE/dipcd.sock"
MISSING=$SCRATCH/does-not-exist

for case in empty:"$EMPTY" stale:"$STALE" file:"$FILE" missing:"$MISSING"; do
  name=${case%%:*}
  rd=${case#*:}
  log "shim with DIPC_RUNDIR=$rd ($name)"
  # The shim is loaded in this setting (otherwise the comparison proves nothing).
  who=$(timeout 30 env LD_PRELOAD="$SHIM" DIPC_RUNDIR="$rd" "$CHECK" whoami | head -n 1)
  expect_eq "$who" "msgget from libdipc.so" "shim loaded ($name)"
  start=$(now_ms)
  run_pair "$name" "$rd" || fail "the $name run failed"
  took=$(($(now_ms) - start))
  if ! diff -u "$SCRATCH/out-plain/result" "$SCRATCH/out-$name/result" >&2; then
    fail "hello1/hello2 with the shim and DIPC_RUNDIR=$rd ($name) differ from plain Linux (diff above)"
  fi
  ((took < 15000)) || fail "hello1/hello2 took ${took} ms with DIPC_RUNDIR=$rd ($name)"
  run_alone "$name" "$rd" || fail "the $name hello2-alone run failed"
  if ! diff -u "$SCRATCH/out-plain/alone" "$SCRATCH/out-$name/alone" >&2; then
    fail "hello2 alone with DIPC_RUNDIR=$rd ($name) differs from plain Linux (diff above)"
  fi
  # The shim must not have created anything in the run dir.
  if [[ -d "$rd" ]]; then
    extra=$(find "$rd" -mindepth 1 ! -name dipcd.sock | head -n 5)
    [[ -z "$extra" ]] || fail "files appeared in $rd: $extra"
  else
    [[ ! -e "$rd" ]] || fail "$rd was created"
  fi
done
