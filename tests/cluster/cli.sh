#!/usr/bin/env bash
# cli: the command line says what it does and what went wrong.
#  - --help on dipc, each subcommand and dipcd exits 0 and describes the command; the
#    cluster subcommands' help gives examples;
#  - dipcd --check reports a configuration error with file and line, exit status 2; it fails
#    on an unresolvable referee host and a run_dir whose parent is missing, warns on an
#    empty allow file and (run as nobody) on a run_dir that user may not create, and a
#    missing allow file names [security] allow_file and a fix;
#  - dipc ls/status without a dipcd say so and what to do, exit status 1;
#  - usage errors exit 2 (dipc(1)), not CLI11's own codes; an unknown subcommand says so;
#  - dipc run preloads the shim (a program sees it in LD_PRELOAD), and warns when no dipcd
#    answers (the program then gets plain local objects).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DIPCD=$DIPC_BUILD/sbin/dipcd

for sub in "" run ls rm status cluster "cluster up" "cluster exec" "cluster down"; do
  # shellcheck disable=SC2086  # the subcommand words split on purpose
  out=$("$DIPC" $sub --help 2>&1) || fail "dipc $sub --help exited non-zero: $out"
  grep -qi "usage" <<<"$out" || fail "dipc $sub --help prints no usage: $out"
done
"$DIPC" cluster up --help | grep -q -- "--netns" || fail "cluster up --help does not mention --netns"
for opt in --set --fix-perms --allow --heartbeat-ms; do
  "$DIPC" cluster up --help | grep -q -- "$opt" || fail "cluster up --help does not mention $opt"
done
for sub in cluster "cluster up" "cluster exec" "cluster down"; do
  # shellcheck disable=SC2086  # the subcommand words split on purpose
  "$DIPC" $sub --help | grep -q "^Examples:" || fail "dipc $sub --help gives no examples"
done
"$DIPCD" --help | grep -q -- "--config" || fail "dipcd --help does not mention --config"

cfg=$SCRATCH/bad.conf
printf '[node]\nname = "n1"\nlisten_prot = 7710\n' >"$cfg"
rc=0
out=$("$DIPCD" --check --config "$cfg" 2>&1) || rc=$?
expect_eq "$rc" 2 "dipcd exit status on a bad configuration"
grep -q "bad.conf:3:" <<<"$out" || fail "error does not name file and line: $out"
grep -q "listen_prot" <<<"$out" || fail "error does not name the key: $out"

printf '[node]\nname = "n1"\nrun_dir = "%s"\n[referee]\nenabled = true\n[security]\nallow_file = "%s"\n' \
  "$SCRATCH/run" "$SCRATCH/allow" >"$cfg"
printf '127.0.0.1\n10.0.0.0/33\n' >"$SCRATCH/allow"
rc=0
out=$("$DIPCD" --check --config "$cfg" 2>&1) || rc=$?
expect_eq "$rc" 2 "dipcd exit status on a bad allow file"
grep -q "allow:2:" <<<"$out" || fail "allow file error does not name file and line: $out"

printf '127.0.0.1\n' >"$SCRATCH/allow"
"$DIPCD" --check --config "$cfg" >/dev/null || fail "dipcd --check rejects a valid configuration"

# What a start would fail on: an unresolvable referee host, a run_dir without its parent,
# a missing allow file (named with its key and a fix). check_refuses WHAT PATTERN: dipcd
# --check on $cfg exits 2 and says PATTERN (a grep -E pattern).
check_refuses() {
  local rc=0 out
  out=$("$DIPCD" --check --config "$cfg" 2>&1) || rc=$?
  expect_eq "$rc" 2 "dipcd --check on $1"
  grep -Eq -- "$2" <<<"$out" || fail "$1 not reported as expected: $out"
}
good=$(cat "$cfg")
with() { printf '%s\n' "$good" | sed "s|^$1 = .*|$1 = \"$2\"|" >"$cfg"; }
printf '[node]\nname = "n2"\nrun_dir = "%s"\n[referee]\naddress = "no-such-host.invalid:7710"\n[security]\nallow_file = "%s"\n' \
  "$SCRATCH/run" "$SCRATCH/allow" >"$cfg"
check_refuses "an unresolvable referee host" \
  "error: .*\[referee\] address: host 'no-such-host.invalid' does not resolve"
with run_dir "$SCRATCH/missing/run"
check_refuses "a run_dir without its parent" \
  "\[node\] run_dir = \"$SCRATCH/missing/run\": its parent directory $SCRATCH/missing does not exist"
with allow_file "$SCRATCH/nosuch.allow"
check_refuses "a missing allow file" "\[security\] allow_file in $cfg points there: create the file"
# Warnings: an empty allow file; as another user, a run_dir it may not create.
printf '%s\n' "$good" >"$cfg"
printf '# nobody yet\n' >"$SCRATCH/allow"
out=$("$DIPCD" --check --config "$cfg" 2>&1) || fail "an empty allow file is only a warning: $out"
grep -q "warning: .*allow file is empty" <<<"$out" || fail "no warning for an empty allow file: $out"
printf '127.0.0.1\n' >"$SCRATCH/allow"
mkdir -p "$SCRATCH/rootonly" && chmod 755 "$SCRATCH/rootonly"
with run_dir "$SCRATCH/rootonly/run"
chmod 644 "$cfg" "$SCRATCH/allow"
out=$("${NOBODY[@]}" "$DIPCD" --check --config "$cfg" 2>&1) || fail "dipcd --check as nobody: $out"
grep -q "warning: .*does not exist and this user may not create it in $SCRATCH/rootonly" <<<"$out" ||
  fail "no warning that nobody may not create run_dir: $out"
printf '%s\n' "$good" >"$cfg"

rc=0
out=$(DIPC_RUNDIR=$SCRATCH/nowhere "$DIPC" ls 2>&1) || rc=$?
expect_eq "$rc" 1 "dipc ls without dipcd"
grep -q "is dipcd running" <<<"$out" || fail "dipc ls without dipcd does not say what to do: $out"

rc=0
out=$("$DIPC" ls --bogus 2>&1) || rc=$?
expect_eq "$rc" 2 "exit status of an unknown option"
rc=0
out=$("$DIPC" nosuch 2>&1) || rc=$?
expect_eq "$rc" 2 "exit status of an unknown subcommand"
grep -q "unknown command 'nosuch'" <<<"$out" || fail "unknown subcommand not named: $out"
rc=0
"$DIPC" rm msg 2>/dev/null || rc=$?
expect_eq "$rc" 2 "exit status of a missing argument"

out=$(DIPC_RUNDIR=$SCRATCH/nowhere "$DIPC" run -- sh -c 'echo "$LD_PRELOAD"' 2>"$SCRATCH/run.err")
grep -q "libdipc.so" <<<"$out" || fail "dipc run does not preload the shim: $out"
grep -q "warning: no dipcd answers at $SCRATCH/nowhere/dipcd.sock" "$SCRATCH/run.err" ||
  fail "dipc run without dipcd does not warn: $(cat "$SCRATCH/run.err")"
# dipc run inside dipc cluster exec: the node's dipcd answers (no warning) and the shim is
# preloaded once.
cluster_up 1
out=$(on node1 "$DIPC" run --keys 40 -- sh -c 'echo "$LD_PRELOAD"' 2>"$SCRATCH/run.err")
expect_eq "$(tr ' ' '\n' <<<"$out" | grep -c libdipc)" 1 "shim entries in LD_PRELOAD [$out]"
[[ -s $SCRATCH/run.err ]] && fail "dipc run inside cluster exec warns: $(cat "$SCRATCH/run.err")"
log "ok"
