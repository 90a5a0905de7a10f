#!/usr/bin/env bash
# keys_perl: unmodified Perl programs (core IPC::SysV and IPC::Msg, no IPC_DIPC) share a
# queue across two nodes because the nodes' configuration distributes key 40
# ([distribute] keys = [40]); and programs in three languages, with and without the flag,
# meet on that one key.
#  1. Without the rules, Perl's queue 40 on node1 is local (not in dipc ls, not on node2).
#  2. examples/perl/hello1.pl and hello2.pl, in both directions.
#  3. Mixed: hello1.py (Python) with hello2.pl, and examples/hello1 (C, with IPC_DIPC) with
#     hello2.pl (without it): a flagged and an unflagged program share the key.
# Everything runs as the unprivileged user nobody.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=keyslib.sh
source "$(dirname "${BASH_SOURCE[0]}")/keyslib.sh"

cluster_up 2

log "1. no rules: Perl's queue is local"
mkq='use IPC::SysV qw(IPC_CREAT IPC_EXCL); use IPC::Msg;
     print IPC::Msg->new(40, IPC_CREAT | IPC_EXCL | 0666) ? "made\n" : "$!\n"'
findq='use IPC::Msg; my $q = IPC::Msg->new(40, 0); print $q ? "found\n" : ($!{ENOENT} ? "ENOENT\n" : "$!\n")'
rmq='use IPC::Msg; print IPC::Msg->new(40, 0)->remove ? "removed\n" : "$!\n"'
expect_eq "$(on node1 "${NOBODY[@]}" "$PERL" -e "$mkq")" made "queue 40 made on node1"
ls_absent node1 msg 40 || fail "queue 40 made without rules is listed by dipc ls"
expect_eq "$(on node2 "${NOBODY[@]}" "$PERL" -e "$findq")" ENOENT "queue 40 seen from node2"
expect_eq "$(on node1 "${NOBODY[@]}" "$PERL" -e "$rmq")" removed "queue 40 removed on node1"

distribute 'keys = [40]' node1 node2

log "2. hello1.pl / hello2.pl"
hello_pair node1 node2 "$PERL $PLEX/hello1.pl" "$PERL $PLEX/hello2.pl"
hello_pair node2 node1 "$PERL $PLEX/hello1.pl" "$PERL $PLEX/hello2.pl"

log "3. mixed languages, with and without the flag"
if "$PY" -c 'import sysv_ipc' 2>/dev/null; then
  hello_pair node2 node1 "$PY $PYEX/hello1.py" "$PERL $PLEX/hello2.pl"
else
  log "(no python3-sysv-ipc: the Python half is left out)"
fi
hello_pair node1 node2 "$EXAMPLES/hello1" "$PERL $PLEX/hello2.pl"
