#!/usr/bin/env perl
# Run Kaldi-style jobs on a Slurm cluster as one array job (sbatch --array) and wait.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use MalJobs;

my $usage = <<'EOF_USAGE';
Usage: slurm.pl [options] [JOB=1:N] log/x.JOB.log command args...
Submits the command as a Slurm array job (sbatch --array=1-N), waits for every task,
and writes each JOB's log at the given path like run.pl. Exits 1 if any task fails
(or ends without an exit status), naming the failed tasks and printing the end of the
first failed log. Scripts and scheduler output go to <log dir>/q/.
Options (mapped to sbatch arguments by the config file, Kaldi's format):
  --config FILE      default: conf/slurm.conf, else <mal>/conf/slurm.conf
  --mem 4G  --num-threads N  --gpu N  --time 1:00:00  (and any option the config describes)
  --max-jobs-run N   at most N tasks at a time (--array=1-N%M)
  -x VALUE           single-dash options go to sbatch unchanged (e.g. -p partition)
EOF_USAGE

exit(eval { main() } // do { print STDERR $@; 1 });

sub main {
    my $p = MalJobs::parse_command_line('slurm.pl', $usage, @ARGV);
    my $config = MalJobs::read_config('slurm.pl', MalJobs::find_config($p, 'slurm.conf', $FindBin::RealBin));
    my @options = (MalJobs::map_options('slurm.pl', $config, $p->{opts}, 'max_jobs_run'), @{ $p->{raw} });
    my $throttle = $p->{opts}{max_jobs_run};
    die "slurm.pl: --max-jobs-run must be a positive integer\n" if defined $throttle && $throttle !~ /^[1-9]\d*$/;
    my %backend = (
        name => 'Slurm',
        task_var => 'SLURM_ARRAY_TASK_ID',
        submit => sub {
            my ($script, $scheduler_log, $start, $end) = @_;
            my $array = "$start-$end" . (defined $throttle ? "%$throttle" : '');
            (my $name = $scheduler_log) =~ s{.*/}{};
            my @cmd = (@{ $config->{command} }, "--job-name=$name", @options,    # options may rename the job
                       '--parsable', "--array=$array", "--output=$scheduler_log.%a.out", $script);
            my ($rc, $out) = MalJobs::capture(@cmd);
            die "slurm.pl: submission failed (exit $rc): @cmd\n$out" if $rc != 0 || $out !~ /^(\d+)/m;
            return $1;
        },
        status => \&slurm_status,
        cancel => sub { MalJobs::capture('scancel', $_[0]); },
        scheduler_log_of => sub { "$_[0].$_[1].out" },
    );
    return MalJobs::run_array_job($p, \%backend);
}

# (1 if any task is pending/running, 0 if none is, undef if unknown; {task => state}).
sub slurm_status {
    my ($job_id) = @_;
    my ($rc, $out) = MalJobs::capture('squeue', '--noheader', "--jobs=$job_id", '--states=all', '--format=%K %T');
    return (0, {}) if $out =~ /Invalid job id/i;
    return (undef, {}) if $rc != 0;
    my (%state, $active);
    for my $line (split /\n/, $out) {
        my ($task, $state) = split ' ', $line;
        next unless defined $state;
        $state{$task} = $state;
        $active = 1 unless $state =~ /^(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE|SPECIAL_EXIT|REVOKED)/;
    }
    return ($active ? 1 : 0, \%state);
}
