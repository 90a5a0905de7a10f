# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source it
# tests/cluster/semlib.sh: helpers for the semaphore scenarios (tests/cluster/sem_*.sh).
# Source it after lib.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
#
#   ST, MW                    tests/progs/semtool and msgwait.
#   bg_on_t SECS NODE CMD...  bg_on with a bound of SECS seconds instead of 30 (for long
#                             loops); sets BG_PID, BG_OUT, BG_ERR like bg_on.
#   await_prog PIDFILE [T]    waits (bounded) for a pid file written by semtool and sets
#                             PROG_PID; the pid is checked against the process's command line
#                             (which names the pid file); empty when that process has ended.
#   signal_prog SIG PID       kill -SIG PID, only if PID still runs semtool or msgwait.
#   expect_val NODE S SEMNUM VAL WHAT   semtool getval on NODE must print VAL.
#   val_is NODE S SEMNUM VAL  predicate for wait_for.
#   ms_until_done PID T_MS T0 wait (bounded by T_MS, polled every 20 ms) for the bg_on job PID
#                             to end; prints the milliseconds from T0 (a now_ms value) to its
#                             end, or nothing when it still runs.
#   dipcd_pid NODE            pid of NODE's dipcd (from DIR/NODE/dipcd.pid, checked running).
#   run_lock_loops K Q N SECS NODE=PROG...  on each NODE, PROG (a semtool for its
#                             architecture) runs "lock K Q N" (P on mutex K, counter message
#                             in queue Q, V), all started together by a start file once each
#                             has reached its start wait; each must print "DONE N" and exit
#                             0 within SECS. Sets LOCK_MS to the time from start to the last.
# Every loop here is bounded in count and in time.

ST=$PROGS/semtool
MW=$PROGS/msgwait
[[ -x "$ST" && -x "$PROGS/semsem" ]] ||
  fail "$ST or $PROGS/semsem is missing: build first (DIPC_BUILD=$DIPC_BUILD)"

bg_on_t() {
  local secs=$1 node=$2
  shift 2
  _BG_N=$((_BG_N + 1))
  BG_OUT=$SCRATCH/bg$_BG_N.out
  BG_ERR=$SCRATCH/bg$_BG_N.err
  printf '%s %s\n' "$node" "$*" >"$SCRATCH/bg$_BG_N.cmd"
  timeout "$secs" "$DIPC" cluster exec "$node" --dir "$DIR" -- "$@" </dev/null >"$BG_OUT" \
    2>"$BG_ERR" &
  BG_PID=$!
  _BG_PIDS+=("$BG_PID")
}

await_prog() {
  local f=$1 t=${2:-15} pid
  PROG_PID=""
  wait_for "[[ -s '$f' ]]" "$t" || fail "no pid file $f after ${t}s"
  pid=$(tr -dc '0-9' <"$f")
  if [[ -n "$pid" && -r /proc/$pid/cmdline ]] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$f"; then
    PROG_PID=$pid
  fi
  return 0
}

signal_prog() {
  local sig=$1 pid=$2
  [[ -n "$pid" ]] || return 0
  if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'semtool|msgwait'; then
    kill -s "$sig" "$pid" 2>/dev/null || true
  fi
}

expect_val() {
  local node=$1 s=$2 n=$3 val=$4 what=$5
  expect_eq "$(on "$node" "$ST" getval "$s" "$n")" "$val" "$what"
}

val_is() {
  [[ "$(on "$1" "$ST" getval "$2" "$3" 2>/dev/null)" == "$4" ]]
}

ms_until_done() {
  local pid=$1 t=$2 t0=$3 i
  for i in $(seq 1 $((t / 20 + 1))); do
    if ! bg_running "$pid"; then
      echo $(($(now_ms) - t0))
      return 0
    fi
    (($(now_ms) - t0 > t)) && break
    sleep 0.02
  done
  bg_running "$pid" || echo $(($(now_ms) - t0))
  return 0
}

dipcd_pid() {
  local pid
  pid=$(tr -dc '0-9' <"$DIR/$1/dipcd.pid")
  [[ -n "$pid" && -d /proc/$pid ]] || fail "$1's dipcd (pid file: [$pid]) is not running"
  echo "$pid"
}

run_lock_loops() {
  local k=$1 q=$2 n=$3 secs=$4 spec node rc t0
  shift 4
  local -A pids outs
  local go=$SCRATCH/go.$k
  for spec in "$@"; do
    node=${spec%%=*}
    bg_on_t "$secs" "$node" "${spec#*=}" lock "$k" "$q" "$n" $((secs - 10)) "$go"
    pids[$node]=$BG_PID
    outs[$node]=$BG_OUT
  done
  # Every loop waits for the start file once it has written its GOFILE.PID.
  wait_for "[[ \$(compgen -G '$go.*' | wc -l) -eq $# ]]" 60 ||
    fail "not every lock loop reached its start wait"
  t0=$(now_ms)
  touch "$go"
  for node in "${!pids[@]}"; do
    rc=0
    bg_wait "${pids[$node]}" "$secs" || rc=$?
    expect_eq "$(cat "${outs[$node]}")" "DONE $n" "lock loop on $node (exit $rc)"
    expect_eq "$rc" 0 "exit status of the lock loop on $node"
  done
  LOCK_MS=$(($(now_ms) - t0))
}
