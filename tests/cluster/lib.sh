# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source it
# tests/cluster/lib.sh: the harness every cluster scenario sources.
#
#   set -euo pipefail
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   cluster_up 3 [extra "dipc cluster up" options]
#   r=$(on node2 "$PROGS/msgwait" get 42); expect_eq "$r" OK "msgget on node2"
#
# What it gives:
#   cluster_up N [OPTS...]   fresh dir (mktemp -d /tmp/dipc-test.XXXXXX, made 0755 so that
#                            unprivileged programs can reach the nodes' sockets), then
#                            "dipc cluster up --nodes N --dir DIR OPTS"; fails the test unless
#                            it exits 0. Sets DIR. May be called again (a second cluster).
#   cluster_try_up N [OPTS]  the same, but returns up's exit status (UP_RC) instead of
#                            failing; its output is in the file UP_OUT.
#   cluster_down             "dipc cluster down" for DIR now (the EXIT trap does it anyway).
#   track_dir D              the EXIT trap treats D as one of the test's cluster directories
#                            (cluster down, the checks, rm -rf), for a D made by the test.
#   on NODE CMD...           timeout 30 dipc cluster exec NODE --dir DIR -- CMD...
#   bg_on NODE CMD...        the same in the background: sets BG_PID (the timeout process,
#                            leader of its own process group), BG_OUT and BG_ERR (files with
#                            its stdout and stderr). Use in the main shell, not in $(...).
#   bg_wait PID TIMEOUT_S    waits (bounded) for a bg_on job; returns its exit status; fails
#                            the test if it is still running after TIMEOUT_S.
#   bg_running PID           true while a bg_on job runs.
#   calls_running NODE       the calls NODE's dipcd runs for other nodes now (dipc status).
#   plain CMD...             CMD without DIPC in a fresh private IPC namespace
#                            (unshare --ipc), bounded by timeout 30.
#   fail MSG                 prints MSG and exits 1 (not from inside $(...)).
#   log MSG                  progress line on stderr.
#   expect_eq ACTUAL EXPECTED WHAT
#   wait_for 'CMD' TIMEOUT_S evaluates CMD until it succeeds; returns 1 after TIMEOUT_S.
#   await_pid PIDFILE [TIMEOUT_S]  waits for a pid file written by msgwait and sets PROG_PID
#                            (checked against /proc, with a pgrep fallback). The process may
#                            have ended since: check (bg_running, /proc) before signalling.
#   ls_lines NODE TYPE KEY   the "dipc ls" lines (run on NODE) for object TYPE/KEY (KEY in
#                            decimal or 0x hex; dipc ls prints 0x%08x); status 0
#                            when there is one, 1 when none, 2 when dipc ls itself failed.
#   ls_has / ls_absent NODE TYPE KEY   predicates for wait_for.
#   ls_owner LINE            the owner node named in a dipc ls line.
#   now_ms                   wall clock in milliseconds.
#   restart_node NODE        kills NODE's dipcd (-9) and starts it again in its namespaces
#                            with its (possibly edited) config; waits (bounded) until its
#                            state is joined, or returns 1. node1 keeps its TCP port.
# Variables: DIPC_BUILD, DIPC_SRC, DIPC (the dipc tool), PROGS (tests/progs binaries),
# EXAMPLES, SCRATCH (a per-test scratch dir, mode 1777), NOBODY (setpriv prefix that runs
# a command as the unprivileged user nobody).
#
# Teardown: an EXIT trap stops every background job, runs "dipc cluster down" on every
# cluster it started, checks that no dipcd of those clusters survived, prints each node's
# state and dipcd.log tail when the test failed, and removes the directories. Every loop
# here is bounded in count and in time.

