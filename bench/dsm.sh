#!/usr/bin/env bash
# bench/dsm.sh [BUILD_DIR]: the distributed-shared-memory benchmarks (bench/dsmbench.c),
# each beside its baseline measured in the same run, and their ratio, in the layouts of
# bench/run.sh (BENCH_LAYOUTS "1cpu 2cpu": everything on CPU 0, or node1 on CPU 0 and node2
# on CPU 1). Needs root; starts its own 2-node cluster per layout and always tears it down.
#
# Cases (node1 owns every segment, node2 faults):
#   readfault   a remote 4 KiB read fault (every other page of a 1024-page segment the
#               owner holds, read once on node2, so that no read-ahead helps; median of 5
#               segments) vs a TCP round trip
#               carrying 4 KiB (tcppingpong pair --size 4096) (target <= 2.0, goal 1.2)
#   seq64-page  sequential read of a 64 MiB segment on node2, page mode, vs TCP bandwidth
#               (64 KiB ping-pong, bytes moved both ways per second) (target >= 0.5)
#   seq64-seg   the same with node1 in segment mode ([dsm] mode = "segment")
#   writeinv    a write fault on the owner that must invalidate two readers (node2 and node3
#               read every page of a 256-page segment first): time per fault vs the TCP
#               round trip carrying 4 KiB, i.e. its cost in round trips, and the frames the
#               owner sends and receives per fault (two recalls and two answers: 4)
#   turns       two nodes writing one page alternately: time per turn with quantum 0 and
#               with the default quantum (2 ms)
#   local       a segment used only on its owner, after the first touch: a loop over it vs
#               the same loop over a plain System V segment (target <= 1.05); the run with
#               the median ratio of five, each on a fresh segment
# Messages per fault are counted by node2's dipcd (the dsm line of `dipc status`, read before
# and after the case): "msgs/fault" is (requests + answers) / faults; a read of a page the
# owner holds should be one request and one answer carrying the page (2.0).
set -uo pipefail
BUILD=${1:-/work/main/build}
BUILD=$(cd "$BUILD" && pwd) || exit 2
DIPC=$BUILD/bin/dipc
DB=$BUILD/bench/dsmbench
TP=$BUILD/bench/tcppingpong
LAYOUTS=${BENCH_LAYOUTS:-1cpu 2cpu}
DIR=""
cleanup() { [[ -n $DIR ]] && timeout 60 "$DIPC" cluster down --dir "$DIR" >/dev/null 2>&1; [[ -n $DIR ]] && rm -rf "$DIR"; }
trap cleanup EXIT
on() { local n=$1 c=$2; shift 2; timeout 90 "$DIPC" cluster exec "$n" --dir "$DIR" -- taskset -c "$c" "$@"; }
pin() { taskset -a -pc "$2" "$(cat "$DIR/$1/dipcd.pid")" >/dev/null; }
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
line() { printf '%-5s %-11s %12s %-9s %12s %-9s ratio %6s   %s\n' "$@"; }
# dsm_counts NODE: "faults requests answers" (read + write faults) from its dsm status line.
dsm_counts() {
  timeout 10 "$DIPC" cluster exec "$1" --dir "$DIR" -- "$DIPC" status 2>/dev/null | sed -nE \
    's/^dsm:.*faults ([0-9]+) read ([0-9]+) write; requests ([0-9]+) answers ([0-9]+) .*/\1 \2 \3 \4/p' |
    awk '{ print $1 + $2, $3, $4 }'
}
# frames NODE: "write_faults frames_out frames_in" from its dsm status line.
frames() {
  timeout 10 "$DIPC" cluster exec "$1" --dir "$DIR" -- "$DIPC" status 2>/dev/null | sed -nE \
    's/^dsm:.*read ([0-9]+) write;.*frames ([0-9]+) out ([0-9]+) in.*/\1 \2 \3/p'
}
# per_write BEFORE AFTER: frames (out + in) per write fault between two frames.
per_write() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); f = y[1] - x[1]
    if (f <= 0) { print "-"; exit } printf "%.2f", (y[2] - x[2] + y[3] - x[3]) / f }'
}
# per_fault BEFORE AFTER: messages per fault between two dsm_counts.
per_fault() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); f = y[1] - x[1]
    if (f <= 0) { print "-"; exit } printf "%.2f", (y[2] - x[2] + y[3] - x[3]) / f }'
}

