#!/usr/bin/env perl
# Run Kaldi-style jobs on a (Sun/Son of/Univa) Grid Engine cluster as one array job (qsub -t) and wait.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use MalJobs;

my $usage = <<'EOF_USAGE';
Usage: queue.pl [options] [JOB=1:N] log/x.JOB.log command args...
Submits the command as a Grid Engine array job (qsub -t 1:N), waits for every task,
and writes each JOB's log at the given path like run.pl. Exits 1 if any task fails
(or ends without an exit status), naming the failed tasks and printing the end of the
first failed log. Scripts and scheduler output go to <log dir>/q/.
Options (mapped to qsub arguments by the config file, Kaldi's format):
  --config FILE      default: conf/queue.conf, else <mal>/conf/queue.conf
  --mem 4G  --num-threads N  --gpu N  --max-jobs-run N  (and any option the config describes)
  -x VALUE           single-dash options go to qsub unchanged (e.g. -q all.q, -l h_rt=1:00:00)
EOF_USAGE

exit(eval { main() } // do { print STDERR $@; 1 });

sub main {
    my $p = MalJobs::parse_command_line('queue.pl', $usage, @ARGV);
    my $config = MalJobs::read_config('queue.pl', MalJobs::find_config($p, 'queue.conf', $FindBin::RealBin));
    my @args = (@{ $config->{command} }, MalJobs::map_options('queue.pl', $config, $p->{opts}), @{ $p->{raw} });
    my %backend = (
        name => 'Grid Engine',
        task_var => 'SGE_TASK_ID',
        submit => sub {
            my ($script, $scheduler_log, $start, $end) = @_;
            my @cmd = (@args, '-o', "$scheduler_log.log", '-t', "$start:$end", $script);
            my ($rc, $out) = MalJobs::capture(@cmd);
            die "queue.pl: submission failed (exit $rc): @cmd\n$out" if $rc != 0;
            $out =~ /Your job\S* (\d+)/ or die "queue.pl: no job id in the output of @cmd:\n$out";
            return $1;
        },
        # qstat -j fails once the job has left the queue.
        status => sub {
            my ($rc) = MalJobs::capture('qstat', '-j', $_[0]);
            return ($rc == 127 ? undef : $rc == 0 ? 1 : 0, {});
        },
        cancel => sub { MalJobs::capture('qdel', $_[0]); },
        scheduler_log_of => sub { "$_[0].log" },
    );
    return MalJobs::run_array_job($p, \%backend);
}
