#!/usr/bin/env bash
# bench/scale.sh [BUILD_DIR]: how DIPC grows with the number of nodes and of distributed
# objects, on one machine (docs/benchmarks.md, "Scale"). BUILD_DIR (default
# /work/main/build) must hold the build (bin/dipc, sbin/dipcd, lib/libdipc.so, bench/tput,
# bench/referee_rate, bench/referee_load); this script builds nothing. Needs root (dipc cluster up).
#
# For each node count N of SCALE_NODES (default "2 4 8 16") it starts a cluster of N nodes
# (`dipc cluster up --nodes N --no-secret --heartbeat-ms 200 --peer-timeout-ms 1000`, in a
# fresh directory under /tmp, torn down by an EXIT trap), then grows it step by step to
# each total of SCALE_OBJECTS (default "1000 10000") distributed message queues, the
# nodes owning equal shares. Each step measures:
#   create     the new queues made by one process per node, all nodes at once (wall time)
#   owned B    growth of dipcd's resident memory (VmRSS) per queue it owns (mean of
#              node2..nodeN; node1 also runs the referee)
#   ref B      node1's growth beyond its own share, per object: the referee's entry
#   lookup/s   node2 looks up every new queue owned elsewhere, one msgget(key, IPC_DIPC) at
#              a time: a referee look-up, a check at the owner and a placeholder on node2
#   ph B       node2's memory growth per placeholder so made
#   all/s      nodes 3..N look up node1's new queues at the same time (N > 2)
#   table/s    the referee's own table in process (bench/referee_rate, one thread): the
#              look-up rate without the links
#   net/s      look-ups the referee (node1's dipcd) answers over the network: one more
#              member (bench/referee_load, with node2's configuration) keeps 256 look-ups
#              of node1's queues in flight on its link for a second
#   ls s       `dipc ls` on node2 of everything (the number listed is printed)
#   dead ms    nodeN's dipcd stopped (SIGSTOP) until node1 logs it declared dead (the peer
#              timeout is 1000 ms, heartbeats every 200 ms)
#   join ms    nodeN's dipcd then killed and started again until it has joined
# After a step nodeN has restarted: its queues are gone (fail-stop), and the next step
# counts only what it adds. Every wait is bounded.
#
# Output: a header, then one line per step (also written to SCALE_OUT if set, as the data
# file of bench/plot_scale.sh):
#   nodes objects created create_s owned_B ref_B lookup_per_s ph_B all_per_s table_per_s ls_s listed dead_ms join_ms net_per_s
# Environment: SCALE_NODES, SCALE_OBJECTS, SCALE_OUT, KEEP_DIR=1 (keep the last cluster's
# directory).
set -uo pipefail

