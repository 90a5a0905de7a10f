#!/usr/bin/env bash
# run_fuzz.sh [TARGET]: builds a fuzzer with clang and libFuzzer, writes its seed corpus,
# and fuzzes for a bounded time. Exits non-zero on any crash, sanitizer report, leak or
# broken invariant; the failing input is left in the output dir. Targets:
#   wire  (default) the wire decoders (tests/fuzz/wire_fuzz.cc): round trips
#   conn  the connection and frame handling (tests/fuzz/conn_fuzz.cc): Conn over a socket
#         pair with a Handshake and the referee behind it
# The corpus is the seeds the target's seed writer makes plus tests/fuzz/corpus/TARGET/ (in
# the repository).
#
# Environment: DIPC_SRC (source tree, default: two levels up from here), DIPC_BUILD (build
# tree; the fuzzer goes to $DIPC_BUILD/fuzz, else to a temporary directory),
# FUZZ_SECONDS (default 20), FUZZ_JOBS (parallel fuzzing processes, default 1),
# FUZZ_KEEP=1 (keep the corpus the run grew, in $out/corpus, instead of starting afresh).
# A long run, and adding what it found to the repository's corpus:
#   FUZZ_SECONDS=3600 FUZZ_JOBS=2 FUZZ_KEEP=1 tests/fuzz/run_fuzz.sh conn
#   build/fuzz/conn/conn_fuzz -merge=1 tests/fuzz/corpus/conn build/fuzz/conn/corpus
set -euo pipefail

src=${DIPC_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-1}
target=${1:-wire}

if ! command -v clang++ >/dev/null 2>&1; then
  echo "run_fuzz.sh: clang++ not found: the wire fuzzer needs clang and libFuzzer." >&2
  echo "run_fuzz.sh: install it with: apt-get install -y clang" >&2
  exit 1
fi

cxx=(clang++ -std=c++20 -g -O1 -I "$src/src" -Wall -Wextra)
libs=()
case $target in
  wire)
    fuzz_src=("$src/tests/fuzz/wire_fuzz.cc" "$src/src/proto/wire.cc" "$src/src/proto/dsm.cc"
      "$src/src/proto/admin_rows.cc")
    ;;
  conn)
    fuzz_src=("$src/tests/fuzz/conn_fuzz.cc" "$src/src/dipcd/conn.cc" "$src/src/dipcd/handshake.cc"
      "$src/src/dipcd/referee.cc" "$src/src/proto/wire.cc" "$src/src/proto/dsm.cc")
    cxx+=(-DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -DSPDLOG_SHARED_LIB -DFMT_SHARED)
    libs=(-lsodium -lspdlog -lfmt)
    ;;
  *)
    echo "run_fuzz.sh: unknown target $target (wire or conn)" >&2
    exit 2
    ;;
esac

if [[ -n ${DIPC_BUILD:-} ]]; then
  out=$DIPC_BUILD/fuzz
  [[ $target == wire ]] || out=$DIPC_BUILD/fuzz/$target
  mkdir -p "$out"
else
  out=$(mktemp -d /tmp/dipc-fuzz.XXXXXX)
fi

echo "run_fuzz.sh: building $target in $out"
"${cxx[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  "${fuzz_src[@]}" "${libs[@]}" -o "$out/${target}_fuzz" &
build=$!
"${cxx[@]}" -DDIPC_FUZZ_SEED_WRITER "${fuzz_src[@]}" "${libs[@]}" -o "$out/${target}_fuzz_seeds"
wait "$build"

# A fresh corpus each run (unless FUZZ_KEEP): the seeds and the repository's corpus, so
# that every run starts from valid frames.
[[ ${FUZZ_KEEP:-} == 1 ]] || rm -rf "$out/corpus"
rm -rf "$out/seeds"
mkdir -p "$out/corpus" "$out/seeds"
"$out/${target}_fuzz_seeds" "$out/seeds"
if [[ -d $src/tests/fuzz/corpus/$target ]]; then
  cp "$src/tests/fuzz/corpus/$target"/* "$out/seeds/" 2>/dev/null || true
fi
cp "$out/seeds"/* "$out/corpus/"
rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# libFuzzer's own failure code is 77, which ctest may read as "skipped": use 1.
codes=(-error_exitcode=1 -timeout_exitcode=1)

# The seeds alone must pass before fuzzing starts.
if ! "$out/${target}_fuzz" "${codes[@]}" -runs=0 -artifact_prefix="$out/" "$out/seeds"; then
  echo "run_fuzz.sh: FAILED: a seed input fails" >&2
  exit 1
fi
set +e
par=()
if ((jobs > 1)); then par=(-jobs="$jobs" -workers="$jobs"); fi
"$out/${target}_fuzz" "${codes[@]}" "${par[@]}" -max_total_time="$seconds" -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" >"$out/fuzz.log" 2>&1
status=$?
set -e
# The log without the per-input progress lines.
grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$out/fuzz.log" || true

if (( status != 0 )) || compgen -G "$out/crash-*" >/dev/null || compgen -G "$out/timeout-*" >/dev/null ||
    compgen -G "$out/oom-*" >/dev/null || compgen -G "$out/leak-*" >/dev/null; then
  echo "run_fuzz.sh: FAILED (fuzzer exit $status); reproduce with: $out/${target}_fuzz $out/crash-..." >&2
  ls "$out"/crash-* "$out"/timeout-* "$out"/oom-* "$out"/leak-* 2>/dev/null >&2 || true
  exit 1
fi
echo "run_fuzz.sh: ok: $(grep -E '^stat::number_of_executed_units' "$out/fuzz.log" || true)" \
  "in ${seconds}s, corpus $(ls "$out/corpus" | wc -l) inputs"