restart() {  # NODE: kill and start again with its (edited) config, keeping node1's port
  local n=$1 port i
  if [[ $n == node1 ]]; then
    port=$(tr -dc '0-9' <"$DIR/node1/run/dipcd.port")
    sed -i "s/^listen_port *=.*/listen_port = $port/" "$DIR/node1/dipc.conf"
  fi
  local pid
  pid=$(cat "$DIR/$n/dipcd.pid")
  kill -9 "$pid" 2>/dev/null
  # Gone, or a zombie with no thread left (its descriptors closed): a killed dipcd with
  # much memory takes a while to exit, and its socket answers until then. The leader shows
  # Z before its other threads have gone, so the threads are counted too.
  for i in $(seq 400); do
    [[ -e /proc/$pid ]] || break
    grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null &&
      (($(ls "/proc/$pid/task" 2>/dev/null | wc -l) <= 1)) && break
    sleep 0.05
  done
  rm -f "$DIR/$n/run/state"
  setsid "$DIPC" cluster exec "$n" --dir "$DIR" -- "$BUILD/sbin/dipcd" --config "$DIR/$n/dipc.conf" \
    </dev/null >>"$DIR/$n/dipcd.log" 2>&1 &
  for i in $(seq 300); do
    pgrep -f -- "^$BUILD/sbin/dipcd --config $DIR/$n/dipc.conf" | head -n 1 >"$DIR/$n/dipcd.pid"
    [[ -s $DIR/$n/dipcd.pid && $(cat "$DIR/$n/run/state" 2>/dev/null) == joined ]] && return 0
    sleep 0.05
  done
  return 1
}
set_dsm() {  # NODE KEY VALUE
  local conf=$DIR/$1/dipc.conf
  grep -q '^\[dsm\]' "$conf" || printf '\n[dsm]\n' >>"$conf"
  sed -i "/^$2 *=/d" "$conf"
  sed -i "/^\[dsm\]/a $2 = $3" "$conf"
}

# new_seg PAGES: fills a new segment of PAGES on node1 (its key in $key) and waits until
# node2 finds it.
new_seg() {
  key=$((key + 1))
  on node1 $c0 "$DB" fill $key "$1"
  for i in $(seq 50); do on node2 $c1 "$DB" read $key 0 >/dev/null 2>&1 && break; sleep 0.1; done
}