BUILD=${1:-/work/main/build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || {
  echo "scale.sh: no build directory ${1:-/work/main/build}" >&2
  exit 2
}
DIPC=$BUILD/bin/dipc
DIPCD=$BUILD/sbin/dipcd
TPUT=$BUILD/bench/tput
RRATE=$BUILD/bench/referee_rate
RLOAD=$BUILD/bench/referee_load
NODES_LIST=${SCALE_NODES:-2 4 8 16}
OBJ_LIST=${SCALE_OBJECTS:-1000 10000}
NB=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
for f in "$DIPC" "$DIPCD" "$TPUT" "$RRATE" "$RLOAD"; do
  [[ -x $f ]] || {
    echo "scale.sh: $f is missing: build first (ninja -C $BUILD)" >&2
    exit 2
  }
done
[[ $(id -u) -eq 0 ]] || {
  echo "scale.sh: needs root (dipc cluster up)" >&2
  exit 2
}

DIR=""
cleanup() {
  if [[ -n $DIR && -f $DIR/cluster ]]; then
    timeout 60 "$DIPC" cluster down --dir "$DIR" >/dev/null 2>&1 ||
      echo "scale.sh: dipc cluster down failed; see $DIR" >&2
  fi
  if [[ -n $DIR ]]; then
    if [[ -n ${KEEP_DIR:-} ]]; then echo "scale.sh: kept $DIR" >&2; else rm -rf "$DIR"; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
T0=$SECONDS
log() { printf '[scale %4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
now_ns() { date +%s%N; }

on() {
  local node=$1
  shift
  timeout 120 "$DIPC" cluster exec "$node" --dir "$DIR" -- "${NB[@]}" "$@"
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$(tr -dc 0-9 <"$DIR/$1/dipcd.pid")/status" 2>/dev/null || echo 0; }
# The queues of node k: keys KB(k) + i, i = 0.., never reused within a cluster.
kb() { echo $((0x53000000 + $1 * 0x10000)); }

# wait_until CMD TIMEOUT_S: polls CMD every 10 ms; 0 when it held in time.
wait_until() {
  local end=$(($(now_ns) + $2 * 1000000000))
  while (($(now_ns) < end)); do
    eval "$1" && return 0
    sleep 0.01
  done
  return 1
}

TITLE=$(printf '# DIPC scale %s, Linux %s, %s CPU, load average at start %s' \
  "$(date -u +%Y-%m-%dT%H:%MZ)" "$(uname -r)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)")
HDR="nodes objects created create_s owned_B ref_B lookup_per_s ph_B all_per_s table_per_s ls_s listed dead_ms join_ms net_per_s"
printf '%s\n%s\n' "$TITLE" "$HDR"
[[ -n ${SCALE_OUT:-} ]] && printf '%s\n# %s\n' "$TITLE" "$HDR" >"$SCALE_OUT"

for N in $NODES_LIST; do
  [[ -n $DIR ]] && cleanup
  DIR=$(mktemp -d /tmp/dipc-scale.XXXXXX) || exit 2
  chmod 0755 "$DIR"
  log "cluster of $N nodes in $DIR"
  t=$(now_ns)
  if ! timeout 120 "$DIPC" cluster up --nodes "$N" --no-secret --heartbeat-ms 200 \
    --peer-timeout-ms 1000 --dir "$DIR" >"$DIR/up.out" 2>&1; then
    cat "$DIR/up.out" >&2
    exit 1
  fi
  log "up in $((($(now_ns) - t) / 1000000)) ms"
  declare -A NEXT=()
  for ((k = 1; k <= N; k++)); do NEXT[$k]=0; done
  prev=0
  for M in $OBJ_LIST; do
    add=$((M - prev))
    ((add > 0)) || continue
    per=$(((add + N - 1) / N))
    declare -A R0=() R1=()
    for ((k = 1; k <= N; k++)); do R0[$k]=$(rss_kb "node$k"); done
    # create: one process per node, all at once
    t=$(now_ns)
    pids=()
    for ((k = 1; k <= N; k++)); do
      on "node$k" "$TPUT" make-msg --key $(($(kb $k) + NEXT[$k])) --n "$per" >/dev/null \
        2>"$DIR/make.$k.err" &
      pids+=($!)
    done
    bad=0
    for p in "${pids[@]}"; do wait "$p" || bad=1; done
    create_ns=$(($(now_ns) - t))
    ((bad)) && log "a node failed to create its queues: $(cat "$DIR"/make.*.err | head -c 300)"
    for ((k = 1; k <= N; k++)); do R1[$k]=$(rss_kb "node$k"); done
    owned=$(for ((k = 2; k <= N; k++)); do echo $((R1[$k] - R0[$k])); done |
      awk -v per="$per" '{ s += $1; n++ } END { printf "%.0f", s * 1024 / n / per }')
    ref=$(awk -v d=$((R1[1] - R0[1])) -v o="$owned" -v per="$per" -v add=$((per * N)) \
      'BEGIN { printf "%.0f", (d * 1024 - o * per) / add }')
    # node2 looks up every new queue owned elsewhere, one at a time
    ph0=$(rss_kb node2)
    lus=0
    nl=0
    for ((k = 1; k <= N; k++)); do
      ((k == 2)) && continue
      out=$(on node2 "$TPUT" get-msg --key $(($(kb $k) + NEXT[$k])) --n "$per" 2>"$DIR/get.err") ||
        log "look-ups on node2 failed: $(head -c 300 "$DIR/get.err")"
      lus=$((lus + $(awk '$1 == "elapsed_us" { print $2 }' <<<"$out")))
      nl=$((nl + per))
    done
    ph1=$(rss_kb node2)
    lookup=$(awk -v n="$nl" -v us="$lus" 'BEGIN { printf "%.0f", (us > 0 ? n * 1e6 / us : 0) }')
    ph=$(awk -v d=$((ph1 - ph0)) -v n="$nl" 'BEGIN { printf "%.0f", d * 1024 / n }')
    # nodes 3..N look up node1's new queues at the same time
    all=-
    if ((N > 2)); then
      t=$(now_ns)
      pids=()
      for ((k = 3; k <= N; k++)); do
        on "node$k" "$TPUT" get-msg --key $(($(kb 1) + NEXT[1])) --n "$per" >/dev/null \
          2>"$DIR/getall.$k.err" &
        pids+=($!)
      done
      for p in "${pids[@]}"; do wait "$p" || log "look-ups failed on a node"; done
      all=$(awk -v n=$(((N - 2) * per)) -v ns=$(($(now_ns) - t)) 'BEGIN { printf "%.0f", n * 1e9 / ns }')
    fi
    for ((k = 1; k <= N; k++)); do NEXT[$k]=$((NEXT[$k] + per)); done
    table=$("$RRATE" --objects "$M" --nodes "$N" --ms 500 | awk '{ print $2 }')
    net=$(timeout 30 "$RLOAD" --config "$DIR/node2/dipc.conf" --name "lookload$M" --first "$(kb 1)" \
      --count "${NEXT[1]}" --window 256 --ms 1000 2>"$DIR/rload.err" | awk '{ print $2 }')
    [[ -n $net ]] || { net=-; log "referee_load failed: $(head -c 300 "$DIR/rload.err")"; }
    # dipc ls of everything, on node2
    t=$(now_ns)
    listed=$(on node2 "$DIPC" ls 2>/dev/null | grep -c '^msg ')
    ls_ns=$(($(now_ns) - t))
    # nodeN stopped until node1 declares it dead, then restarted until it has joined
    V=node$N
    VP=$(tr -dc 0-9 <"$DIR/$V/dipcd.pid")
    before=$(grep -c "node $V declared dead" "$DIR/node1/dipcd.log")
    kill -STOP "$VP"
    t=$(now_ns)
    if wait_until "(( \$(grep -c 'node $V declared dead' '$DIR/node1/dipcd.log') > $before ))" 30; then
      dead=$((($(now_ns) - t) / 1000000))
    else
      dead=-
      log "node1 never declared $V dead"
    fi
    kill -9 "$VP"
    kill -CONT "$VP" 2>/dev/null
    wait_until "! kill -0 $VP 2>/dev/null" 10 || log "$V's dipcd did not go"
    rm -f "$DIR/$V/run/state"
    t=$(now_ns)
    setsid "$DIPC" cluster exec "$V" --dir "$DIR" -- "$DIPCD" --config "$DIR/$V/dipc.conf" \
      </dev/null >>"$DIR/$V/dipcd.log" 2>&1 &
    if wait_until "[[ \$(cat '$DIR/$V/run/state' 2>/dev/null) == joined ]]" 60; then
      join=$((($(now_ns) - t) / 1000000))
    else
      join=-
      log "$V did not rejoin"
    fi
    pgrep -f -- "^$DIPCD --config $DIR/$V/dipc.conf" | head -n 1 >"$DIR/$V/dipcd.pid"
    line=$(awk -v n="$N" -v m="$M" -v c=$((per * N)) -v cs="$create_ns" -v o="$owned" -v r="$ref" \
      -v l="$lookup" -v ph="$ph" -v a="$all" -v tb="$table" -v ls="$ls_ns" -v li="$listed" \
      -v d="$dead" -v j="$join" -v nt="$net" 'BEGIN {
        printf "%d %d %d %.2f %s %s %s %s %s %s %.2f %d %s %s %s\n", n, m, c, cs / 1e9, o, r, l, ph, a, tb, ls / 1e9, li, d, j, nt }')
    echo "$line"
    [[ -n ${SCALE_OUT:-} ]] && echo "$line" >>"$SCALE_OUT"
    prev=$M
  done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -n ${SCALE_OUT:-} ]] && echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$SCALE_OUT"
log "done"
