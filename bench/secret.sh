#!/usr/bin/env bash
# bench/secret.sh [BUILD_DIR]: what the cluster secret costs (every link authenticated and
# sealed with XChaCha20-Poly1305, docs/security.md), per remote call and in bytes on the
# wire. Needs root; BUILD_DIR (default /work/main/build) must hold the build.
#
# Two 2-node clusters run side by side, one made with a secret (dipc cluster up's default)
# and one with --no-secret. Each case runs ROUNDS times (BENCH_ROUNDS, default 5) on each
# cluster in turn (secret, plain, secret, ...), so a drift in the machine's load reaches
# both alike; a case reports the median over rounds of each side's median, and the ratio.
# Cases: msg-c (node1 pings, node2 echoes through queues each owns: one remote msgsnd per
# hop) at 8 B and 4 KiB, and sem-e (a remote P+V, per semop). Bytes: one more run of each
# msg-c size counts what both dipcd sent on their TCP sockets (ss bytes_sent) per round
# trip. Every program runs as nobody, pinned as layout 1cpu of bench/run.sh (CPU 0).
# Output, e.g. (docs/benchmarks.md discusses a run):
#   msg-c 8 B          secret   311.74 us   no secret   269.70 us   ratio  1.16
#   bytes msg-c 8 B    secret   402.00 B/rt   no secret   257.00 B/rt   ratio  1.56
set -uo pipefail
BUILD=$(cd "${1:-/work/main/build}" 2>/dev/null && pwd) || {
  echo "secret.sh: no build directory" >&2
  exit 2
}
DIPC=$BUILD/bin/dipc
BENCH=$BUILD/bench
ROUNDS=${BENCH_ROUNDS:-5}
TM=(--warm 100 --dur 100 --reps 9)
NB=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
[[ $(id -u) -eq 0 ]] || {
  echo "secret.sh: needs root" >&2
  exit 2
}
command -v ss >/dev/null || {
  echo "secret.sh: ss (iproute2) not found" >&2
  exit 2
}
TOP=$(mktemp -d /tmp/dipc-bench-secret.XXXXXX) || exit 2
chmod 0755 "$TOP"
cleanup() {
  local d
  for d in "$TOP/sec" "$TOP/plain"; do
    [[ -f "$d/cluster" ]] && timeout 20 "$DIPC" cluster down --dir "$d" >/dev/null 2>&1
  done
  rm -rf "$TOP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for c in sec plain; do
  opt=()
  [[ $c == plain ]] && opt=(--no-secret)
  timeout 30 "$DIPC" cluster up --nodes 2 --dir "$TOP/$c" "${opt[@]}" >"$TOP/up.$c" 2>&1 || {
    cat "$TOP/up.$c" >&2
    exit 1
  }
  for n in node1 node2; do taskset -a -p -c 0 "$(tr -dc 0-9 <"$TOP/$c/$n/dipcd.pid")" >/dev/null; done
done
grep -q "encrypted" <(timeout 10 "$DIPC" cluster exec node1 --dir "$TOP/sec" -- "$DIPC" status) || {
  echo "secret.sh: the secret cluster does not say its links are encrypted" >&2
  exit 1
}

KEY=$((0x53430000 + RANDOM * 16))
on() { # CLUSTER NODE CMD...
  local c=$1 n=$2
  shift 2
  timeout 30 "$DIPC" cluster exec "$n" --dir "$TOP/$c" -- "${NB[@]}" "$@"
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) { print $(i + 1); exit } }'; }

# msg_c CLUSTER SIZE TIMING...: the ping side's result line.
msg_c() {
  local c=$1 sz=$2 a b
  shift 2
  KEY=$((KEY + 16))
  a=$KEY b=$((KEY + 1))
  on "$c" node2 "$BENCH/msgbench" pong --rx "$b" --tx "$a" --create rx --size "$sz" --cpu 0 \
    --limit 25 >/dev/null 2>&1 &
  local pong=$!
  on "$c" node1 "$BENCH/msgbench" ping --rx "$a" --tx "$b" --create rx --size "$sz" --cpu 0 "$@"
  wait "$pong"
}
sem_e() {
  local c=$1
  KEY=$((KEY + 16))
  on "$c" node1 "$BENCH/sembench" make --key "$KEY" --val 1 || return
  on "$c" node2 "$BENCH/sembench" pv --open --key "$KEY" --cpu 0 "${TM[@]}"
  on "$c" node1 "$BENCH/sembench" rm --key "$KEY" >/dev/null 2>&1
}
# sent CLUSTER: bytes both of its dipcd have sent on their TCP sockets so far.
sent() {
  local p1 p2
  p1=$(tr -dc 0-9 <"$TOP/$1/node1/dipcd.pid")
  p2=$(tr -dc 0-9 <"$TOP/$1/node2/dipcd.pid")
  ss -tinpH state established | awk -v a="pid=$p1," -v b="pid=$p2," '
    /users:/ { mine = index($0, a) || index($0, b); next }
    mine { for (i = 1; i <= NF; i++) if ($i ~ /^bytes_sent:/) { split($i, x, ":"); s += x[2] } mine = 0 }
    END { print s + 0 }'
}

report() { # LABEL SECRET PLAIN UNIT
  awk -v l="$1" -v s="$2" -v p="$3" -v u="$4" 'BEGIN {
    if (s == "" || p == "" || p == 0) { printf "%-18s not measured\n", l; exit }
    printf "%-18s secret %8.2f %s   no secret %8.2f %s   ratio %5.2f\n", l, s, u, p, u, s / p }'
}

echo "cluster secret vs --no-secret, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPU, load $(cut -d' ' -f1-3 /proc/loadavg)"
for sz in 8 4096; do
  declare -A r=([sec]="" [plain]="")
  for ((i = 0; i < ROUNDS; i++)); do
    for c in sec plain; do
      v=$(msg_c "$c" "$sz" "${TM[@]}" 2>/dev/null | field median_us)
      [[ -n "$v" ]] && r[$c]+="$v"$'\n'
    done
  done
  report "msg-c $sz B" "$(median <<<"${r[sec]}")" "$(median <<<"${r[plain]}")" us
done
declare -A r=([sec]="" [plain]="")
for ((i = 0; i < ROUNDS; i++)); do
  for c in sec plain; do
    v=$(sem_e "$c" 2>/dev/null | field median_us)
    [[ -n "$v" ]] && r[$c]+="$v"$'\n'
  done
done
report "sem-e 1op" "$(median <<<"${r[sec]}")" "$(median <<<"${r[plain]}")" us
for sz in 8 4096; do
  declare -A bpr=()
  for c in sec plain; do
    before=$(sent "$c")
    out=$(msg_c "$c" "$sz" --warm 0 --dur 300 --reps 1 2>/dev/null)
    after=$(sent "$c")
    iters=$(field iters <<<"$out")
    [[ -n "$iters" ]] && bpr[$c]=$(awk -v d=$((after - before)) -v n="$iters" 'BEGIN { printf "%.0f", d / (n + 16) }')
  done
  report "bytes msg-c $sz B" "${bpr[sec]:-}" "${bpr[plain]:-}" "B/rt"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
