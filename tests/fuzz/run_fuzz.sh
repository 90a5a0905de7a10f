#!/usr/bin/env bash
# Builds the wire decoder fuzzer (tests/fuzz/wire_fuzz.cc) with clang and libFuzzer, writes a
# seed corpus of valid frames, and fuzzes for a bounded time. Exits non-zero on any crash,
# sanitizer report or round-trip mismatch; the failing input is left in the output dir.
#
# Environment: DIPC_SRC (source tree, default: two levels up from here), DIPC_BUILD (build
# tree; the fuzzer goes to $DIPC_BUILD/fuzz, else to a temporary directory),
# FUZZ_SECONDS (default 20).
set -euo pipefail

src=${DIPC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
seconds=${FUZZ_SECONDS:-20}

if ! command -v clang++ >/dev/null 2>&1; then
  echo "run_fuzz.sh: clang++ not found: the wire fuzzer needs clang and libFuzzer." >&2
  echo "run_fuzz.sh: install it with: apt-get install -y clang" >&2
  exit 1
fi

if [[ -n ${DIPC_BUILD:-} ]]; then
  out=$DIPC_BUILD/fuzz
  mkdir -p "$out"
else
  out=$(mktemp -d /tmp/dipc-fuzz.XXXXXX)
fi

cxx=(clang++ -std=c++20 -g -O1 -I "$src/src" -Wall -Wextra)
fuzz_src=("$src/tests/fuzz/wire_fuzz.cc" "$src/src/proto/wire.cc" "$src/src/proto/admin_rows.cc"
          "$src/src/proto/dsm.cc")

echo "run_fuzz.sh: building in $out"
"${cxx[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  "${fuzz_src[@]}" -o "$out/wire_fuzz"
"${cxx[@]}" -DDIPC_FUZZ_SEED_WRITER "${fuzz_src[@]}" -o "$out/wire_fuzz_seeds"

# A fresh corpus each run: the seeds, so that every run starts from valid frames.
rm -rf "$out/corpus" "$out/seeds"
mkdir -p "$out/corpus" "$out/seeds"
"$out/wire_fuzz_seeds" "$out/seeds"
cp "$out/seeds"/* "$out/corpus/"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# libFuzzer's own failure code is 77, which ctest may read as "skipped": use 1.
codes=(-error_exitcode=1 -timeout_exitcode=1)

# The seeds alone must pass before fuzzing starts.
if ! "$out/wire_fuzz" "${codes[@]}" -runs=0 -artifact_prefix="$out/" "$out/seeds"; then
  echo "run_fuzz.sh: FAILED: a valid seed frame does not round-trip" >&2
  exit 1
fi
set +e
"$out/wire_fuzz" "${codes[@]}" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
  -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" >"$out/fuzz.log" 2>&1
status=$?
set -e
# The log without the per-input progress lines.
grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$out/fuzz.log" || true

if (( status != 0 )) || compgen -G "$out/crash-*" >/dev/null || compgen -G "$out/timeout-*" >/dev/null ||
    compgen -G "$out/oom-*" >/dev/null || compgen -G "$out/leak-*" >/dev/null; then
  echo "run_fuzz.sh: FAILED (fuzzer exit $status); reproduce with: $out/wire_fuzz $out/crash-..." >&2
  ls "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-* 2>/dev/null >&2 || true
  exit 1
fi
echo "run_fuzz.sh: ok: $(grep -E '^stat::number_of_executed_units' "$out/fuzz.log" || true)" \
  "in ${seconds}s, corpus $(ls "$out/corpus" | wc -l) inputs"