key=0x7a00
for layout in $LAYOUTS; do
  c0=0 c1=0
  [[ $layout == 2cpu ]] && c1=1
  DIR=$(mktemp -d /tmp/dipc-dsmbench.XXXXXX)
  chmod 755 "$DIR"
  # No secret, as bench/run.sh: the baselines are plain TCP (what encryption costs is
  # bench/secret.sh's).
  timeout 90 "$DIPC" cluster up --nodes 3 --no-secret --dir "$DIR" >/dev/null 2>&1 || { echo "cluster up failed"; exit 1; }
  pin node3 $c1
  pin node1 $c0
  pin node2 $c1
  tcp4k=$(timeout 30 "$TP" pair --size 4096 --cpu $c0 --cpu2 $c1 | field median_us)
  tcp64=$(timeout 30 "$TP" pair --size 65536 --cpu $c0 --cpu2 $c1 | field median_us)
  tcpmib=$(awk -v us="$tcp64" 'BEGIN { printf "%.1f", 2 * 65536 / (us / 1e6) / 1048576 }')

  vals=()
  m0=$(dsm_counts node2)
  for r in 1 2 3 4 5; do
    new_seg 1024
    vals+=("$(on node2 $c1 "$DB" read $key 1024 2 | field us_per_page)")
  done
  m1=$(dsm_counts node2)
  rf=$(printf '%s\n' "${vals[@]}" | median)
  line "$layout" readfault "$rf us" "" "$tcp4k us" "tcp-4k" "$(ratio "$rf" "$tcp4k")" "(target <= 2.0, goal 1.2; msgs/fault $(per_fault "$m0" "$m1"))"

  new_seg 16384
  m0=$(dsm_counts node2)
  mib=$(on node2 $c1 "$DB" read $key 16384 | field mib_per_s)
  m1=$(dsm_counts node2)
  line "$layout" seq64-page "$mib MiB/s" "" "$tcpmib MiB/s" "tcp-64k" "$(ratio "$mib" "$tcpmib")" "(target >= 0.5; msgs/fault $(per_fault "$m0" "$m1"))"

  # A write that must invalidate two readers (node1's frames counted: recalls out, answers in).
  new_seg 256
  on node2 $c1 "$DB" read $key 256 >/dev/null
  on node3 $c1 "$DB" read $key 256 >/dev/null
  f0=$(frames node1)
  wi=$(on node1 $c0 "$DB" write $key 256 | field us_per_page)
  f1=$(frames node1)
  line "$layout" writeinv "$wi us" "" "$tcp4k us" "tcp-4k" "$(ratio "$wi" "$tcp4k")" "(round trips per write fault; frames/fault $(per_write "$f0" "$f1"))"

  new_seg 1
  t=$key
  on node2 $c1 "$DB" turns $t 1 300 &
  other=$!
  q2=$(on node1 $c0 "$DB" turns $t 0 300 | field us_per_turn)
  wait $other

  # Five runs on fresh segments, the one with the median ratio: one run moves by +-5%
  # with where the pages happen to lie (two plain System V segments differ as much).
  locs=()
  for r in 1 2 3 4 5; do
    key=$((key + 1))
    locs+=("$(on node1 $c0 "$DB" local $key 4096 20)")
  done
  loc=$(printf '%s\n' "${locs[@]}" | sort -t' ' -k6 -n | sed -n 3p)
  line "$layout" local "$(echo "$loc" | field dsm_us) us" "" "$(echo "$loc" | field sysv_us) us" "sysv" "$(echo "$loc" | field ratio)" "(target <= 1.05; median of 5 runs)"

  set_dsm node1 mode '"segment"'
  set_dsm node1 quantum 0
  restart node1 || { echo "node1 did not restart; its log ends:"; tail -n 15 "$DIR/node1/dipcd.log"; exit 1; }
  for i in $(seq 100); do [[ $(cat "$DIR/node2/run/state" 2>/dev/null) == joined ]] && break; sleep 0.05; done
  pin node1 $c0
  key=$((key + 1))
  new_seg 16384
  m0=$(dsm_counts node2)
  mib=$(on node2 $c1 "$DB" read $key 16384 | field mib_per_s)
  m1=$(dsm_counts node2)
  line "$layout" seq64-seg "$mib MiB/s" "" "$tcpmib MiB/s" "tcp-64k" "$(ratio "$mib" "$tcpmib")" "(target >= 0.5; msgs/fault $(per_fault "$m0" "$m1"))"

  new_seg 1
  t=$key
  # Without a quantum two writers may take the page from each other before either uses
  # it: bounded, and reported as no progress.
  timeout 20 "$DIPC" cluster exec node2 --dir "$DIR" -- taskset -c $c1 "$DB" turns $t 1 300 >/dev/null 2>&1 &
  other=$!
  q0=$(timeout 20 "$DIPC" cluster exec node1 --dir "$DIR" -- taskset -c $c0 "$DB" turns $t 0 300 | field us_per_turn)
  wait $other
  if [[ -n $q0 ]]; then
    line "$layout" turns "$q0 us" "q=0" "$q2 us" "q=2ms" "$(ratio "$q0" "$q2")" "(per turn; the page moves each turn)"
  else
    line "$layout" turns "none" "q=0" "$q2 us" "q=2ms" "-" "(quantum 0: 300 turns not done in 20 s)"
  fi
  cleanup
  DIR=""
done
