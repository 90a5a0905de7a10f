#!/usr/bin/env bash
# bench/plot_dsm.sh RESULTS OUT.png: bar chart of the distributed-shared-memory ratios in
# the output of bench/run.sh or bench/dsm.sh (saved to RESULTS): one cluster of bars per
# case (1cpu and 2cpu), each case's target in its label; log scale. Needs gnuplot
# (Debian: gnuplot-nox).
set -euo pipefail
in=${1:?usage: plot_dsm.sh RESULTS OUT.png}
out=${2:?usage: plot_dsm.sh RESULTS OUT.png}
command -v gnuplot >/dev/null || {
  echo "plot_dsm.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2
  exit 2
}
data=$(mktemp)
trap 'rm -f "$data"' EXIT
# "LABEL ratio_1cpu ratio_2cpu" per case: lines "LAYOUT CASE ... ratio R (target ...".
awk '
  ($1 == "1cpu" || $1 == "2cpu") && $2 ~ /^(readfault|seq64-page|seq64-seg|local)$/ {
    lay = $1 == "1cpu" ? 1 : 2
    r = ""; t = ""
    for (i = 1; i <= NF; i++) {
      if ($i == "ratio") r = $(i + 1)
      if ($i == "(target") t = $(i + 1) " " $(i + 2)
    }
    sub(/[;)]$/, "", t)
    if (!($2 in seen)) { seen[$2] = ++n; label[n] = $2 " (" t ")" }
    val[lay, seen[$2]] = r
  }
  END {
    for (i = 1; i <= n; i++) {
      a = ((1, i) in val) ? val[1, i] : "NaN"
      b = ((2, i) in val) ? val[2, i] : "NaN"
      printf "\"%s\" %s %s\n", label[i], a, b
    }
  }' "$in" >"$data"
[[ -s "$data" ]] || {
  echo "plot_dsm.sh: no DSM results in $in" >&2
  exit 1
}
gnuplot <<GP
set terminal pngcairo size 900,480 font "DejaVu Sans,10"
set output "$out"
set title "Distributed shared memory / baseline, same run (each case's target in its label)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set yrange [0.05:10]
set ytics (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)
set grid ytics
set xtics scale 0
set ylabel "ratio"
set key top left
plot "$data" using 2:xtic(1) title "1cpu: all on CPU 0" lc rgb "#4477aa", \
     "" using 3 title "2cpu: node1 on CPU 0, node2 on CPU 1" lc rgb "#ee8866"
GP
echo "plot_dsm.sh: wrote $out"
