#!/usr/bin/env bash
# encrypted: with a cluster secret every link is encrypted; without one, it is not.
# Loopback traffic is captured (tcpdump) while a message with a random marker crosses from
# node3 to node2's queue and back: without a secret the marker, the caller's login name and
# the text appear in the capture (so the capture does see the links); with the secret on
# every node, none of them does, and the call still works. A dipcd without a secret says
# so in its log and in dipc status.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v tcpdump >/dev/null || fail "tcpdump is missing (scripts/deps.sh installs it)"
MW=$PROGS/msgwait
cluster_up 3 --no-secret
expect_eq "$(on node2 "$MW" mkq 9961 0666)" OK "queue created on node2"

cross() { # MARKER: sends it from node3 to node2's queue and reads it back on node3
  expect_eq "$(on node3 "$MW" send 9961 1 "$1")" OK "msgsnd of $1"
  expect_eq "$(on node3 "$MW" nbrecv 9961 1)" "RECV 1 $1" "msgrcv of $1"
}
capture() { # MARKER: prints how many times MARKER shows in the loopback capture of crossings
  local pcap=$SCRATCH/$1.pcap
  tcpdump -i lo -U --immediate-mode -s 0 -w "$pcap" tcp 2>"$SCRATCH/$1.tcpdump" &
  local tp=$!
  wait_for "grep -q 'listening on' '$SCRATCH/$1.tcpdump'" 10 || fail "tcpdump did not start"
  cross "$1"
  cross "$1"
  cross "$1"
  # Packets reach the file as they are captured; give the last ones a moment (bounded).
  wait_for "grep -q -a '$1' '$pcap'" 3 || true
  kill "$tp"
  wait "$tp" 2>/dev/null || true
  grep -c -a "$1" "$pcap" || true
}
plain=plain-$RANDOM$RANDOM
n=$(capture "$plain")
log "plain marker seen $n times"
((n > 0)) || fail "the capture does not see plain links (marker found $n times)"
on node3 "$DIPC" status | grep -q "neither authenticated nor encrypted" || fail "dipc status does not say links are in clear"
grep -q "neither authenticated nor encrypted" "$DIR/node3/dipcd.log" || fail "no warning at start"

umask 077
head -c 32 /dev/urandom | base64 >"$SCRATCH/cluster.secret"
for k in 1 2 3; do
  sed -i '/^secret_file *=/d' "$DIR/node$k/dipc.conf"
  sed -i "/^\[security\]/a secret_file = \"$SCRATCH/cluster.secret\"" "$DIR/node$k/dipc.conf"
done
for k in 1 2 3; do restart_node node$k || fail "node$k did not rejoin with the secret"; done
expect_eq "$(on node2 "$MW" mkq 9961 0666)" OK "queue created again on node2"
secret=sealed-$RANDOM$RANDOM
n=$(capture "$secret")
expect_eq "$n" 0 "times the marker shows on encrypted links"
on node3 "$DIPC" status | grep -q "authenticated and encrypted" || fail "dipc status does not say links are encrypted"
log "ok"
