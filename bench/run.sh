#!/usr/bin/env bash
# bench/run.sh [BUILD_DIR]: the DIPC benchmarks, each beside its baseline measured in the
# same run, with the ratio. BUILD_DIR (default /work/main/build) must already hold the
# build (bin/dipc, sbin/dipcd, lib/libdipc.so, bench/*); this script builds nothing.
#
# Needs root (dipc cluster up makes IPC namespaces) and util-linux (unshare, setpriv,
# taskset). It starts its own 2-node cluster in a fresh directory under /tmp, runs every
# benchmark program as the unprivileged user nobody (a remote call from root would run as
# nobody at the owner anyway, unless remote_root is set), and always tears the cluster
# down (EXIT trap). Every wait is bounded; a run takes about 5 minutes, and no new
# measurement starts after BENCH_BUDGET_S seconds (default 420). The side-by-side cases
# (ZeroMQ, Open MPI) run when bench/ext was built (scripts/deps.sh --bench installs the
# libraries; then rebuild). bench/all.sh runs this, bench/dsm.sh and bench/scale.sh in one go.
#
# Method: for each case the DIPC program and its baseline program run at the same time but
# take turns (benchutil.h, --turn-in/--turn-out over two FIFOs): after a warm-up each,
# they time alternate slices, so a drift in the machine's load (other work on a shared VM)
# reaches both sides alike. Each side prints the median of its slices (BENCH_TIMING,
# default "--warm 100 --dur 100 --reps 15"); a case reports both medians and their ratio.
#
# Environment:
#   BENCH_LAYOUTS  "unpinned 1cpu 2cpu" (default), or some of them:
#                  unpinned: nothing pinned, as a user runs it (the scheduler places
#                        every process and daemon thread; a hop that lands on the other
#                        CPU pays a cross-CPU wake-up)
#                  1cpu: every process and both dipcd pinned to CPU 0 (every hop is a
#                        context switch: the figures add up the CPU work of the path)
#                  2cpu: node1 (its dipcd and its processes) on CPU 0, node2 on CPU 1
#                        (every node-to-node hop is also a cross-CPU wake-up, which on
#                        this kind of VM costs tens of microseconds: a stand-in network)
#   BENCH_TIMING, BENCH_BUDGET_S: see above.
#   BENCH_DSM=0    skip the distributed-shared-memory cases (bench/dsm.sh, run last, on a
#                  cluster of its own, in the pinned layouts; about a minute per layout).
#   BENCH_SHIM_B   another libdipc.so (say, built before a change): each layout then also
#                  runs msg-c 8B (both layouts) and sem-e with this build's shim against
#                  that one, same cluster, taking turns (lines ab-msg-c, ab-msg-c-n1,
#                  ab-sem-e; baseline = BENCH_SHIM_B).
#   BENCH_BUILD_B  another build directory (say, of the commit before a change to dipcd):
#                  a second 2-node cluster is started with its dipc and dipcd, and each
#                  layout then also runs msg-c 8B (both layouts) and sem-e on this
#                  build's cluster against that one, same run, taking turns (lines
#                  abd-msg-c, abd-msg-c-n1, abd-sem-e; baseline = BENCH_BUILD_B).
#   BENCH_TPUT_K   the K of the throughput section ("1 4 16 64"; "" skips it);
#   BENCH_TPUT_TIMING its timing ("--warm 200 --dur 200 --reps 5").
#   KEEP_DIR=1     keep the cluster directory (logs) after the run.
#
# Output: one line per case, e.g.
#   msg-a  8B   shim     3.05 us   baseline     3.02 us   ratio  1.01   (target <= 1.05) ok
# and per layout a "floor" line (a Unix socket round trip plus the TCP round trip between
# the nodes: what a remote call costs at least with a dipcd between a process and the
# network, against sem-e); then, for layout 1cpu, each piece of a remote call timed on its
# own; then the throughput section (calls per second of K processes, against K TCP
# clients, and node1's own semop time meanwhile). docs/benchmarks.md describes the cases
# and discusses the results; bench/plot.sh draws the ratios.
set -uo pipefail

