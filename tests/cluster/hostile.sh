#!/usr/bin/env bash
# hostile: malformed frames from a peer or a local process never crash or hang dipcd.
# Each bad input below is sent to node1 (the referee) over TCP and over its Unix socket;
# dipcd must drop that connection (or ignore the frame) and keep serving: after all of
# them node1 is alive, node2 is still joined, and a message crosses the nodes.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RAW=$PROGS/rawsend
MW=$PROGS/msgwait
cluster_up 2 --no-secret --peer-timeout-ms 2000
port=$(tr -dc '0-9' <"$DIR/node1/run/dipcd.port")
sock=$DIR/node1/run/dipcd.sock
pid1=$(cat "$DIR/node1/dipcd.pid")

hdr() { # TYPE(4 hex) LENGTH(8 hex) [VERSION(4 hex)]
  printf '44495043%s%s0000000000000001%s' "${3:-0001}" "$1" "$2"
}
# Each input, and what must come back: over TCP (the peer port) every one costs the sender
# its connection with nothing answered (a lone byte after the 2 s peer time-out, the rest
# at once); on the Unix socket a malformed operation or admin request is answered with an
# error and the connection kept, frames the socket does not take close it, and a lone byte
# is simply waited on.
inputs=(
  "00"                                          # a single byte, then silence
  "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"    # bad magic
  "$(hdr 0001 00000000 0009)"                   # unknown protocol version
  "$(hdr 7777 00000000)"                        # unknown frame type
  "$(hdr 0001 7fffffff)"                        # a payload far over the cap
  "$(hdr 0001 00000004)ffffffff"                # an operation cut short
  "$(hdr 000a 00000003)000141"                  # a hello whose name overruns
  "$(hdr 0014 00000002)0102"                    # a referee lookup before any hello
  "$(hdr 0002 00000018)000000000000000000000000000000000000000000000000" # a stray reply
  "$(hdr 0028 00000005)00000040ff"              # an admin command with a bad length
)
over_tcp=("CLOSED 0" "CLOSED 0" "CLOSED 0" "CLOSED 0" "CLOSED 0" "CLOSED 0" "CLOSED 0" "CLOSED 0"
  "CLOSED 0" "CLOSED 0")
over_unix=("OPEN 0" "CLOSED 0" "CLOSED 0" "CLOSED 0" "CLOSED 0" "OPEN 44" "CLOSED 0" "CLOSED 0"
  "CLOSED 0" "OPEN 51")
for target in "127.0.0.1:$port" "$sock"; do
  for i in "${!inputs[@]}"; do
    x=${inputs[$i]}
    r=$(timeout 10 "$RAW" "$target" "$x")
    kill -0 "$pid1" 2>/dev/null || fail "dipcd died on input $x to $target"
    if [[ $target == "$sock" ]]; then want=${over_unix[$i]}; else want=${over_tcp[$i]}; fi
    expect_eq "$r" "$want" "answer to input $i ($x) on $target"
  done
done
# A burst of status requests that the client never reads, then a frame the local socket
# does not take (a hello): the connection is closed while answers are still being written.
# That once freed the frame under the write in flight (a double free that killed dipcd).
status_req="$(hdr 0028 0000000f)00000006$(printf status | od -An -tx1 | tr -d ' \n')0000000000"
burst=$(printf "%.0s$status_req" $(seq 1400))
for try in 1 2 3 4 5 6 7; do
  r=$(timeout 10 "$RAW" "$sock" "$burst$(hdr 000a 00000000)")
  kill -0 "$pid1" 2>/dev/null || fail "dipcd died after a burst and a bad frame (try $try)"
  [[ "$r" == CLOSED* ]] || fail "a bad frame after a burst did not close the connection: $r"
done
# A well-formed semop on a set this node owns, whose operation count (2^63+1) would wrap
# a size check: refused with EINVAL, and dipcd lives on.
sid=$(on node1 "$PROGS/semtool" mk 9502 1 1 >/dev/null && on node1 "$PROGS/semtool" id 9502)
[[ "$sid" =~ ^[0-9]+$ ]] || fail "no semaphore set on node1: $sid"
payload="0205$(printf '%08x' "$sid")0000000000000000"      # kind sem, op semop, id, key, flags
payload+="8000000000000001""0000000000000000""0000000000000000" # arg1 (nsops), arg2, arg3
payload+="00000000""00000000""00000006""000000010000"       # user "", pid, data: one sembuf
r=$(timeout 10 "$RAW" "$sock" "$(hdr 0001 "$(printf '%08x' $((${#payload} / 2)))")$payload")
kill -0 "$pid1" 2>/dev/null || fail "dipcd died on a semop with a huge operation count"
# Answered (a 44-byte reply: EINVAL), the connection kept.
expect_eq "$r" "OPEN 44" "answer to a semop with a huge operation count"
# A hello with a valid shape but an unknown node name from an allowed address is fine;
# what matters is that the cluster still works.
expect_eq "$(cat "$DIR/node2/run/state")" joined "node2's state after the hostile inputs"
expect_eq "$(on node1 "$MW" mkq 9501 0666)" OK "queue created on node1"
expect_eq "$(on node2 "$MW" send 9501 1 still-here)" OK "msgsnd from node2"
expect_eq "$(on node1 "$MW" nbrecv 9501 1)" "RECV 1 still-here" "message received on node1"
grep -q "bad magic\|unknown frame type\|malformed\|longer than the protocol" "$DIR/node1/dipcd.log" ||
  fail "node1's log says nothing about the bad frames"
