#!/usr/bin/env bash
# bench/plot_scale.sh DATA OUT.png: the scale figures of bench/scale.sh (its SCALE_OUT
# file) as four panels against the number of nodes, one line per object count: creation
# (objects per second), look-ups per second (one node, several at once, the referee over
# the network and its table in process), dipcd memory per owned object, per placeholder and per referee entry
# (from the largest step only: below a few thousand objects a page of RSS is more than
# the objects), and the times of dipc ls, declared dead and join. Needs gnuplot
# (Debian: gnuplot-nox).
set -euo pipefail
in=${1:?usage: plot_scale.sh DATA OUT.png}
out=${2:?usage: plot_scale.sh DATA OUT.png}
command -v gnuplot >/dev/null || {
  echo "plot_scale.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2
  exit 2
}
objs=$(awk '!/^#/ { print $2 }' "$in" | sort -n -u | tr '\n' ' ')
[[ -n $objs ]] || {
  echo "plot_scale.sh: no data in $in" >&2
  exit 1
}
title=$(grep -m1 '^# DIPC scale' "$in" | sed 's/^# //; s/"//g' || true)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One file per object count, rows sorted by nodes; columns: 1 nodes 2 objects 3 created
# 4 create_s 5 owned_B 6 ref_B 7 lookup_per_s 8 ph_B 9 all_per_s 10 table_per_s 11 ls_s
# 12 listed 13 dead_ms 14 join_ms 15 net_per_s (absent in data from before it)
for m in $objs; do
  awk -v m="$m" '!/^#/ && $2 == m' "$in" | sort -n -k1,1 >"$tmp/$m"
done
last=${objs% }
last=${last##* }
plots() { # plots EXPR TITLE_PREFIX [OBJECT_COUNTS]
  local s="" m
  for m in ${3:-$objs}; do
    s+="\"$tmp/$m\" using 1:($1) with linespoints title \"$2 $m objects\", "
  done
  echo "${s%, }"
}
gnuplot <<GP
set terminal pngcairo size 1200,860 font "DejaVu Sans,10"
set output "$out"
set datafile missing "-"
set multiplot layout 2,2 title "DIPC on one machine: growth with nodes and objects\n{/*0.8 $title}"
set logscale x 2
set xrange [1.7:19]
set xtics (2, 4, 8, 16)
set xlabel "nodes"
set grid
set key top left font ",8"
set title "creating the objects (all nodes at once) and looking them up"
set logscale y 10
set ylabel "per second"
plot $(plots '$3/$4' "create,") , $(plots '$7' "look-ups from one node,") , $(plots '$9' "look-ups, nodes 3..N at once,") , $(plots '$15' "referee over the network,") , $(plots '$10' "referee table in process,") , 100000 title "100,000/s target" dt 2 lc rgb "#b22222"
set title "dipcd memory per object (growth of VmRSS over the step to $last)"
unset logscale y
set ylabel "bytes"
set yrange [0:1500]
plot $(plots '$5' "per owned object," "$last") , $(plots '$8' "per placeholder," "$last") , $(plots '$6' "referee, per entry," "$last"), 1024 title "1 KiB target" dt 2 lc rgb "#b22222"
set title "dipc ls of every object (node2)"
set ylabel "seconds"
set yrange [0:*]
plot $(plots '$11' "dipc ls,")
set title "a node: declared dead (peer timeout 1000 ms) and joining again"
set ylabel "milliseconds"
plot $(plots '$13' "declared dead,") , $(plots '$14' "join,")
unset multiplot
GP
echo "plot_scale.sh: wrote $out"
