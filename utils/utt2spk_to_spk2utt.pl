#!/usr/bin/env perl
# utt2spk ("utt spk" lines) -> spk2utt ("spk utt1 utt2 ..."), speakers and utterances in
# the order they first appear. Usage: utt2spk_to_spk2utt.pl [utt2spk] > spk2utt
use strict;
use warnings;

my (@speakers, %utts);
my $name = @ARGV ? $ARGV[0] : 'stdin';
while (<>) {
    my @f = split;
    next unless @f;
    die "utt2spk_to_spk2utt.pl: $name line $.: expected '<utt> <spk>', got '@f'\n" unless @f == 2;
    my ($utt, $spk) = @f;
    push @speakers, $spk unless $utts{$spk};
    push @{ $utts{$spk} }, $utt;
}
print "$_ @{ $utts{$_} }\n" for @speakers;