BUILD=${1:-/work/main/build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || {
  echo "run.sh: no build directory ${1:-/work/main/build}" >&2
  exit 2
}
DIPC=$BUILD/bin/dipc
SHIM=$BUILD/lib/libdipc.so
BENCH=$BUILD/bench
LAYOUTS=${BENCH_LAYOUTS:-unpinned 1cpu 2cpu}
TIMING=${BENCH_TIMING:---warm 100 --dur 100 --reps 15}
read -ra TM <<<"$TIMING"
BUDGET=${BENCH_BUDGET_S:-420}
NB=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
T0=$SECONDS

for f in "$DIPC" "$BUILD/sbin/dipcd" "$SHIM" "$BENCH/msgbench" "$BENCH/sembench" \
  "$BENCH/tcppingpong" "$BENCH/hops" "$BENCH/tput"; do
  [[ -e "$f" ]] || {
    echo "run.sh: $f is missing: build first (ninja -C $BUILD)" >&2
    exit 2
  }
done
[[ $(id -u) -eq 0 ]] || {
  echo "run.sh: needs root (dipc cluster up)" >&2
  exit 2
}
for c in unshare setpriv taskset timeout nproc awk sort; do
  command -v "$c" >/dev/null || {
    echo "run.sh: $c not found" >&2
    exit 2
  }
done
NCPU=$(nproc)

DIR=$(mktemp -d /tmp/dipc-bench.XXXXXX) || exit 2
chmod 0755 "$DIR"
mkdir -m 1777 "$DIR/scratch"
BG_PIDS=()
BG=""
BG_ERR=/dev/null
cleanup() {
  local p
  for p in "${BG_PIDS[@]}"; do
    kill -- "$p" 2>/dev/null
  done
  if [[ -f "$DIR/cluster" ]]; then
    timeout 20 "$DIPC" cluster down --dir "$DIR" >/dev/null 2>&1 ||
      echo "run.sh: dipc cluster down failed; see $DIR" >&2
  fi
  if [[ -f "$DIR/b/cluster" ]]; then
    timeout 20 "$DIPC_B" cluster down --dir "$DIR/b" >/dev/null 2>&1 ||
      echo "run.sh: dipc cluster down failed; see $DIR/b" >&2
  fi
  if [[ -n "${KEEP_DIR:-}" ]]; then
    echo "run.sh: cluster directory kept: $DIR" >&2
  else
    rm -rf "$DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[bench %3ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
over_budget() { ((SECONDS - T0 >= BUDGET)); }

KEY=$((0x44420000 + RANDOM * 16))
next_key() { KEY=$((KEY + 16)); }

# on NODE CMD...: CMD on NODE of our cluster (shim preloaded), as nobody, bounded. CDIPC
# and CDIR, when set, name the other cluster (BENCH_BUILD_B) instead.
on() {
  local node=$1
  shift
  timeout 30 "${CDIPC:-$DIPC}" cluster exec "$node" --dir "${CDIR:-$DIR}" -- "${NB[@]}" "$@"
}

# bg_on NODE CMD...: the same in the background; sets BG (its pid) and BG_ERR (its stderr).
bg_on() {
  local node=$1
  shift
  BG_ERR=$DIR/scratch/bg.$BASHPID.$RANDOM.err
  timeout 30 "${CDIPC:-$DIPC}" cluster exec "$node" --dir "${CDIR:-$DIR}" -- "${NB[@]}" "$@" \
    >/dev/null 2>"$BG_ERR" &
  BG=$!
  BG_PIDS+=("$BG")
}

# bg_wait: waits (bounded by its timeout) for the background job BG.
bg_wait() {
  wait "$BG" 2>/dev/null
  local rc=$?
  ((rc == 0)) || log "peer process failed (rc $rc): $(head -c 300 "$BG_ERR")"
  return $rc
}

# measure CMD...: runs CMD (a benchmark program) and prints its median_us (or the field
# MFIELD names; with MSAVE set, a copy of its whole output goes to that file), or logs the
# failure and prints nothing (and, when CMD was taking turns, passes the token on so that
# the other side is not left waiting).
measure() {
  local out err=$DIR/scratch/err.$BASHPID a prev=""
  if ! out=$("$@" 2>"$err"); then
    log "failed: $* : $(head -c 300 "$err")"
    for a in "$@"; do
      [[ $prev == --turn-out && -p "$a" ]] && printf t >"$a"
      prev=$a
    done
  fi
  [[ -n "${MSAVE:-}" ]] && printf '%s\n' "$out" >"$MSAVE"
  awk -v f="${MFIELD:-median_us}" '$1 == f { print $2; exit }' <<<"$out"
}

# duel FN_DIPC FN_BASE: runs the two case functions at once, taking turns (each function
# gets TURN_IN TURN_OUT and passes them to its measuring program, and prints that program's
# median); sets D and B to the two figures. Each side gets its own range of keys.
DUELS=0
duel() {
  local fa=$1 fb=$2 t1 t2 fd1 fd2 pa pb
  D=""
  B=""
  if over_budget; then
    log "time budget of ${BUDGET}s used up: skipping $fa"
    return 0
  fi
  DUELS=$((DUELS + 1))
  t1=$DIR/scratch/turn.$DUELS.a
  t2=$DIR/scratch/turn.$DUELS.b
  mkfifo -m 0666 "$t1" "$t2" || return 0
  # Held open here so that the first token stays buffered until a side opens its FIFO.
  exec {fd1}<>"$t1" {fd2}<>"$t2"
  printf t >&"$fd1"
  KEY=$((KEY + 256))
  $fa "$t1" "$t2" >"$t1.out" &
  pa=$!
  KEY=$((KEY + 256))
  $fb "$t2" "$t1" >"$t2.out" &
  pb=$!
  wait "$pa" "$pb"
  exec {fd1}>&- {fd2}>&-
  D=$(head -n1 "$t1.out")
  B=$(head -n1 "$t2.out")
}

# report LABEL WHAT KIND TARGET: prints the case line for D and B. TARGET "" means none;
# "1.05*" shows the target without a verdict (a one-node case in layout 2cpu, where the
# cross-CPU wake-up, tens of microseconds give or take 5%, swamps what is being compared).
report() {
  local label=$1 what=$2 kind=$3 target=$4
  if [[ -z "$D" || -z "$B" ]]; then
    printf '%-9s %-4s %s %8s us   baseline %8s us   ratio   n/a   (%s) NOT MEASURED\n' \
      "$label" "$what" "$kind" "${D:--}" "${B:--}" "${target:+target <= $target}"
    return
  fi
  awk -v l="$label" -v w="$what" -v k="$kind" -v d="$D" -v b="$B" -v t="$target" 'BEGIN {
    r = d / b
    if (t == "") { verdict = ""; tt = "no target" }
    else if (t ~ /\*$/) { verdict = ""; tt = "target <= " substr(t, 1, length(t) - 1) " judged in 1cpu" }
    else { verdict = (r <= t + 1e-9) ? " ok" : " MISSED"; tt = "target <= " t }
    printf "%-9s %-4s %s %8.2f us   baseline %8.2f us   ratio %5.2f   (%s)%s\n", l, w, k, d, b, r, tt, verdict
  }'
}

size_name() { if (($1 == 8)); then echo 8B; else echo 4KiB; fi; }

# ---- cluster ----
log "cluster up in $DIR"
if ! timeout 30 "$DIPC" cluster up --nodes 2 --no-secret --dir "$DIR" >"$DIR/scratch/up.out" 2>&1; then
  cat "$DIR/scratch/up.out" >&2
  exit 1
fi
P1=$(tr -dc 0-9 <"$DIR/node1/dipcd.pid")
P2=$(tr -dc 0-9 <"$DIR/node2/dipcd.pid")
BUILD_B=${BENCH_BUILD_B:-}
DIPC_B=""
P1B=""
P2B=""
if [[ -n $BUILD_B ]]; then
  DIPC_B=$(cd "$BUILD_B" 2>/dev/null && pwd)/bin/dipc
  [[ -x $DIPC_B && -e $BUILD_B/sbin/dipcd ]] || {
    echo "run.sh: BENCH_BUILD_B=$BUILD_B has no bin/dipc and sbin/dipcd" >&2
    exit 2
  }
  log "second cluster (BENCH_BUILD_B) up in $DIR/b"
  mkdir -m 0755 "$DIR/b"
  if ! timeout 30 "$DIPC_B" cluster up --nodes 2 --no-secret --dir "$DIR/b" \
    >"$DIR/scratch/upb.out" 2>&1; then
    cat "$DIR/scratch/upb.out" >&2
    exit 1
  fi
  P1B=$(tr -dc 0-9 <"$DIR/b/node1/dipcd.pid")
  P2B=$(tr -dc 0-9 <"$DIR/b/node2/dipcd.pid")
fi

# Sanity: an IPC_DIPC set made on node1 is listed by node2 and owned by node1, so the
# programs below really exercise DIPC (the shim falls back to plain local objects when it
# can't reach dipcd).
next_key
on node1 "$BENCH/sembench" make --key "$KEY" || exit 1
if ! timeout 10 "$DIPC" cluster exec node2 --dir "$DIR" -- "$DIPC" ls 2>/dev/null |
  awk -v k="$KEY" '$1 == "sem" && $2 == k && $4 == "node1" { f = 1 } END { exit !f }'; then
  echo "run.sh: sanity check failed: node2 does not see node1's distributed set" >&2
  exit 1
fi
on node1 "$BENCH/sembench" rm --key "$KEY" || exit 1

# pin_daemons CPU1 CPU2: every thread of node1's and node2's dipcd (new workers inherit);
# -1 lets them run on every CPU again (layout unpinned).
pin_daemons() {
  local c1=$1 c2=$2
  ((c1 < 0)) && c1=0-$((NCPU - 1))
  ((c2 < 0)) && c2=0-$((NCPU - 1))
  taskset -a -p -c "$c1" "$P1" >/dev/null && taskset -a -p -c "$c2" "$P2" >/dev/null || return 1
  [[ -z $P1B ]] || { taskset -a -p -c "$c1" "$P1B" >/dev/null && taskset -a -p -c "$c2" "$P2B" >/dev/null; }
}

# ---- the cases; C0 is node1's CPU, C1 node2's; SZ the message size. Each takes
# TURN_IN TURN_OUT (see duel) and prints the median of its measuring program. ----

# (a) the same ping-pong with and without the shim, in a private IPC namespace.
a_shim() {
  next_key
  measure timeout 30 unshare --ipc env LD_PRELOAD="$SHIM" "${NB[@]}" "$BENCH/msgbench" pair \
    --size "$SZ" \
    --key "$KEY" --cpu "$C0" --cpu2 "$C1" "${TM[@]}" --turn-in "$1" --turn-out "$2"
}
a_plain() {
  next_key
  measure timeout 30 unshare --ipc "${NB[@]}" "$BENCH/msgbench" pair --size "$SZ" --key "$KEY" \
    --cpu "$C0" --cpu2 "$C1" "${TM[@]}" --turn-in "$1" --turn-out "$2"
}
# (a0) no wake-up at all: one process sends itself a message and takes it back, with and
# without the shim: the bare per-call cost of the shim's check, in a private namespace.
a0_shim() {
  next_key
  measure timeout 30 unshare --ipc env LD_PRELOAD="$SHIM" "${NB[@]}" "$BENCH/msgbench" self \
    --size "$SZ" --key "$KEY" --cpu "$C0" "${TM[@]}" --turn-in "$1" --turn-out "$2"
}
a0_plain() {
  next_key
  measure timeout 30 unshare --ipc "${NB[@]}" "$BENCH/msgbench" self --size "$SZ" --key "$KEY" \
    --cpu "$C0" "${TM[@]}" --turn-in "$1" --turn-out "$2"
}
# (a2) the same on node1 of the cluster: dipcd running, its id table mapped by the shim.
a2_shim() {
  next_key
  measure on node1 "$BENCH/msgbench" pair --size "$SZ" --key "$KEY" --cpu "$C0" --cpu2 "$C1" \
    "${TM[@]}" --turn-in "$1" --turn-out "$2"
}
a2_plain() {
  next_key
  measure on node1 env LD_PRELOAD= "$BENCH/msgbench" pair --size "$SZ" --key "$KEY" \
    --cpu "$C0" --cpu2 "$C1" "${TM[@]}" --turn-in "$1" --turn-out "$2"
}
# (b) a distributed queue on its owner node vs a plain local queue, both on node1.
b_dipc() {
  next_key
  measure on node1 "$BENCH/msgbench" pair --dipc --size "$SZ" --key "$KEY" --cpu "$C0" \
    --cpu2 "$C1" "${TM[@]}" --turn-in "$1" --turn-out "$2"
}
b_plain() { a2_shim "$@"; }

# wait_port FILE: the port a server wrote to FILE, waited for (bounded: 4 s), or "".
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    [[ -s "$1" ]] && break
    sleep 0.02
  done
  cat "$1" 2>/dev/null
}

