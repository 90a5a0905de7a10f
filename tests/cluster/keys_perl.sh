#!/usr/bin/env bash
# keys_perl: unmodified Perl programs (core IPC::SysV and IPC::Msg, no IPC_DIPC) share a
# queue and a semaphore across two nodes because the nodes' configuration distributes
# their keys ([distribute] keys = ["40-42"]); and programs in three languages, with and
# without the flag, meet on the same keys.
#  1. Without the rules, Perl's queue 40 on node1 is local (not in dipc ls, not on node2).
#  2. examples/perl/hello1.pl and hello2.pl, in both directions.
#  3. Mixed: hello1.py (Python) with hello2.pl, and examples/hello1 (C, with IPC_DIPC) with
#     hello2.pl (without it): a flagged and an unflagged program share the key.
#  4. examples/perl/sem_mutex.pl (IPC::Semaphore) on node1 and sem_mutex.py on node2 (or
#     sem_mutex.pl again without python3-sysv-ipc) each add 100 to one counter at the same
#     time: the count is 200; then examples/sem_mutex (C, with the flag) reads it too.
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

distribute 'keys = ["40-42"]' node1 node2

log "2. hello1.pl / hello2.pl"
hello_pair node1 node2 "$PERL $PLEX/hello1.pl" "$PERL $PLEX/hello2.pl"
hello_pair node2 node1 "$PERL $PLEX/hello1.pl" "$PERL $PLEX/hello2.pl"

log "3. mixed languages, with and without the flag"
have_py=false
"$PY" -c 'import sysv_ipc' 2>/dev/null && have_py=true
if $have_py; then
  hello_pair node2 node1 "$PY $PYEX/hello1.py" "$PERL $PLEX/hello2.pl"
else
  log "(no python3-sysv-ipc: the Python half is left out)"
fi
hello_pair node1 node2 "$EXAMPLES/hello1" "$PERL $PLEX/hello2.pl"

log "4. one counter, one lock: Perl on node1, Python (or Perl) on node2"
other="$PERL $PLEX/sem_mutex.pl"
$have_py && other="$PY $PYEX/sem_mutex.py"
on node1 "${NOBODY[@]}" "$PERL" "$PLEX/sem_mutex.pl" init || fail "sem_mutex.pl init failed"
ls_has node2 sem 41 || fail "semaphore 41 made by Perl is not distributed"
mutex_race "$PERL $PLEX/sem_mutex.pl" "$other"
expect_eq "$(on node2 "${NOBODY[@]}" "$PERL" "$PLEX/sem_mutex.pl" result)" "count = 200" \
  "count read by Perl on node2"
expect_eq "$(on node2 "${NOBODY[@]}" "$EXAMPLES/sem_mutex" result)" "count = 200" \
  "count read by C on node2"
on node2 "${NOBODY[@]}" "$PERL" "$PLEX/sem_mutex.pl" rm || fail "sem_mutex.pl rm failed"
wait_for "ls_absent node1 sem 41 && ls_absent node1 msg 42" 10 ||
  fail "sem 41 / msg 42 still listed after sem_mutex.pl rm"
