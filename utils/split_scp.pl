#!/usr/bin/env perl
# Split a Kaldi table into contiguous, balanced parts (lines keep their order).
use strict;
use warnings;

my $usage = <<'EOF_USAGE';
Usage: split_scp.pl [--utt2spk=FILE] in.scp out.1.scp ... out.N.scp
   or: split_scp.pl [--utt2spk=FILE] [--one-based] -j N K in.scp [out.scp]   (write part K of N)
Splits in.scp into N contiguous parts with about as many lines each. Lines that share
a key stay in one part; with --utt2spk, all lines of one speaker stay in one part (the
speaker's lines must be contiguous, as in a sorted Kaldi data dir). Fails if a part
would be empty. Outputs are written atomically.
EOF_USAGE

my ($utt2spk, $num_jobs, $job, $one_based);
while (@ARGV && $ARGV[0] =~ /^-/) {
    my $opt = shift @ARGV;
    if ($opt =~ /^--utt2spk=(.+)$/) { $utt2spk = $1; }
    elsif ($opt eq '--utt2spk') { $utt2spk = shift @ARGV // die $usage; }
    elsif ($opt eq '--one-based') { $one_based = 1; }
    elsif ($opt eq '-j') { ($num_jobs, $job) = splice(@ARGV, 0, 2); die $usage unless defined $job; }
    else { die "split_scp.pl: unknown option $opt\n$usage"; }
}
die $usage if @ARGV < 1;
my $in = shift @ARGV;
my @outputs = @ARGV;
if (defined $num_jobs) {
    die "split_scp.pl: -j N K needs integers, got -j $num_jobs $job\n" unless "$num_jobs$job" =~ /^\d+$/;
    $job -= 1 if $one_based;
    die "split_scp.pl: -j $num_jobs: part $job is out of range\n" if $num_jobs < 1 || $job < 0 || $job >= $num_jobs;
    die $usage if @outputs > 1;
} else {
    die $usage if @outputs < 1;
}
my $parts = defined $num_jobs ? $num_jobs : scalar @outputs;

my %spk_of;
if (defined $utt2spk) {
    open(my $fh, '<', $utt2spk) or die "split_scp.pl: cannot read $utt2spk: $!\n";
    while (<$fh>) {
        my @f = split;
        die "split_scp.pl: $utt2spk line $.: expected '<utt> <spk>'\n" unless @f == 2;
        $spk_of{ $f[0] } = $f[1];
    }
    close $fh;
}

# Groups of consecutive lines that must stay together: same key, or same speaker.
open(my $fh, '<', $in) or die "split_scp.pl: cannot read $in: $!\n";
my (@groups, %closed, $prev);
while (my $line = <$fh>) {
    $line .= "\n" unless $line =~ /\n$/;
    my ($key) = split ' ', $line;
    die "split_scp.pl: $in line $.: empty line\n" unless defined $key;
    my $group = $key;
    if (defined $utt2spk) {
        $group = $spk_of{$key} // die "split_scp.pl: $in line $.: key '$key' is not in $utt2spk\n";
    }
    if (!defined $prev || $group ne $prev) {
        die "split_scp.pl: $in line $.: " . (defined $utt2spk ? "speaker '$group'" : "key '$group'")
          . " also appears earlier, not next to this line (sort the file first)\n" if $closed{$group};
        $closed{$prev} = 1 if defined $prev;
        push @groups, [];
        $prev = $group;
    }
    push @{ $groups[-1] }, $line;
}
close $fh;
my $num_lines = 0;
$num_lines += @$_ for @groups;
if (@groups < $parts) {
    my $what = defined $utt2spk ? "speakers" : "keys";
    die "split_scp.pl: cannot split $in ($num_lines lines, " . scalar(@groups)
      . " $what) into $parts parts: some parts would be empty\n";
}

my @split = split_near_boundaries();
my @other = split_min_max();
@split = @other if max_size(@other) < max_size(@split);

# Part k ends near line (k+1)*N/P (the first N%P parts one line longer, as Kaldi does):
# a group goes to the next part once its middle passes that boundary.
sub split_near_boundaries {
    my @parts = map { [] } 1 .. $parts;
    my ($k, $count) = (0, 0);
    for my $i (0 .. $#groups) {
        my $size = @{ $groups[$i] };
        my $extra = $num_lines % $parts;
        my $boundary = ($k + 1) * int($num_lines / $parts) + ($k + 1 < $extra ? $k + 1 : $extra);
        if (@{ $parts[$k] } && $k < $parts - 1
            && ($count + $size / 2 > $boundary || @groups - $i <= $parts - 1 - $k)) {
            $k++;
        }
        push @{ $parts[$k] }, @{ $groups[$i] };
        $count += $size;
    }
    return @parts;
}

# The smallest largest part (binary search on its size), filled greedily: better than
# the boundaries when groups (speakers) have very different sizes.
sub split_min_max {
    my ($lo, $hi) = (0, $num_lines);
    $lo = @$_ > $lo ? scalar @$_ : $lo for @groups;
    while ($lo < $hi) {
        my $mid = int(($lo + $hi) / 2);
        my ($n, $fill) = (1, 0);
        for (@groups) {
            if ($fill + @$_ > $mid) { $n++; $fill = 0; }
            $fill += @$_;
        }
        if ($n <= $parts) { $hi = $mid; } else { $lo = $mid + 1; }
    }
    my @parts = map { [] } 1 .. $parts;
    my $k = 0;
    for my $i (0 .. $#groups) {
        my $size = @{ $groups[$i] };
        $k++ if @{ $parts[$k] } && $k < $parts - 1
          && (@{ $parts[$k] } + $size > $lo || @groups - $i <= $parts - 1 - $k);
        push @{ $parts[$k] }, @{ $groups[$i] };
    }
    return @parts;
}

sub max_size {
    my $max = 0;
    $max = @$_ > $max ? scalar @$_ : $max for @_;
    return $max;
}

sub write_atomic {
    my ($path, $lines) = @_;
    my $tmp = "$path.tmp.$$";
    open(my $out, '>', $tmp) or die "split_scp.pl: cannot write $path: $!\n";
    print $out @$lines;
    close $out or die "split_scp.pl: cannot write $path: $!\n";
    rename $tmp, $path or die "split_scp.pl: cannot write $path: $!\n";
}

if (defined $num_jobs) {
    if (@outputs) { write_atomic($outputs[0], $split[$job]); }
    else { print @{ $split[$job] }; }
} else {
    write_atomic($outputs[$_], $split[$_]) for 0 .. $#outputs;
}