# server_rt PROG TURN_IN TURN_OUT: a round trip of SZ bytes between PROG ping on node1
# (C0) and PROG serve on node2 (C1) over 127.0.0.1 (tcppingpong and zmqpingpong take the
# same options).
server_rt() {
  local prog=$1 pf port
  shift
  pf=$DIR/scratch/port.$RANDOM$RANDOM
  bg_on node2 "$BENCH/$prog" serve --portfile "$pf" --size "$SZ" --cpu "$C1" --limit 25
  port=$(wait_port "$pf")
  if [[ -z "$port" ]]; then
    log "$prog serve never wrote its port"
    kill "$BG" 2>/dev/null
    printf t >"$2" # let the other side go on alone
  else
    measure on node1 "$BENCH/$prog" ping --port "$port" --size "$SZ" --cpu "$C0" \
      "${TM[@]}" --turn-in "$1" --turn-out "$2"
  fi
  bg_wait
}

# Raw TCP round trip of SZ bytes between a process of node1 (pinging, C0) and one of node2
# (echoing, C1) over 127.0.0.1, the path dipcd's links take.
tcp_rt() { server_rt tcppingpong "$@"; }
# Side by side (when built, bench/ext): a ZeroMQ REQ/REP round trip, REQ on node1, REP on
# node2.
zmq_rt() { server_rt zmqpingpong "$@"; }

