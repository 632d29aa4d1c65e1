#!/usr/bin/env perl
# Run Kaldi-style jobs on this machine, in parallel.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use MalJobs;
use POSIX ();
use Time::HiRes qw(time);

my $usage = <<'EOF';
Usage: run.pl [options] [JOB=1:N] log/x.JOB.log command args...
Runs the command locally, once per JOB id (JOB replaced by the id in the log name and
in the command), at most --max-jobs-run at a time. Each log gets the command line,
start time, output, "# Accounting: time=... threads=..." and "# Ended (code N) at ...".
Exits 1 if any job fails, naming the failed jobs and printing the end of the first
failed log. Words without spaces are passed to bash as they are ("|" works as a pipe).
Options:
  --max-jobs-run N   jobs at a time (default: number of CPUs)
  --num-threads N    only reported in the log's accounting line
  --gpu N            each job gets N GPUs of its own in CUDA_VISIBLE_DEVICES (the pool: the
                     ids in CUDA_VISIBLE_DEVICES, else those nvidia-smi lists), at most
                     pool / N jobs at a time; with no GPU found the jobs run unchanged
  --mem, --time, --config, ... and single-dash options are accepted and ignored
    (so cmd.sh can switch between run.pl, queue.pl and slurm.pl)
EOF

exit(eval { main() } // do { print STDERR $@; 1 });

sub main {
    my $p = MalJobs::parse_command_line('run.pl', $usage, @ARGV);
    my $max_jobs = $p->{opts}{max_jobs_run} // MalJobs::number_of_cpus();
    die "run.pl: --max-jobs-run must be a positive integer, got '$max_jobs'\n" unless $max_jobs =~ /^\d+$/ && $max_jobs > 0;
    my $threads = $p->{opts}{num_threads} // 1;
    my @jobs = MalJobs::expand_jobs($p);
    MalJobs::make_log_dirs('run.pl', @jobs);
    my @slots = gpu_slots($p->{opts}{gpu} // 0);    # one GPU list per job running at once
    $max_jobs = @slots if @slots && @slots < $max_jobs;

    my (%running, %code, %slot_of);    # pid -> job; job id -> exit code; pid -> slot
    for my $job (@jobs) {
        reap_one(\%running, \%code, \%slot_of) while keys %running >= $max_jobs;
        my %busy = map { $_ => 1 } values %slot_of;
        my ($slot) = grep { !$busy{$_} } 0 .. $#slots;
        my $pid = fork() // die "run.pl: cannot fork: $!\n";
        if ($pid == 0) {
            $ENV{CUDA_VISIBLE_DEVICES} = $slots[$slot] if defined $slot;
            POSIX::_exit(run_job($job, $threads));
        }
        $running{$pid} = $job;
        $slot_of{$pid} = $slot if defined $slot;
    }
    reap_one(\%running, \%code, \%slot_of) while keys %running;

    my @failed = map { { id => $_->{id}, log => $_->{log}, code => $code{ $_->{id} } } }
      grep { $code{ $_->{id} } != 0 } @jobs;
    if (@failed) {
        MalJobs::report_failures($p, scalar @jobs, \@failed);
        return 1;
    }
    return 0;
}

# Child: write the log header, run the command with output appended, write the footer.
sub run_job {
    my ($job, $threads) = @_;
    open(my $fh, '>', $job->{log}) or do { print STDERR "run.pl: cannot write $job->{log}: $!\n"; return 1; };
    print $fh MalJobs::log_header($job->{command});
    close $fh;
    my $t0 = time();
    my $pid = fork() // do { print STDERR "run.pl: cannot fork: $!\n"; return 1; };
    if ($pid == 0) {
        open(STDOUT, '>>', $job->{log}) or POSIX::_exit(1);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(1);
        exec('bash', '-c', $job->{command}) or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my $code = MalJobs::exit_code($?);
    my $seconds = int(time() - $t0 + 0.5);
    open($fh, '+<', $job->{log}) or return $code || 1;
    seek($fh, -1, 2) and read($fh, my $last, 1);
    seek($fh, 0, 2);
    print $fh "\n" if defined $last && $last ne "\n";    # output without a final newline
    print $fh MalJobs::log_footer($code, $seconds, $threads);
    close $fh;
    return $code;
}

# Wait for one child; record its job's exit code and free its GPUs.
sub reap_one {
    my ($running, $code, $slot_of) = @_;
    my $pid = waitpid(-1, 0);
    return if $pid <= 0;
    delete $slot_of->{$pid};
    my $job = delete $running->{$pid} or return;
    $code->{ $job->{id} } = MalJobs::exit_code($?);
}

# "--gpu N": the GPU pool cut into lists of N ids ("0,1"), one per job running at once.
sub gpu_slots {
    my ($per_job) = @_;
    die "run.pl: --gpu must be a non-negative integer, got '$per_job'\n" unless $per_job =~ /^\d+$/;
    return () if $per_job == 0;
    my @pool;
    if (defined $ENV{CUDA_VISIBLE_DEVICES}) {
        @pool = grep { length } split /\s*,\s*/, $ENV{CUDA_VISIBLE_DEVICES};
    } else {
        my $listed = `nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null` // '';
        @pool = $listed =~ /^\s*(\d+)\s*$/mg;
        if (!@pool) {
            print STDERR "run.pl: --gpu $per_job: no GPU found (CUDA_VISIBLE_DEVICES unset, nvidia-smi lists none); jobs run unchanged\n";
            return ();
        }
    }
    die "run.pl: --gpu $per_job: a job needs $per_job GPU(s), but only " . scalar(@pool)
      . " are available (CUDA_VISIBLE_DEVICES='" . join(',', @pool) . "')\n" if @pool < $per_job;
    my @slots;
    push @slots, join(',', splice(@pool, 0, $per_job)) while @pool >= $per_job;
    return @slots;
}
