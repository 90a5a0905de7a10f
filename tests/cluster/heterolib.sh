# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source it
# tests/cluster/heterolib.sh: for the scenarios with a node of another architecture (hetero_*.sh),
# sourced after lib.sh. docs/hetero.md.
#
#   XARCH                  the foreign architecture (s390x)
#   XBUILD                 its cross build (DIPC_BUILD/cross/s390x, made by scripts/cross.sh)
#   XPROGS, XEXAMPLES      its test programs and examples
#   need_cross             skips the test (exit 77) when the cross build or qemu-user is
#                          missing: scripts/test.sh makes both, so under it this never skips
#   prog NODE NAME         the path of tests/progs/NAME built for NODE's architecture
#   example NODE NAME      the same for examples/NAME
#   expect_emulated NODE   fails unless NODE's dipcd runs under qemu-s390x
XARCH=s390x
XBUILD=${DIPC_CROSS_DIR:-$DIPC_BUILD/cross}/$XARCH
XPROGS=$XBUILD/tests/progs
XEXAMPLES=$XBUILD/examples
XNODES=" "  # the nodes given --arch by the test, space separated

need_cross() {
  local f
  for f in "$XBUILD/sbin/dipcd" "$XBUILD/lib/libdipc.so" "$XPROGS/msgwait" "$XPROGS/semtool" \
    "$XPROGS/shmtool" "$XEXAMPLES/hello1" "$XEXAMPLES/hello2"; do
    if [[ ! -e "$f" ]]; then
      echo "SKIP: no $XARCH build at $f (make it with scripts/cross.sh; scripts/test.sh does)" >&2
      exit 77
    fi
  done
  command -v qemu-$XARCH-static >/dev/null || command -v qemu-$XARCH >/dev/null || {
    echo "SKIP: qemu-user is not installed (apt-get install qemu-user-static)" >&2
    exit 77
  }
}

foreign() { [[ "$XNODES" == *" $1 "* ]]; }
prog() { if foreign "$1"; then echo "$XPROGS/$2"; else echo "$PROGS/$2"; fi; }
example() { if foreign "$1"; then echo "$XEXAMPLES/$2"; else echo "$EXAMPLES/$2"; fi; }

# cluster_up_mixed N NODE...: N nodes, each NODE given as --arch NODE=XARCH.
cluster_up_mixed() {
  local n=$1 opts=() node
  shift
  for node in "$@"; do
    opts+=(--arch "$node=$XARCH")
    XNODES+="$node "
  done
  cluster_up "$n" "${opts[@]}"
  for node in "$@"; do expect_emulated "$node"; done
}

expect_emulated() {
  local node=$1 k=${1#node} pid
  pid=$(cat "$DIR/$node/dipcd.pid")
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "qemu-$XARCH.* $XBUILD/sbin/dipcd --config" ||
    fail "$node's dipcd does not run under qemu-$XARCH: $(tr '\0' ' ' <"/proc/$pid/cmdline")"
  grep -qx "arch.$k=$XARCH" "$DIR/cluster" || fail "$DIR/cluster does not record arch.$k=$XARCH"
}