# An Open MPI ping-pong of SZ bytes, TCP transport only, rank 0 on C0 and rank 1 on C1.
# mpirun starts both ranks itself, outside the nodes' IPC namespaces (MPI uses none of
# their objects, and the nodes of this cluster share the loopback network), as root. The
# ranks yield the CPU while they poll (mpi_yield_when_idle): on 2 shared vCPUs, ranks that
# spin flat out took 4 to 100 times longer.
mpi_rt() {
  measure timeout 60 env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_pml=ob1 \
    OMPI_MCA_mpi_yield_when_idle=1 \
    mpirun -np 2 --oversubscribe --bind-to none "$BENCH/mpipingpong" --size "$SZ" \
    --cpu "$C0" --cpu2 "$C1" "${TM[@]}" --turn-in "$1" --turn-out "$2"
}

# (c) node1 pings, node2 echoes, through distributed queues. LAYOUT:
#   mailbox: each process receives on a queue its own node owns and sends to the other's
#            (queue A owned by node1, B by node2): every send remote, every receive local
#   node1:   both queues owned by node1: node2 sends and receives remotely
c_dipc() {
  local a b cp cr=rx
  next_key
  a=$KEY
  b=$((KEY + 1))
  if [[ $LAYOUT == mailbox ]]; then cp=rx; else cp=none cr=both; fi
  bg_on node2 "${PRE[@]}" "$BENCH/msgbench" pong --rx "$b" --tx "$a" --create "$cp" --size "$SZ" \
    --cpu "$C1" --limit 25
  measure on node1 "${PRE[@]}" "$BENCH/msgbench" ping --rx "$a" --tx "$b" --create "$cr" --size "$SZ" \
    --cpu "$C0" "${TM[@]}" --turn-in "$1" --turn-out "$2"
  bg_wait
}

