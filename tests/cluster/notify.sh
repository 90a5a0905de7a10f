#!/usr/bin/env bash
# notify: under systemd (Type=notify) dipcd says READY=1 only once the node has joined.
# A dipcd that runs the referee is joined at once: READY=1 and STATUS=joined reach
# $NOTIFY_SOCKET (a datagram socket this test listens on). A dipcd whose referee does not
# answer says STATUS=connecting and no READY=1. The unit file passes systemd-analyze's
# syntax check (its commands are not installed here, so only those complaints are allowed).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIPCD=$DIPC_BUILD/sbin/dipcd

printf '127.0.0.1\n' >"$SCRATCH/allow"
conf() { # NAME REFEREE_SECTION
  mkdir -p "$SCRATCH/$1"
  printf '[node]\nname = "%s"\nlisten_address = "127.0.0.1"\nlisten_port = 0\nrun_dir = "%s"\n%s\n[security]\nallow_file = "%s"\n' \
    "$1" "$SCRATCH/$1/run" "$2" "$SCRATCH/allow" >"$SCRATCH/$1.conf"
}
# listen SOCK UNTIL: prints every datagram until one contains UNTIL (bounded: 20 s)
listen() {
  python3 - "$1" "$2" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".bound", "w").close()
s.settimeout(20)
while True:
    m = s.recv(4096).decode()
    print(m.replace("\n", ";"), flush=True)
    if sys.argv[2] in m:
        break
PY
}
run_with_notify() { # NAME UNTIL: runs dipcd NAME under a notify socket until UNTIL is heard
  local sock=$SCRATCH/$1.notify out
  listen "$sock" "$2" >"$SCRATCH/$1.heard" &
  local lp=$!
  wait_for "[[ -e $sock.bound ]]" 10 || fail "notify listener did not start"
  NOTIFY_SOCKET=$sock "$DIPCD" --config "$SCRATCH/$1.conf" 2>"$SCRATCH/$1.log" &
  local dp=$!
  wait "$lp" || { kill "$dp"; fail "$1: no '$2' on the notify socket: $(cat "$SCRATCH/$1.heard" "$SCRATCH/$1.log")"; }
  kill "$dp"
  wait "$dp" || true
}

conf solo '[referee]
enabled = true'
run_with_notify solo READY=1
grep -q "STATUS=joined" "$SCRATCH/solo.heard" || fail "no STATUS=joined: $(cat "$SCRATCH/solo.heard")"

conf lonely '[referee]
address = "127.0.0.1:1"'
run_with_notify lonely STATUS=connecting
if grep -q "READY=1" "$SCRATCH/lonely.heard"; then
  fail "READY=1 from a node that has not joined: $(cat "$SCRATCH/lonely.heard")"
fi

out=$(systemd-analyze verify "$DIPC_SRC/etc/systemd/dipcd.service" 2>&1 || true)
bad=$(grep -v "is not executable\|Command 'man \|^$" <<<"$out" || true)
[[ -z $bad ]] || fail "systemd-analyze verify dipcd.service: $bad"
log "ok"
