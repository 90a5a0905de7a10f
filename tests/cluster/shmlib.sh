# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source it
# tests/cluster/shmlib.sh: helpers for the shared-memory scenarios (tests/cluster/shm_*.sh).
# Source it after lib.sh and semlib.sh:
#
#   SHM                        tests/progs/shmtool
#   shm_mk NODE KEY SIZE       creates the distributed segment on NODE (its owner) and waits
#                              (bounded) until every node of the cluster finds it
#   dsm_config NODE KEY VALUE  sets [dsm] KEY = VALUE in NODE's dipc.conf and restarts NODE
#   dsm_debug NODE             the same for [log] level = "debug" (when DSM_DEBUG is set)
# Every loop here is bounded in count and in time.

SHM=$PROGS/shmtool
[[ -x "$SHM" ]] || fail "$SHM is missing: build first (DIPC_BUILD=$DIPC_BUILD)"

shm_mk() {
  local node=$1 key=$2 size=$3 n
  expect_eq "$(on "$node" "$SHM" mk "$key" "$size")" OK "segment $key created on $node"
  for n in "$DIR"/node*; do
    n=$(basename "$n")
    wait_for "[[ \$(on $n '$SHM' get $key 0) == OK ]]" 10 || fail "segment $key not found on $n"
  done
}

dsm_config() {
  local node=$1 key=$2 value=$3 conf=$DIR/$1/dipc.conf
  grep -q '^\[dsm\]' "$conf" || printf '\n[dsm]\n' >>"$conf"
  sed -i "/^$key *=/d" "$conf"
  sed -i "/^\[dsm\]/a $key = $value" "$conf"
  restart_node "$node" || fail "$node did not come back after [dsm] $key = $value"
}

dsm_debug() {
  [[ -n "${DSM_DEBUG:-}" ]] || return 0
  sed -i 's/^level = .*/level = "debug"/' "$DIR/$1/dipc.conf"
  restart_node "$1" || fail "$1 did not come back with debug logging"
}