# (d) uncontended P+V, per semop, on a distributed set on its owner vs a plain local set.
d_dipc() {
  next_key
  measure on node1 "$BENCH/sembench" pv --dipc --key "$KEY" --cpu "$C0" "${TM[@]}" \
    --turn-in "$1" --turn-out "$2"
}
d_plain() {
  next_key
  measure on node1 "$BENCH/sembench" pv --key "$KEY" --cpu "$C0" "${TM[@]}" \
    --turn-in "$1" --turn-out "$2"
}

# (e) P+V, per semop, from node2 on a set owned by node1.
e_dipc() {
  next_key
  on node1 "$BENCH/sembench" make --key "$KEY" --val 1 2>"$DIR/scratch/err.$BASHPID" || {
    log "sembench make failed: $(head -c 300 "$DIR/scratch/err.$BASHPID")"
    printf t >"$2"
    return 0
  }
  measure on node2 "${PRE[@]}" "$BENCH/sembench" pv --open --key "$KEY" --cpu "$C1" "${TM[@]}" \
    --turn-in "$1" --turn-out "$2"
  on node1 "$BENCH/sembench" rm --key "$KEY" 2>/dev/null
}

# (f) two-node semaphore ping-pong: node1 V(s0) P(s1), node2 P(s0) V(s1); set on node1.
f_dipc() {
  next_key
  bg_on node2 "$BENCH/sembench" pong --key "$KEY" --cpu "$C1" --limit 25
  measure on node1 "$BENCH/sembench" ping --key "$KEY" --cpu "$C0" "${TM[@]}" \
    --turn-in "$1" --turn-out "$2"
  bg_wait
}

SEM_LOCAL=""
E_1CPU=""
# PRE: words put before a DIPC case's program (the A/B cases set it to another shim).
PRE=()
SHIM_B=${BENCH_SHIM_B:-}
c_shimB() {
  PRE=(env LD_PRELOAD="$SHIM_B")
  c_dipc "$@"
}
e_shimB() {
  PRE=(env LD_PRELOAD="$SHIM_B")
  e_dipc "$@"
}
# The same cases on the BENCH_BUILD_B cluster (each duel side runs in a subshell of its own).
c_buildB() {
  CDIPC=$DIPC_B CDIR=$DIR/b
  c_dipc "$@"
}
e_buildB() {
  CDIPC=$DIPC_B CDIR=$DIR/b
  e_dipc "$@"
}

# target_of CASE LAYOUT: the ratio target of a two-node case (docs/benchmarks.md; "" for none).
target_of() {
  case "$1 $2" in
  "msg-c unpinned") echo 6 ;;
  "msg-c 1cpu") echo 5 ;;
  "msg-c 2cpu") echo 1.2 ;;
  "sem-e 1cpu") echo 3 ;;
  "sem-e 2cpu") echo 1.1 ;;
  *) echo "" ;;
  esac
}

# floor_report LAYOUT: the floor of this architecture, from D and B of the sem-e duel just
# run. With a dipcd between a process and the network, a remote call is at least one local
# round trip (shim <-> its dipcd: a Unix socket round trip on node2's CPU) plus one
# node-to-node round trip (the TCP baseline B): prints both, their sum and sem-e against it.
floor_report() {
  local e=$D tcp=$B unix
  unix=$(measure timeout 30 unshare --ipc "${NB[@]}" "$BENCH/tcppingpong" pair --unix --size 64 \
    --cpu "$C1" --cpu2 "$C1" "${TM[@]}")
  if [[ -z "$e" || -z "$tcp" || -z "$unix" ]]; then
    echo "floor     1op  NOT MEASURED"
    return
  fi
  awk -v e="$e" -v t="$tcp" -v u="$unix" 'BEGIN {
    f = u + t
    printf "floor     1op  unix rt %.2f + tcp rt %.2f = %8.2f us   sem-e %8.2f us   sem-e/floor %5.2f   tcp/floor %5.2f\n", u, t, f, e, e / f, t / f
  }'
}

