#!/usr/bin/env bash
# shm_memory: a node holds what it uses. A 1 GiB distributed segment owned by node1 has
# one page written on node1 and one read on node2: the memfd that backs it on each node
# holds about one page (at most 64 KiB counted), not the gigabyte.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/semlib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/shmlib.sh"

# Bytes allocated to the segment memfds of NODE's dipcd (st_blocks of each, as root).
memfd_bytes() {
  local pid fd total=0 b
  pid=$(cat "$DIR/$1/dipcd.pid")
  for fd in /proc/"$pid"/fd/*; do
    [[ $(readlink "$fd") == /memfd:dipc-shm* ]] || continue
    b=$(stat -L -c %b "$fd")
    total=$((total + b * 512))
  done
  echo $total
}

cluster_up 2
G=$((1 << 30))
shm_mk node1 0x7c01 $G
expect_eq "$(on node1 "$SHM" put 0x7c01 $((G / 2)) 5)" OK "one page written on the owner"
expect_eq "$(on node2 "$SHM" peek 0x7c01 $((G / 2)))" 5 "and read on node2"
for n in node1 node2; do
  b=$(memfd_bytes $n)
  log "$n: memfd holds $b bytes of a $G-byte segment"
  ((b > 0 && b <= 65536)) || fail "$n holds $b bytes for one page of a 1 GiB segment"
done
