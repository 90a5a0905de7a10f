#!/usr/bin/env bash
# bench/all.sh BUILD_DIR [OUT_DIR]: every DIPC benchmark in one command, for a quiet
# machine: bench/run.sh (latency in the three layouts, side by side with ZeroMQ and Open
# MPI when built, throughput), bench/dsm.sh, then bench/scale.sh (2 to 16 nodes, 1,000 to
# 10,000 objects), and both plots. Writes into OUT_DIR (default: a new directory under
# /tmp): run.txt, dsm.txt, scale.txt, bench.png, scale.png; docs/benchmarks.md explains
# them (copy the PNGs to docs/ to update the figures there). Needs root; builds nothing
# (build first; `scripts/deps.sh --bench` installs ZeroMQ, Open MPI, gnuplot and perf).
# Takes about 15 minutes.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: all.sh BUILD_DIR [OUT_DIR]}
out=${2:-$(mktemp -d /tmp/dipc-bench-all.XXXXXX)}
mkdir -p "$out" || exit 2
echo "all.sh: results in $out (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
rc=0
"$here/run.sh" "$build" | tee "$out/run.txt" || rc=1
"$here/dsm.sh" "$build" | tee "$out/dsm.txt" || rc=1
SCALE_OUT=$out/scale.txt "$here/scale.sh" "$build" || rc=1
if command -v gnuplot >/dev/null; then
  "$here/plot.sh" "$out/run.txt" "$out/bench.png" "$out/bench-dsm.png" || rc=1
  "$here/plot_scale.sh" "$out/scale.txt" "$out/scale.png" || rc=1
else
  echo "all.sh: gnuplot not installed: no plots (scripts/deps.sh --bench)" >&2
fi
echo "all.sh: results in $out" >&2
exit $rc