run_layout() {
  local lay=$1 desc
  if [[ $lay == unpinned ]]; then
    C0=-1
    C1=-1
    desc="nothing pinned (as a user runs it)"
  elif [[ $lay == 1cpu ]]; then
    C0=0
    C1=0
    desc="every process and both dipcd pinned to CPU 0"
  elif [[ $lay == 2cpu ]]; then
    if ((NCPU < 2)); then
      log "only $NCPU CPU: skipping layout 2cpu"
      return
    fi
    C0=0
    C1=1
    desc="node1 (dipcd + its processes) on CPU 0, node2 on CPU 1; one-node pairs across CPUs 0/1"
  else
    log "unknown layout $lay"
    return
  fi
  pin_daemons "$C0" "$C1" || log "could not pin the daemons"
  echo "== layout $lay: $desc =="
  # One-node targets are judged in layout 1cpu (see report).
  local star=""
  [[ $lay != 1cpu ]] && star="*"
  for SZ in 8 4096; do
    duel a_shim a_plain
    report msg-a "$(size_name $SZ)" shim "1.05$star"
  done
  if [[ $lay == 1cpu ]]; then
    SZ=8
    duel a0_shim a0_plain
    report msg-a0 8B shim 1.05
    for SZ in 8 4096; do
      duel a2_shim a2_plain
      report msg-a2 "$(size_name $SZ)" shim 1.05
    done
  fi
  for SZ in 8 4096; do
    duel b_dipc b_plain
    report msg-b "$(size_name $SZ)" dipc "1.10$star"
  done
  LAYOUT=mailbox
  for SZ in 8 4096; do
    duel c_dipc tcp_rt
    report msg-c "$(size_name $SZ)" dipc "$(target_of msg-c "$lay")"
  done
  LAYOUT=node1
  SZ=8
  duel c_dipc tcp_rt
  report msg-c-n1 8B dipc "$(target_of msg-c "$lay")"
  if [[ -x $BENCH/zmqpingpong ]]; then
    for SZ in 8 4096; do
      duel zmq_rt tcp_rt
      report zmq-rr "$(size_name $SZ)" zmq ""
    done
  fi
  if [[ -x $BENCH/mpipingpong ]] && command -v mpirun >/dev/null; then
    for SZ in 8 4096; do
      duel mpi_rt tcp_rt
      report mpi-pp "$(size_name $SZ)" mpi ""
    done
  fi
  if [[ $lay == 1cpu ]]; then
    duel d_dipc d_plain
    report sem-d 1op dipc 1.10
    SEM_LOCAL=$B
  fi
  SZ=8
  duel e_dipc tcp_rt
  report sem-e 1op dipc "$(target_of sem-e "$lay")"
  [[ $lay == 1cpu ]] && E_1CPU=$D
  floor_report "$lay"
  duel f_dipc tcp_rt
  report sem-f rt dipc ""
  # A/B: this build's shim against BENCH_SHIM_B (same cluster), or this build's cluster
  # against BENCH_BUILD_B's; same run, taking turns; the baseline column is the other one.
  if [[ -n $SHIM_B ]]; then ab_cases ab shimB; fi
  if [[ -n $BUILD_B ]]; then ab_cases abd buildB; fi
}

# ab_cases PREFIX SUFFIX: msg-c 8B in both layouts and sem-e, c_dipc/e_dipc against
# c_SUFFIX/e_SUFFIX, reported as PREFIX-msg-c, PREFIX-msg-c-n1, PREFIX-sem-e.
ab_cases() {
  SZ=8
  LAYOUT=mailbox
  duel c_dipc "c_$2"
  report "$1-msg-c" 8B new ""
  LAYOUT=node1
  duel c_dipc "c_$2"
  report "$1-msg-c-n1" 8B new ""
  duel e_dipc "e_$2"
  report "$1-sem-e" 1op new ""
}

echo "DIPC benchmarks $(date -u +%Y-%m-%dT%H:%MZ), Linux $(uname -r), $NCPU CPU" \
  "($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), build $BUILD"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "each figure: median of the slices of one run ($TIMING), timed in turns with the baseline"
echo "msg-*, sem-f: one round trip (msg-a0: one msgsnd + msgrcv, no wake-up); sem-d, sem-e:" \
  "one semop call; baselines: msg-a/a0/a2/b the same program without the shim or without" \
  "IPC_DIPC, sem-d a local set, msg-c/sem-e/sem-f TCP node1 <-> node2"
for lay in $LAYOUTS; do
  run_layout "$lay"
done

