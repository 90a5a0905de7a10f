#!/usr/bin/env bash
# bench/plot.sh RESULTS OUT.png [DSM_OUT.png]: bar chart of the ratios in the output of
# bench/run.sh (saved to the file RESULTS), one bar per case and layout (1cpu, 2cpu,
# unpinned), on a log scale, with the targets 1.10 and 3.0 drawn as lines; with DSM_OUT.png
# also the distributed-shared-memory ratios (bench/dsm.sh's lines, each case's target in
# its label). Needs gnuplot (Debian: gnuplot-nox).
set -euo pipefail
in=${1:?usage: plot.sh RESULTS OUT.png [DSM_OUT.png]}
out=${2:?usage: plot.sh RESULTS OUT.png [DSM_OUT.png]}
dsm_out=${3:-}
command -v gnuplot >/dev/null || {
  echo "plot.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2
  exit 2
}
data=$(mktemp)
trap 'rm -f "$data"' EXIT
# "LABEL ratio_1cpu ratio_2cpu ratio_unpinned" per case, in the order they come.
awk '
  /^== layout 1cpu/ { lay = 1; next }
  /^== layout 2cpu/ { lay = 2; next }
  /^== layout unpinned/ { lay = 3; next }
  /^== / { lay = 0; next }
  lay && $1 ~ /^(msg|sem|zmq|mpi)-/ {
    name = $1 " " $2
    for (i = 1; i <= NF; i++) if ($i == "ratio") r = $(i + 1)
    if (!(name in seen)) { seen[name] = ++n; label[n] = name }
    val[lay, seen[name]] = r
  }
  END {
    for (i = 1; i <= n; i++) {
      a = ((1, i) in val) ? val[1, i] : "NaN"
      b = ((2, i) in val) ? val[2, i] : "NaN"
      c = ((3, i) in val) ? val[3, i] : "NaN"
      printf "\"%s\" %s %s %s\n", label[i], a, b, c
    }
  }' "$in" >"$data"
[[ -s "$data" ]] || {
  echo "plot.sh: no results in $in" >&2
  exit 1
}
title=$(grep -m1 "^DIPC benchmarks" "$in" | sed "s/, build .*//; s/\"//g")
gnuplot <<EOF
set terminal pngcairo size 1100,560 font "DejaVu Sans,10"
set output "$out"
set title "DIPC / baseline, same run (lower is better)\n{/*0.8 $title}"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set yrange [0.2:100]
set ytics (0.2, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 40, 100)
set grid ytics
set xtics rotate by -35 scale 0
set ylabel "ratio"
set key top left
set arrow from graph 0, first 1.1 to graph 1, first 1.1 nohead dt 2 lc rgb "#2a7f2a"
set arrow from graph 0, first 3.0 to graph 1, first 3.0 nohead dt 2 lc rgb "#b22222"
set arrow from graph 0, first 1.5 to graph 1, first 1.5 nohead dt 3 lc rgb "#555555"
set label "1.10 (one-node targets)" at graph 0.01, first 1.16 left tc rgb "#2a7f2a"
set label "3.0 (two-node target)" at graph 0.01, first 3.2 left tc rgb "#b22222"
set label "1.5 (goal)" at graph 0.01, first 1.58 left tc rgb "#555555"
plot "$data" using 2:xtic(1) title "1cpu: all on CPU 0" lc rgb "#4477aa", \
     "" using 3 title "2cpu: node1 on CPU 0, node2 on CPU 1" lc rgb "#ee8866", \
     "" using 4 title "unpinned" lc rgb "#99aa33"
EOF
echo "plot.sh: wrote $out"

[[ -n $dsm_out ]] || exit 0
# "LABEL ratio_1cpu ratio_2cpu" per case: lines "LAYOUT CASE ... ratio R (target ...".
awk '
  ($1 == "1cpu" || $1 == "2cpu") && $2 ~ /^(readfault|seq64-page|seq64-seg|local)$/ {
    lay = $1 == "1cpu" ? 1 : 2
    r = ""; t = ""
    for (i = 1; i <= NF; i++) {
      if ($i == "ratio") r = $(i + 1)
      if ($i == "(target") t = $(i + 1) " " $(i + 2)
    }
    sub(/[,;)]+$/, "", t)
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
  echo "plot.sh: no DSM results in $in" >&2
  exit 1
}
gnuplot <<GP
set terminal pngcairo size 900,480 font "DejaVu Sans,10"
set output "$dsm_out"
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
echo "plot.sh: wrote $dsm_out"