DIPC_BUILD=${DIPC_BUILD:-/work/main/build}
DIPC_SRC=${DIPC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DIPC=$DIPC_BUILD/bin/dipc
PROGS=$DIPC_BUILD/tests/progs
EXAMPLES=$DIPC_BUILD/examples
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
TEST_NAME=$(basename "$0" .sh)
export DIPC_BUILD DIPC_SRC

DIR=""
UP_OUT=""
UP_RC=0
PROG_PID=""
BG_PID=""
BG_OUT=""
BG_ERR=""
_DIRS=()
_BG_PIDS=()
_BG_N=0

log() { printf '[%s %s] %s\n' "$TEST_NAME" "$(date +%T.%3N)" "$*" >&2; }

fail() {
  printf '[%s %s] FAIL: %s\n' "$TEST_NAME" "$(date +%T.%3N)" "$*" >&2
  exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

expect_eq() {
  local actual=$1 expected=$2 what=$3
  if [[ "$actual" != "$expected" ]]; then
    fail "$what: expected [$expected], got [$actual]"
  fi
}

# wait_for 'CMD' TIMEOUT_S: eval CMD every 0.1 s until it succeeds (0) or TIMEOUT_S passed (1).
wait_for() {
  local cmd=$1 t=${2:-10}
  local deadline=$(($(now_ms) + t * 1000)) i=0 max=$((t * 10 + 1))
  while ((i < max)); do
    if eval "$cmd" >/dev/null 2>&1; then
      return 0
    fi
    if (($(now_ms) >= deadline)); then
      break
    fi
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

_check_built() {
  local f
  for f in "$DIPC" "$PROGS/msgwait" "$PROGS/msgsem" "$EXAMPLES/hello1" "$EXAMPLES/hello2"; do
    [[ -x "$f" ]] || fail "$f is missing: build first (DIPC_BUILD=$DIPC_BUILD)"
  done
  [[ $(id -u) -eq 0 ]] || fail "cluster tests need root (they start dipcd)"
}

SCRATCH=$(mktemp -d /tmp/dipc-test.XXXXXX) || {
  echo "cannot make a scratch directory" >&2
  exit 1
}
chmod 1777 "$SCRATCH"

# The processes that run a dipcd of cluster dir D, as found through its pid files; only
# those whose command line names D (a pid may have been reused).
_cluster_daemons() {
  local d=$1 f pid
  for f in "$d"/node*/dipcd.pid; do
    [[ -f "$f" ]] || continue
    pid=$(tr -dc '0-9' <"$f")
    [[ -n "$pid" && -r /proc/$pid/cmdline ]] || continue
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$d"; then
      echo "$pid"
    fi
  done
}

_dump_failure() {
  local d node f
  for d in "${_DIRS[@]}"; do
    [[ -f "$SCRATCH/up.$(basename "$d").out" ]] &&
      sed "s|^|  [up $d] |" "$SCRATCH/up.$(basename "$d").out" >&2
    for node in "$d"/node*; do
      [[ -d "$node" ]] || continue
      printf -- '---- %s: state [%s]\n' "$node" "$(cat "$node/run/state" 2>/dev/null)" >&2
      if [[ -f "$node/dipcd.log" ]]; then
        printf -- '---- %s/dipcd.log (last 60 lines)\n' "$node" >&2
        tail -n 60 "$node/dipcd.log" >&2
      fi
    done
  done
  for f in "$SCRATCH"/bg*.cmd; do
    [[ -f "$f" ]] || continue
    printf -- '---- background job %s: %s\n' "$(basename "$f" .cmd)" "$(cat "$f")" >&2
    sed 's/^/  out: /' "${f%.cmd}.out" >&2 2>/dev/null
    sed 's/^/  err: /' "${f%.cmd}.err" >&2 2>/dev/null
  done
}

_cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  local pid d i left m mp
  # 1. Background jobs: each is a timeout process leading its own process group.
  for pid in "${_BG_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    fi
  done
  # 2. The clusters.
  for d in "${_DIRS[@]}"; do
    [[ -d "$d" ]] || continue
    if ! timeout 60 "$DIPC" cluster down --dir "$d" </dev/null >"$SCRATCH/down.out" 2>&1; then
      log "dipc cluster down --dir $d failed: $(cat "$SCRATCH/down.out")"
      ((rc == 0)) && rc=1
    fi
    # Nothing of this cluster may survive "down": check, and clean up after a bug.
    for i in $(seq 1 30); do
      left=$(_cluster_daemons "$d")
      [[ -z "$left" ]] && break
      sleep 0.1
    done
    if [[ -n "$left" ]]; then
      log "dipcd still running after cluster down (pids: ${left//$'\n'/ }); killing them"
      for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
      ((rc == 0)) && rc=1
    fi
    m=$(awk -v d="$d/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo)
    if [[ -n "$m" ]]; then
      log "mounts left under $d after cluster down: ${m//$'\n'/ }; unmounting"
      for mp in $m; do umount -l "$mp" 2>/dev/null; done
      ((rc == 0)) && rc=1
    fi
  done
  if ((rc != 0)); then
    _dump_failure
  fi
  # 3. Reap the background jobs (bounded), then force.
  for i in $(seq 1 20); do
    left=""
    for pid in "${_BG_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && left+=" $pid"; done
    [[ -z "$left" ]] && break
    sleep 0.1
  done
  for pid in $left; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null; done
  for d in "${_DIRS[@]}"; do rm -rf "$d"; done
  rm -rf "$SCRATCH"
  if ((rc == 0)); then log "PASS"; else log "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

cluster_try_up() {
  local n=$1
  shift
  _check_built
  DIR=$(mktemp -d /tmp/dipc-test.XXXXXX) || fail "mktemp failed"
  chmod 755 "$DIR"
  _DIRS+=("$DIR")
  UP_OUT=$SCRATCH/up.$(basename "$DIR").out
  log "dipc cluster up --nodes $n --dir $DIR $*"
  UP_RC=0
  # Output to a file, not a pipe: the daemons it starts must not hold our stdout open.
  timeout 90 "$DIPC" cluster up --nodes "$n" --dir "$DIR" "$@" </dev/null >"$UP_OUT" 2>&1 ||
    UP_RC=$?
  sed 's/^/  up: /' "$UP_OUT" >&2
  return "$UP_RC"
}

track_dir() { _DIRS+=("$1"); }

cluster_up() {
  local n=$1
  cluster_try_up "$@" || fail "dipc cluster up --nodes $n failed (exit $UP_RC)"
}

cluster_down() {
  [[ -n "$DIR" ]] || return 0
  timeout 60 "$DIPC" cluster down --dir "$DIR" </dev/null >"$SCRATCH/down.out" 2>&1 ||
    fail "dipc cluster down --dir $DIR failed: $(cat "$SCRATCH/down.out")"
}

on() {
  local node=$1
  shift
  timeout 30 "$DIPC" cluster exec "$node" --dir "$DIR" -- "$@" </dev/null
}

bg_on() {
  local node=$1
  shift
  _BG_N=$((_BG_N + 1))
  BG_OUT=$SCRATCH/bg$_BG_N.out
  BG_ERR=$SCRATCH/bg$_BG_N.err
  printf '%s %s\n' "$node" "$*" >"$SCRATCH/bg$_BG_N.cmd"
  timeout 30 "$DIPC" cluster exec "$node" --dir "$DIR" -- "$@" </dev/null >"$BG_OUT" 2>"$BG_ERR" &
  BG_PID=$!
  _BG_PIDS+=("$BG_PID")
}

bg_running() { kill -0 "$1" 2>/dev/null; }

# calls_running NODE: the calls NODE's dipcd runs for other nodes now (`dipc status`).
calls_running() { on "$1" "$DIPC" status | sed -n 's/.* \([0-9]*\) calls running for others.*/\1/p'; }

bg_wait() {
  local pid=$1 t=${2:-30} rc=0
  local deadline=$(($(now_ms) + t * 1000)) i=0 max=$((t * 20 + 1))
  while bg_running "$pid" && ((i < max)) && (($(now_ms) < deadline)); do
    sleep 0.05
    i=$((i + 1))
  done
  bg_running "$pid" && fail "background job $pid still running after ${t}s"
  wait "$pid" || rc=$?
  return "$rc"
}

plain() {
  timeout 30 env -u LD_PRELOAD -u DIPC_RUNDIR unshare --ipc "$@" </dev/null
}

# await_pid PIDFILE [TIMEOUT_S]: msgwait writes its pid there just before it blocks.
await_pid() {
  local f=$1 t=${2:-15} pid
  wait_for "[[ -s '$f' ]]" "$t" || fail "no pid file $f after ${t}s"
  pid=$(tr -dc '0-9' <"$f")
  # The pid is ours if that process runs msgwait with this pid file (no pid namespace);
  # otherwise find it by its command line, anchored on the program so that the timeout
  # and "dipc cluster exec" processes (which carry the same words later on) never match.
  if [[ -n "$pid" && -r /proc/$pid/cmdline ]] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$f"; then
    PROG_PID=$pid
    return 0
  fi
  local alt
  alt=$(pgrep -f -- "^[^ ]*msgwait [^ ]+ .*$f\$" | head -n 1) || true
  if [[ -n "$alt" ]]; then
    PROG_PID=$alt
  else
    # Already ended (it may have found a message waiting): callers check before signalling.
    PROG_PID=$pid
  fi
}

ls_lines() {
  local node=$1 type=$2 key out
  key=$(printf '0x%08x' $(($3 & 0xffffffff)))  # dipc ls prints keys as ipcs does
  out=$(on "$node" "$DIPC" ls 2>&1) || {
    log "dipc ls on $node failed: $out"
    return 2
  }
  # Field 1 is the type, field 2 the key (a "name=" or "name:" prefix is tolerated).
  awk -v t="$type" -v k="$key" '
    function v(s) { sub(/^[A-Za-z_]+[=:]/, "", s); return s }
    tolower(v($1)) == t && v($2) == k { print; n++ }
    END { exit n ? 0 : 1 }' <<<"$out"
}

ls_has() { ls_lines "$@" >/dev/null; }

ls_absent() {
  local rc=0
  ls_lines "$@" >/dev/null || rc=$?
  ((rc == 1))
}

# The owner is the first node name in the line after type and key (holders come later).
ls_owner() {
  awk '{ for (i = 3; i <= NF; i++) { s = $i; sub(/^[A-Za-z_]+[=:]/, "", s)
         if (s ~ /^node[0-9]+,?$/) { sub(/,$/, "", s); print s; exit } } }' <<<"$1"
}

restart_node() {
  local n=$1 port i
  if [[ $n == node1 ]]; then
    # The other nodes know the referee by address and port: it must come back on the same.
    port=$(tr -dc '0-9' <"$DIR/node1/run/dipcd.port")
    sed -i "s/^listen_port *=.*/listen_port = $port/" "$DIR/node1/dipc.conf"
  fi
  kill -9 "$(cat "$DIR/$n/dipcd.pid")" 2>/dev/null || true
  for i in $(seq 1 50); do
    pgrep -f -- "^$DIPC_BUILD/sbin/dipcd --config $DIR/$n/dipc.conf" >/dev/null || break
    sleep 0.05
  done
  rm -f "$DIR/$n/run/state" # the dead daemon's "joined" must not count
  setsid "$DIPC" cluster exec "$n" --dir "$DIR" -- "$DIPC_BUILD/sbin/dipcd" \
    --config "$DIR/$n/dipc.conf" </dev/null >>"$DIR/$n/dipcd.log" 2>&1 &
  for i in $(seq 1 50); do
    pgrep -f -- "^$DIPC_BUILD/sbin/dipcd --config $DIR/$n/dipc.conf" >/dev/null && break
    sleep 0.05
  done
  # The daemon itself, not the "dipc cluster exec" that started it (same words later on).
  pgrep -f -- "^$DIPC_BUILD/sbin/dipcd --config $DIR/$n/dipc.conf" | head -n 1 >"$DIR/$n/dipcd.pid"
  wait_for "[[ \$(cat '$DIR/$n/run/state' 2>/dev/null) == joined ]]" 10
}

