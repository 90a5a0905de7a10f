#!/usr/bin/perl
# hello2: the sending half of the original DIPC example, in Perl.
#
# Finds the message queue with key 40 (made by hello1 on this node or any other:
# hello1.c, hello1.py or hello1.pl) and sends "Hello, Distributed Programming!" as type 10.
# Key 40 must be distributed by configuration or by `dipc run --keys 40` (see hello1.pl).
use strict;
use warnings;
use IPC::Msg;

my $KEY  = 40;
my $TYPE = 10;
my $TEXT = "Hello, Distributed Programming!";

my $q = IPC::Msg->new($KEY, 0)
  or die "hello2: msgget: $! (is hello1 running?)\n";
$q->snd($TYPE, $TEXT) or die "hello2: msgsnd: $!\n";
print "hello2: sent \"$TEXT\"\n";
