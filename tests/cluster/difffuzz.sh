#!/usr/bin/env bash
# difffuzz: the differential fuzzer (tests/difffuzz/) against plain Linux, a short run.
# Objects are created with IPC_DIPC on node1 (the fuzzer's agent) and used from node2 under
# the shim; every script also runs on plain Linux, and every step's result must agree.
# Before that, the fuzzer checks itself: plain Linux twice must agree (determinism), and a
# difference put in on purpose must be found and shrunk.
#
# Environment (for the long run, see docs/difffuzz.md):
#   DIFFFUZZ_SEED     first seed (default 1)
#   DIFFFUZZ_SEEDS    how many seeds, one after the other (default 1)
#   DIFFFUZZ_SCRIPTS  scripts per seed (default 300)
#   DIFFFUZZ_TIME     time limit per seed in seconds (default 60)
# Both nodes run with remote_root = true: the fuzzer calls as root and as nobody, and root
# must stay root at the owner, as on one machine.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FUZZ=$DIPC_BUILD/tests/difffuzz
[[ -x $FUZZ ]] || fail "$FUZZ is missing: build first"
SEED=${DIFFFUZZ_SEED:-1}
SEEDS=${DIFFFUZZ_SEEDS:-1}
SCRIPTS=${DIFFFUZZ_SCRIPTS:-300}
TLIMIT=${DIFFFUZZ_TIME:-60}

# The fuzzer itself: deterministic, and able to see and shrink a difference.
out=$(timeout 60 "$FUZZ" run --self-check --seed 7 --scripts 40 2>&1) ||
  fail "plain Linux twice gave different results (the fuzzer is not deterministic): $out"
rc=0
out=$(timeout 120 "$FUZZ" run --self-check --inject --seed 7 --scripts 200 2>&1) || rc=$?
expect_eq "$rc" 1 "exit status of a run with an injected difference"
grep -q '^DIFFERENCE: ' <<<"$out" || fail "injected difference not reported: $out"
steps=$(sed -n 's/^shrunk to \([0-9]*\) steps.*/\1/p' <<<"$out")
[[ -n $steps && $steps -le 6 ]] || fail "injected difference not shrunk to 6 steps or fewer: $out"
log "self-check: deterministic; an injected difference is found and shrunk to $steps steps"

cluster_up 2 --set security.remote_root=true
grep -q '^remote_root = true' "$DIR/node2/dipc.conf" || fail "remote_root is not set in node2's config"
wait_for "[[ \$(cat '$DIR/node2/run/state' 2>/dev/null) == joined ]]" 10 || fail "node2 not joined"

AGENT=$SCRATCH/agent.sock
bound=$((SEEDS * (TLIMIT + 150)))
timeout "$bound" "$DIPC" cluster exec node1 --dir "$DIR" -- "$FUZZ" agent --socket "$AGENT" \
  </dev/null >"$SCRATCH/agent.out" 2>&1 &
_BG_PIDS+=("$!")
wait_for "[[ -S '$AGENT' ]]" 10 || fail "the fuzzer's agent did not start: $(cat "$SCRATCH/agent.out")"

# The short scripts of differences the fuzzer once found (tests/difffuzz/script.cc).
rc=0
timeout 120 "$DIPC" cluster exec node2 --dir "$DIR" -- "$FUZZ" run --regressions --agent "$AGENT" \
  </dev/null >"$SCRATCH/reg.out" 2>&1 || rc=$?
cat "$SCRATCH/reg.out" >&2
((rc == 0)) || fail "a difference once fixed is back (difffuzz --regressions exit $rc), see above"
log "$(tail -n 1 "$SCRATCH/reg.out")"

total=0
for ((s = SEED; s < SEED + SEEDS; s++)); do
  rc=0
  timeout $((TLIMIT + 140)) "$DIPC" cluster exec node2 --dir "$DIR" -- "$FUZZ" run --seed "$s" \
    --scripts "$SCRIPTS" --time-limit "$TLIMIT" --agent "$AGENT" </dev/null \
    >"$SCRATCH/run.out" 2>&1 || rc=$?
  cat "$SCRATCH/run.out" >&2
  # A dipcd that died on the way would make IPC_DIPC fall back to local objects unseen.
  for n in node1 node2; do
    expect_eq "$(cat "$DIR/$n/run/state" 2>/dev/null)" joined "$n's state after seed $s"
  done
  ((rc == 0)) || fail "seed $s: DIPC differs from plain Linux (difffuzz exit $rc), see above"
  n=$(sed -n 's/^difffuzz: \([0-9]*\) scripts.*/\1/p' "$SCRATCH/run.out")
  total=$((total + n))
done
((total >= SEEDS * 20)) || fail "only $total scripts ran"
log "$total scripts: no difference from plain Linux"
