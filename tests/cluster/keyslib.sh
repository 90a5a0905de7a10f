# shellcheck shell=bash
# tests/cluster/keyslib.sh: helpers for the scenarios of keys distributed by configuration
# ([distribute] in dipc.conf). Source it after lib.sh.
#
#   distribute BODY NODE...   replaces the [distribute] section of each NODE's dipc.conf
#                             (dipc cluster up writes one, with the defaults) by BODY (TOML
#                             lines) and restarts its dipcd (restart_node: node1 keeps its
#                             port), in the order given; fails the test unless each comes
#                             back joined and "dipc status" shows its key rules. (A new
#                             cluster can have its rules at once: cluster_up N --set
#                             'distribute.keys=[...]'.)
#   PY, PERL                  Debian's python3 (the one python3-sysv-ipc is for) and perl;
#                             need_python_sysv_ipc skips the test (77) when the module is
#                             missing (scripts/deps.sh installs it).
#   PYEX, PLEX                examples/python and examples/perl of the source tree.

PY=/usr/bin/python3
PERL=/usr/bin/perl
PYEX=$DIPC_SRC/examples/python
PLEX=$DIPC_SRC/examples/perl

need_python_sysv_ipc() {
  if ! "$PY" -c 'import sysv_ipc' 2>/dev/null; then
    log "SKIP: $PY has no sysv_ipc module (Debian package python3-sysv-ipc: scripts/deps.sh)"
    exit 77
  fi
}

distribute() {
  local body=$1 n st
  shift
  for n in "$@"; do
    awk '/^\[distribute\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' "$DIR/$n/dipc.conf" \
      >"$DIR/$n/dipc.conf.new" && mv "$DIR/$n/dipc.conf.new" "$DIR/$n/dipc.conf"
    printf '\n[distribute]\n%s\n' "$body" >>"$DIR/$n/dipc.conf"
    restart_node "$n" || fail "$n did not come back joined after [distribute] was added"
  done
  for n in "$@"; do
    wait_for "[[ \$(cat '$DIR/$n/run/state' 2>/dev/null) == joined ]]" 15 ||
      fail "$n is not joined after the restarts"
    st=$(on "$n" "$DIPC" status) || fail "dipc status on $n failed: $st"
    grep -q '^keys: ' <<<"$st" || fail "dipc status on $n shows no key rules: $st"
  done
}

# hello_pair RX "RXCMD" TX "TXCMD": the hello1/hello2 exchange on key 40 with any pair of
# programs (C, Python, Perl), run as nobody: RXCMD (a hello1) on node RX, once key 40 is
# listed cluster-wide with owner RX, TXCMD (a hello2) on node TX; checks both output lines
# and that the key is gone from the cluster afterwards. The commands are split on spaces.
hello_pair() {
  local rx=$1 tx=$2 p out line sent rc rxcmd txcmd
  read -ra rxcmd <<<"$3"
  read -ra txcmd <<<"$4"
  log "on $rx: ${rxcmd[*]##*/}; on $tx: ${txcmd[*]##*/}"
  bg_on "$rx" "${NOBODY[@]}" "${rxcmd[@]}"
  p=$BG_PID
  out=$BG_OUT
  wait_for "ls_has $tx msg 40" 15 ||
    fail "key 40 never appeared in dipc ls on $tx: $(cat "$out" "$BG_ERR")"
  line=$(ls_lines "$tx" msg 40) || fail "dipc ls on $tx lost key 40"
  expect_eq "$(ls_owner "$line")" "$rx" "owner of key 40 in dipc ls on $tx [$line]"
  sent=$(on "$tx" "${NOBODY[@]}" "${txcmd[@]}" 2>&1) || fail "${txcmd[*]} on $tx failed: $sent"
  expect_eq "$sent" 'hello2: sent "Hello, Distributed Programming!"' "hello2 output on $tx"
  rc=0
  bg_wait "$p" 15 || rc=$?
  expect_eq "$rc" 0 "hello1 exit status on $rx ($(cat "$BG_ERR"))"
  grep -qxF 'hello1: received "Hello, Distributed Programming!"' "$out" ||
    fail "hello1 on $rx did not print the received line: $(cat "$out")"
  wait_for "ls_absent $tx msg 40 && ls_absent $rx msg 40" 10 ||
    fail "key 40 still listed by dipc ls after hello1 removed it"
}

# mutex_race "CMD1" "CMD2": "CMD1 run 100" on node1 and "CMD2 run 100" on node2 at the same
# time, as nobody (a sem_mutex example in any language: each adds 100 to the shared counter
# under the shared lock); fails the test unless both exit 0 within 60 s.
mutex_race() {
  local c1 c2 a b err1 err2 rc=0
  read -ra c1 <<<"$1"
  read -ra c2 <<<"$2"
  bg_on node1 "${NOBODY[@]}" "${c1[@]}" run 100
  a=$BG_PID
  err1=$BG_ERR
  bg_on node2 "${NOBODY[@]}" "${c2[@]}" run 100
  b=$BG_PID
  err2=$BG_ERR
  bg_wait "$a" 60 || rc=$?
  expect_eq "$rc" 0 "${c1[*]##*/} run 100 on node1 ($(cat "$err1"))"
  bg_wait "$b" 60 || rc=$?
  expect_eq "$rc" 0 "${c2[*]##*/} run 100 on node2 ($(cat "$err2"))"
}