# ---- where the time of a remote call goes (layout 1cpu) ----
if [[ " $LAYOUTS " == *" 1cpu "* ]] && ! over_budget; then
  echo "== pieces of one remote semop (sem-e, layout 1cpu), each timed on its own =="
  unix=$(measure timeout 30 unshare --ipc "${NB[@]}" "$BENCH/tcppingpong" pair --unix --size 64 \
    --cpu 0 --cpu2 0 "${TM[@]}")
  tcp=$(measure timeout 30 unshare --ipc "${NB[@]}" "$BENCH/tcppingpong" pair --size 64 --cpu 0 \
    --cpu2 0 "${TM[@]}")
  nssc=$(measure timeout 30 "$BENCH/hops" nss-caller --user nobody --cpu 0 "${TM[@]}")
  nsso=$(measure timeout 30 "$BENCH/hops" nss-owner --user nobody --cpu 0 "${TM[@]}")
  ident=$(measure timeout 30 "$BENCH/hops" ident-inline --user nobody --cpu 0 "${TM[@]}")
  hand=$(measure timeout 30 "$BENCH/hops" handoff --cpu 0 "${TM[@]}")
  # The NSS lookups are cached in dipcd (identity.cc, 10 s) since commit b4b90a9: shown,
  # but not part of the sum of what every call pays.
  awk -v e="$E_1CPU" -v u="$unix" -v t="$tcp" -v nc="$nssc" -v no="$nsso" -v id="$ident" \
    -v h="$hand" -v s="$SEM_LOCAL" 'BEGIN {
    printf "%-58s %7.2f us\n", "unix socket round trip, 64 B (shim <-> dipcd)", u
    printf "%-58s %7.2f us\n", "TCP loopback round trip, 64 B (dipcd <-> dipcd)", t
    printf "%-58s %7.2f us\n", "owner: identity switch there and back (4 system calls)", id
    printf "%-58s %7.2f us\n", "the semop itself (sem-d baseline)", s
    sum = u + t + id + s
    printf "%-58s %7.2f us\n", "sum of the pieces", sum
    if (e != "") {
      printf "%-58s %7.2f us\n", "measured remote semop (sem-e)", e
      printf "%-58s %7.2f us\n", "rest (asio, framing, extra system calls and wake-ups)", e - sum
    }
    printf "%-58s %7.2f us\n", "(not per call: caller node getpwuid_r + getgrouplist)", nc
    printf "%-58s %7.2f us\n", "(not per call: owner getpwnam_r + getpwuid_r + getgrouplist)", no
    printf "%-58s %7.2f us\n", "(a call that must wait adds: io -> worker -> io hand-off)", h
  }'
fi
# ---- throughput (layout unpinned): K processes on node2 calling objects owned by node1,
# against K processes doing request/response over TCP to one server on node1 ----
TP_KS=${BENCH_TPUT_K-1 4 16 64}
read -ra TTM <<<"${BENCH_TPUT_TIMING:---warm 200 --dur 200 --reps 5}"
TPUT=$BENCH/tput
SLICES=$DIR/scratch/slices

# tp_side LABEL TURN_IN TURN_OUT CMD...: measure CMD (tput on node2) for calls/s, append its
# slices to SLICES as "CASE K LABEL T0 T1".
tp_side() {
  local label=$1 tin=$2 tout=$3 save
  shift 3
  save=$DIR/scratch/tp.$label.$BASHPID
  MFIELD=median_cps MSAVE=$save measure on node2 "$TPUT" "$@" "${TTM[@]}" \
    --turn-in "$tin" --turn-out "$tout"
  [[ -f $save ]] && awk -v c="$TP_CASE" -v k="$TP_K" -v l="$label" \
    '$1 == "slice" { print c, k, l, $2, $3 }' "$save" >>"$SLICES"
}

tp_dipc() {
  local b=$KEY n=1 cmd drain=""
  KEY=$((KEY + 128))
  case $TP_CASE in
  msg-one) cmd=(msg --procs "$TP_K" --key "$b") ;;
  msg-many)
    n=$TP_K
    cmd=(msg --many --procs "$TP_K" --key "$b")
    ;;
  sem)
    n=$TP_K
    cmd=(sem --procs "$TP_K" --key "$b")
    ;;
  esac
  local what=msg
  [[ $TP_CASE == sem ]] && what=sem
  if ! on node1 "$TPUT" "make-$what" --key "$b" --n "$n" >/dev/null 2>"$DIR/scratch/err.$BASHPID"; then
    log "tput make-$what failed: $(head -c 300 "$DIR/scratch/err.$BASHPID")"
    printf t >"$2"
    return 0
  fi
  if [[ $what == msg ]]; then
    bg_on node1 "$TPUT" drain --key "$b" --n "$n" --limit 60
    drain=$BG
  fi
  tp_side dipc "$1" "$2" "${cmd[@]}"
  on node1 "$TPUT" "rm-$what" --key "$b" --n "$n" 2>/dev/null
  [[ -n $drain ]] && bg_wait
}

