#!/usr/bin/perl
# hello1: the receiving half of the original DIPC example, in Perl.
#
# Creates the message queue with key 40, waits for one message of type 10, prints it and
# removes the queue: the same as examples/hello1.c, with Perl's core IPC::SysV and
# IPC::Msg and no DIPC in the program. The key is made distributed from outside, by the
# node's configuration ([distribute] keys = [40] in dipc.conf) or per command:
#
#   dipc run --keys 40 -- perl hello1.pl      # then hello2.pl on any node
use strict;
use warnings;
use IPC::SysV qw(IPC_CREAT IPC_EXCL MSG_NOERROR);
use IPC::Msg;

my $KEY  = 40;
my $TYPE = 10;

$| = 1;
my $q = IPC::Msg->new($KEY, IPC_CREAT | IPC_EXCL | 0777)
  or die "hello1: msgget: $!\n";
print "hello1: waiting for a message on key $KEY\n";
my $text;
unless (defined $q->rcv($text, 512, $TYPE, MSG_NOERROR)) {
  my $err = $!;
  $q->remove;
  die "hello1: msgrcv: $err\n";
}
print "hello1: received \"$text\"\n";
$q->remove or die "hello1: msgctl(IPC_RMID): $!\n";
