#!/usr/bin/perl
# sem_mutex: mutual exclusion across nodes with a semaphore, in Perl.
#
#   sem_mutex.pl init      create the semaphore (key 41, value 1) and the counter queue
#                          (key 42, holding one message with the count 0)
#   sem_mutex.pl run N     N times: lock; take the count from the queue; put back count+1;
#                          unlock. Run it on several nodes at once: no update is lost.
#   sem_mutex.pl result    print the count
#   sem_mutex.pl rm        remove both objects
#
# The same objects and message layout (a native long) as examples/sem_mutex.c and
# examples/python/sem_mutex.py, so programs in all three languages can share one counter.
# Core IPC::SysV, IPC::Semaphore and IPC::Msg, no IPC_DIPC: keys 41 and 42 must be
# distributed by configuration or by `dipc run --keys 41,42`. The lock uses SEM_UNDO, so a
# process killed while holding it releases it.
use strict;
use warnings;
use IPC::SysV qw(IPC_CREAT IPC_EXCL SEM_UNDO);
use IPC::Semaphore;
use IPC::Msg;

my ($SEM_KEY, $COUNT_KEY) = (41, 42);
my $cmd = $ARGV[0] // "";

if ($cmd eq "init") {
  my $sem = IPC::Semaphore->new($SEM_KEY, 1, IPC_CREAT | IPC_EXCL | 0666)
    or die "sem_mutex: semget: $!\n";
  $sem->setval(0, 1) or die "sem_mutex: semctl(SETVAL): $!\n";
  my $q = IPC::Msg->new($COUNT_KEY, IPC_CREAT | IPC_EXCL | 0666)
    or die "sem_mutex: msgget: $!\n";
  $q->snd(1, pack("l!", 0)) or die "sem_mutex: msgsnd: $!\n";
  exit 0;
}
unless ($cmd eq "result" || $cmd eq "rm" || ($cmd eq "run" && @ARGV > 1)) {
  print STDERR "usage: sem_mutex.pl init | run N | result | rm\n";
  exit 2;
}
my $sem = IPC::Semaphore->new($SEM_KEY, 1, 0666);
my $q   = IPC::Msg->new($COUNT_KEY, 0666);
die "sem_mutex: semget/msgget (run 'sem_mutex.pl init' first): $!\n" unless $sem && $q;
if ($cmd eq "rm") {
  $sem->remove or die "sem_mutex: semctl(IPC_RMID): $!\n";
  $q->remove   or die "sem_mutex: msgctl(IPC_RMID): $!\n";
  exit 0;
}
my $rounds = $cmd eq "run" ? $ARGV[1] : 1;
for (1 .. $rounds) {
  $sem->op(0, -1, SEM_UNDO) or die "sem_mutex: semop(lock): $!\n";
  my $buf;
  defined $q->rcv($buf, length(pack("l!", 0)), 1) or die "sem_mutex: msgrcv: $!\n";
  my $count = unpack("l!", $buf);
  if ($cmd eq "run") { $count++ } else { print "count = $count\n" }
  $q->snd(1, pack("l!", $count)) or die "sem_mutex: msgsnd: $!\n";
  $sem->op(0, 1, SEM_UNDO) or die "sem_mutex: semop(unlock): $!\n";
}
