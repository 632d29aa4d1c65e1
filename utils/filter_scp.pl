#!/usr/bin/env perl
# Keep (or, with --exclude, drop) the lines of a table whose key is in an id list.
use strict;
use warnings;

my $usage = <<'EOF_USAGE';
Usage: filter_scp.pl [--exclude] [-f N] id_list [in.scp ...] > out.scp
Prints the lines of in.scp (default: stdin), in their order, whose field N (default 1,
the key; negative counts from the end) is the first field of some line of id_list.
--exclude prints the other lines instead.
EOF_USAGE

my ($exclude, $field) = (0, 1);
while (@ARGV && $ARGV[0] =~ /^-/ && $ARGV[0] ne '-') {
    my $opt = shift @ARGV;
    if ($opt eq '--exclude') { $exclude = 1; }
    elsif ($opt eq '-f') { $field = shift @ARGV // die $usage; }
    elsif ($opt =~ /^-f(-?\d+)$/) { $field = $1; }
    else { die "filter_scp.pl: unknown option $opt\n$usage"; }
}
die "filter_scp.pl: -f needs a non-zero integer, got '$field'\n" unless $field =~ /^-?[1-9]\d*$/;
die $usage if @ARGV < 1;
my $id_list = shift @ARGV;

my %wanted;
open(my $ids, '<', $id_list) or die "filter_scp.pl: cannot read $id_list: $!\n";
while (<$ids>) {
    my ($id) = split;
    $wanted{$id} = 1 if defined $id;
}
close $ids;

my $index = $field > 0 ? $field - 1 : $field;
@ARGV = ('-') unless @ARGV;
for my $file (@ARGV) {
    my $in;
    if ($file eq '-') { $in = \*STDIN; }
    else { open($in, '<', $file) or die "filter_scp.pl: cannot read $file: $!\n"; }
    while (my $line = <$in>) {
        my @f = split ' ', $line;
        next unless @f;
        die "filter_scp.pl: " . ($file eq '-' ? 'stdin' : $file) . " line $.: no field $field in '"
          . join(' ', @f) . "'\n" if abs($field) > @f;
        print $line if ($wanted{ $f[$index] } ? 1 : 0) != $exclude;
    }
    close $in unless $file eq '-';
}