tp_tcp() {
  local pf port
  pf=$DIR/scratch/port.$RANDOM$RANDOM
  bg_on node1 "$TPUT" tcp-serve --portfile "$pf" --limit 60
  port=$(wait_port "$pf")
  if [[ -z "$port" ]]; then
    log "tput tcp-serve never wrote its port"
    kill "$BG" 2>/dev/null
    printf t >"$2"
  else
    tp_side tcp "$1" "$2" tcp --procs "$TP_K" --port "$port"
  fi
  bg_wait
}

if [[ -n "$TP_KS" ]] && ! over_budget; then
  pin_daemons -1 -1 || log "could not unpin the daemons"
  echo "== throughput (layout unpinned): K processes on node2, objects owned by node1; baseline:" \
    "K processes doing 8 B request/response over TCP to one epoll server on node1 =="
  : >"$SLICES"
  next_key
  PKEY=$KEY
  KEY=$((KEY + 16))
  pstop=$DIR/scratch/probe.stop
  pready=$DIR/scratch/probe.ready
  timeout 900 "$DIPC" cluster exec node1 --dir "$DIR" -- "${NB[@]}" "$TPUT" probe --key "$PKEY" \
    --stop "$pstop" --ready "$pready" --idle-ms 1000 --limit 890 >"$DIR/scratch/probe.out" \
    2>"$DIR/scratch/probe.err" &
  PROBE=$!
  BG_PIDS+=("$PROBE")
  for ((i = 0; i < 500; i++)); do
    [[ -e $pready ]] && break
    kill -0 "$PROBE" 2>/dev/null || break
    sleep 0.02
  done
  [[ -e $pready ]] || log "the probe on node1 did not start: $(head -c 300 "$DIR/scratch/probe.err")"
  for TP_K in $TP_KS; do
    for TP_CASE in msg-one msg-many sem; do
      duel tp_dipc tp_tcp
      if [[ -z "$D" || -z "$B" ]]; then
        printf 'tput %-8s K=%-3s NOT MEASURED (dipc %s, tcp %s)\n' "$TP_CASE" "$TP_K" "${D:--}" "${B:--}"
        continue
      fi
      awk -v c="$TP_CASE" -v k="$TP_K" -v d="$D" -v b="$B" 'BEGIN {
        r = d / b; v = ""
        if (k == 16) v = (r >= 0.5) ? " ok" : " MISSED"
        printf "tput %-8s K=%-3s dipc %9.0f calls/s   tcp %9.0f calls/s   ratio %5.2f   (target >= 0.5 at K=16)%s\n", c, k, d, b, r, v
      }'
    done
  done
  : >"$pstop"
  wait "$PROBE" 2>/dev/null
  echo "-- node1's own calls meanwhile (a P+V every 0.5 ms on a set node1 owns, us per semop; idle: before the runs) --"
  awk '
    FNR == NR { if ($1 == "sample") { n++; st[n] = $2; sd[n] = $3 } else if ($1 == "idle_us") idle = $2; next }
    { key = $1 " K=" $2; side = $3; t0 = $4; t1 = $5
      for (i = 1; i <= n; i++) if (st[i] >= t0 && st[i] <= t1) { T[key, side] += sd[i]; N[key, side]++ }
      if (!(key in seen)) { seen[key] = ++m; order[m] = key }
    }
    END {
      printf "probe idle %.3f us\n", idle
      for (j = 1; j <= m; j++) {
        k = order[j]
        a = (N[k, "dipc"] > 0) ? T[k, "dipc"] / N[k, "dipc"] / 2000 : -1
        b = (N[k, "tcp"] > 0) ? T[k, "tcp"] / N[k, "tcp"] / 2000 : -1
        if (a < 0 || b < 0) { printf "probe %-14s n/a\n", k; continue }
        printf "probe %-14s during dipc %7.3f us   during tcp %7.3f us   ratio %5.2f   (vs idle %5.2f)   samples %d / %d\n", k, a, b, a / b, a / idle, N[k, "dipc"], N[k, "tcp"]
      }
    }' "$DIR/scratch/probe.out" "$SLICES"
fi
# ---- distributed shared memory (bench/dsm.sh: its own cluster, the pinned layouts) ----
dsm_layouts=$(tr ' ' '\n' <<<"$LAYOUTS" | grep -xE '1cpu|2cpu' | tr '\n' ' ')
if [[ ${BENCH_DSM:-1} == 1 && -n ${dsm_layouts// /} ]]; then
  echo "== distributed shared memory (bench/dsm.sh, layouts $dsm_layouts) =="
  BENCH_LAYOUTS="$dsm_layouts" bash "$(dirname "${BASH_SOURCE[0]}")/dsm.sh" "$BUILD"
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
log "done in $((SECONDS - T0)) s"

