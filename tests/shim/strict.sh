#!/usr/bin/env bash
# strict: strict mode (dipc run --strict, or DIPC_STRICT=1 under the shim) makes a
# distributed call that cannot reach dipcd fail with ENOLINK (docs/errors.md) instead of
# falling back to a plain local object; the default is unchanged.
#  - no dipcd: msgget/shmget with IPC_DIPC give ENOLINK under dipc run --strict and under
#    DIPC_STRICT=1, a plain local object without it; dipc run warns in either case and says
#    which; a call without IPC_DIPC is never affected;
#  - DIPC_STRICT with another value than 0 or 1 is reported and strict mode stays off;
#  - in a cluster, a queue this node owns whose dipcd then died: IPC_RMID falls back to the
#    kernel by default, gives ENOLINK in strict mode (the cluster would not hear of it).
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/lib.sh"

SHIM=$DIPC_BUILD/lib/libdipc.so
MW=$PROGS/msgwait
SHM=$PROGS/shmtool
NODIPCD=$SCRATCH/nodipcd
mkdir -p "$NODIPCD"

# in_ns CMD...: CMD in a fresh IPC namespace, no dipcd to reach; stdout then stderr.
in_ns() { timeout 30 env DIPC_RUNDIR="$NODIPCD" unshare --ipc "$@" 2>&1; }

out=$(in_ns "$DIPC" run --strict -- "$MW" mkq 0x7600 0666)
grep -qx ENOLINK <<<"$out" || fail "dipc run --strict, msgget without dipcd: $out"
grep -q "in strict mode every distributed call will fail with ENOLINK" <<<"$out" ||
  fail "dipc run --strict does not warn about the missing dipcd: $out"
out=$(in_ns "$DIPC" run --strict -- "$SHM" mk 0x7601 4096)
grep -qx ENOLINK <<<"$out" || fail "dipc run --strict, shmget without dipcd: $out"
out=$(in_ns "$DIPC" run -- "$MW" mkq 0x7600 0666)
grep -qx OK <<<"$out" || fail "dipc run without --strict must fall back: $out"
grep -q "IPC_DIPC objects will be plain local objects" <<<"$out" ||
  fail "dipc run does not warn about the missing dipcd: $out"
out=$(in_ns env LD_PRELOAD="$SHIM" DIPC_STRICT=1 "$MW" mkq 0x7600 0666)
expect_eq "$out" ENOLINK "DIPC_STRICT=1 under the shim, msgget without dipcd"
out=$(in_ns env LD_PRELOAD="$SHIM" DIPC_STRICT=0 "$MW" mkq 0x7600 0666)
expect_eq "$out" OK "DIPC_STRICT=0"
out=$(in_ns env LD_PRELOAD="$SHIM" DIPC_STRICT=yes "$MW" mkq 0x7600 0666)
grep -q "libdipc: DIPC_STRICT: must be 1 or 0" <<<"$out" || fail "bad DIPC_STRICT not reported: $out"
grep -qx OK <<<"$out" || fail "bad DIPC_STRICT must leave strict mode off: $out"
# Not distributed (no IPC_DIPC, no key rule): plain Linux whatever the mode.
out=$(in_ns env LD_PRELOAD="$SHIM" DIPC_STRICT=1 ipcmk -Q)
grep -q "Message queue id" <<<"$out" || fail "a plain msgget failed in strict mode: $out"

log "in a cluster: IPC_RMID of an owned queue once dipcd is gone"
cluster_up 1
expect_eq "$(on node1 "$MW" mkq 0x7602 0666)" OK "queue on node1"
expect_eq "$(on node1 "$MW" mkq 0x7603 0666)" OK "second queue on node1"
id2=$(on node1 "$MW" id 0x7602)
id3=$(on node1 "$MW" id 0x7603)
kill -9 "$(tr -dc '0-9' <"$DIR/node1/dipcd.pid")"
wait_for '! on node1 "$DIPC" status >/dev/null 2>&1' 10 || fail "node1's dipcd still answers"
expect_eq "$(on node1 env DIPC_STRICT=1 "$MW" rmid "id:$id2")" ENOLINK \
  "strict IPC_RMID without dipcd"
expect_eq "$(on node1 env DIPC_STRICT=1 "$MW" get 0x7602)" ENOLINK "strict msgget without dipcd"
expect_eq "$(on node1 "$MW" rmid "id:$id3")" OK "default IPC_RMID without dipcd (the kernel's)"
log "ok"
