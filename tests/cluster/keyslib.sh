# shellcheck shell=bash
# tests/cluster/keyslib.sh: helpers for the scenarios of keys distributed by configuration
# ([distribute] in dipc.conf). Source it after lib.sh.
#
#   distribute BODY NODE...   appends "[distribute]" and BODY (TOML lines) to each NODE's
#                             dipc.conf and restarts its dipcd (restart_node: node1 keeps
#                             its port), in the order given; fails the test unless each
#                             comes back joined and "dipc status" shows its key rules.
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
