#!/usr/bin/env perl
# spk2utt ("spk utt1 utt2 ...") -> utt2spk ("utt spk" lines), in file order.
# Usage: spk2utt_to_utt2spk.pl [spk2utt] > utt2spk
use strict;
use warnings;

my $name = @ARGV ? $ARGV[0] : 'stdin';
while (<>) {
    my ($spk, @utts) = split;
    next unless defined $spk;
    die "spk2utt_to_utt2spk.pl: $name line $.: speaker '$spk' has no utterances\n" unless @utts;
    print "$_ $spk\n" for @utts;
}
