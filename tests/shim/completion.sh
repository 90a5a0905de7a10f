#!/usr/bin/env bash
# completion: etc/bash-completion/dipc loads in bash and completes subcommands, ls options
# and ls columns after -o (also after a comma).
set -euo pipefail
src=$DIPC_SRC/etc/bash-completion/dipc
complete_words() { # WORDS...: the completions bash offers for the last word
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _dipc; printf "%s\n" "${COMPREPLY[@]}"' _ "$src" "$@"
}
fail() { echo "completion: FAIL: $*" >&2; exit 1; }
bash -c "source '$src'; complete -p dipc" | grep -q "_dipc" || fail "no completion registered"
[[ $(complete_words dipc st) == status ]] || fail "dipc st<TAB>: $(complete_words dipc st)"
complete_words dipc ls --j | grep -qx -- --json || fail "dipc ls --j<TAB>"
[[ $(complete_words dipc ls -o TYPE,MS) == TYPE,MSGS ]] || fail "dipc ls -o TYPE,MS<TAB>: $(complete_words dipc ls -o TYPE,MS)"
complete_words dipc rm -a | grep -qx -- -a || fail "dipc rm -a<TAB>"
echo "completion: PASS"
