package MalJobs;
# Shared by run.pl, queue.pl and slurm.pl: Kaldi's job contract
#   <prog> [options] [JOB=1:N] log/x.JOB.log command args...
# command-line parsing, the per-job log format, cluster config files (Kaldi's
# "command/option/default" format), waiting for cluster array jobs, and failure reports.
use strict;
use warnings;
use Cwd qw(getcwd);
use File::Basename qw(basename dirname);
use File::Path qw(make_path);
use POSIX ();
use Time::HiRes qw(sleep time);

our $TAIL_LINES = 20;

# Parse options, the optional JOB=a:b range, the log file and the command words.
# Options: "--name value" or "--name=value" (name "-" -> "_"), and Kaldi's raw
# single-dash scheduler options ("-q all.q", "-l x=y", "-V") kept in order.
sub parse_command_line {
    my ($prog, $usage, @argv) = @_;
    my (%opts, @raw, $jobvar, $start, $end);
    while (@argv) {
        my $arg = $argv[0];
        if ($arg =~ /^--([A-Za-z][\w-]*)=(.*)$/s) {
            shift @argv;
            (my $name = $1) =~ tr/-/_/;
            $opts{$name} = $2;
        } elsif ($arg =~ /^--([A-Za-z][\w-]*)$/) {
            die "$prog: option $arg needs a value\n$usage" if @argv < 2;
            shift @argv;
            (my $name = $1) =~ tr/-/_/;
            $opts{$name} = shift @argv;
        } elsif ($arg eq '-V') {
            push @raw, shift @argv;
        } elsif ($arg =~ /^-[A-Za-z]/) {
            die "$prog: option $arg needs a value\n$usage" if @argv < 2;
            push @raw, shift @argv, shift @argv;
        } elsif (!defined $jobvar && $arg =~ /^([A-Za-z_]\w*)=(\d+)(?::(\d+))?$/) {
            shift @argv;
            ($jobvar, $start, $end) = ($1, $2, defined $3 ? $3 : $2);
            die "$prog: bad job range $arg: start $start > end $end\n" if $start > $end;
            die "$prog: bad job range $arg: job ids start at 1 (as in Kaldi; Grid Engine arrays cannot start at 0)\n"
              if $start < 1;
        } else {
            last;
        }
    }
    die $usage if @argv < 2;
    my $log = shift @argv;
    if (defined $jobvar && $end > $start && index($log, $jobvar) < 0) {
        die "$prog: $jobvar=$start:$end runs several jobs, but the log file '$log' does not "
          . "contain '$jobvar', so they would all write one log\n";
    }
    return {
        prog => $prog, opts => \%opts, raw => \@raw, jobvar => $jobvar,
        start => defined $jobvar ? $start : 1, end => defined $jobvar ? $end : 1,
        log => $log, command => quote_words(@argv),
    };
}

# Join command words into one bash command line the way Kaldi does: a word without
# whitespace is kept as it is (so "|", ">" or "&&" given as words act as shell
# operators); a word with whitespace is quoted as one word.
sub quote_words {
    my @out;
    for my $word (@_) {
        if ($word =~ /^\S+$/) { push @out, $word; }
        elsif ($word =~ /"/) { (my $w = $word) =~ s/'/'\\''/g; push @out, "'$w'"; }
        else { push @out, "\"$word\""; }
    }
    return join ' ', @out;
}

# The jobs of a parsed command line: [{id, log, command}], JOB substituted everywhere.
sub expand_jobs {
    my ($p) = @_;
    my @jobs;
    for my $id ($p->{start} .. $p->{end}) {
        my ($log, $cmd) = ($p->{log}, $p->{command});
        if (defined $p->{jobvar}) {
            my $var = quotemeta $p->{jobvar};
            $log =~ s/$var/$id/g;
            $cmd =~ s/$var/$id/g;
        }
        push @jobs, { id => $id, log => $log, command => $cmd };
    }
    return @jobs;
}

sub make_log_dirs {
    my ($prog, @jobs) = @_;
    for my $job (@jobs) {
        my $dir = dirname($job->{log});
        next if -d $dir;
        eval { make_path($dir); 1 } or die "$prog: cannot create log directory $dir: $@";
    }
}

sub log_header {
    my ($command) = @_;
    return "# $command\n# Started at " . localtime() . "\n#\n";
}

sub log_footer {
    my ($code, $seconds, $threads) = @_;
    return "# Accounting: time=$seconds threads=$threads\n"
      . "# Ended (code $code) at " . localtime() . ", elapsed time $seconds seconds\n";
}

# Exit code of a wait status, 128+signal for a killed process (as bash reports it).
sub exit_code {
    my ($status) = @_;
    return 128 + ($status & 127) if $status & 127;
    return $status >> 8;
}

sub number_of_cpus {
    # nproc obeys OMP_NUM_THREADS, which path.sh sets to 1 for the jobs: count without it
    my $n = `env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null`;
    return $1 if defined $n && $n =~ /^(\d+)/ && $1 > 0;
    return 4;
}

# ---------------------------------------------------------------- failure report

# The last lines a job wrote, without run.pl's own trailing accounting lines.
sub tail_of {
    my ($path, $n) = @_;
    open(my $fh, '<', $path) or return undef;
    my @lines = <$fh>;
    close $fh;
    pop @lines while @lines && $lines[-1] =~ /^# (Accounting|Ended \(code)/;
    @lines = @lines[-$n .. -1] if @lines > $n;
    return join '', map { "    | $_" } @lines;
}

# Print which jobs failed and the end of the first failed log (to STDERR).
# $failed: [{id, log, code (undef: unknown), note (optional), extra_log (optional)}].
sub report_failures {
    my ($p, $num_jobs, $failed) = @_;
    my $prog = $p->{prog};
    my $first = $failed->[0];
    if ($num_jobs == 1) {
        print STDERR "$prog: job failed, log is in $first->{log}\n";
    } else {
        (my $pattern = $p->{log}) =~ s/\Q$p->{jobvar}\E/*/g;
        printf STDERR "%s: %d / %d failed, log is in %s\n", $prog, scalar @$failed, $num_jobs, $pattern;
        my @what = map {
            "$p->{jobvar}=$_->{id} (" . (defined $_->{code} ? "code $_->{code}" : 'no exit code') . ')'
        } @$failed;
        print STDERR "$prog: failed: ", join(', ', @what), "\n";
    }
    print STDERR "$prog: $first->{note}\n" if $first->{note};
    my $tail = tail_of($first->{log}, $TAIL_LINES);
    if (defined $tail) {
        print STDERR "$prog: first failed log $first->{log} ends with:\n$tail";
    } else {
        print STDERR "$prog: first failed log $first->{log} was not written\n";
    }
    if ($first->{extra_log} && -s $first->{extra_log}) {
        my $extra = tail_of($first->{extra_log}, $TAIL_LINES);
        print STDERR "$prog: scheduler output $first->{extra_log} ends with:\n$extra" if defined $extra;
    }
}

# ------------------------------------------------------------ cluster config file

# Find the config: --config, else ./conf/<name>, else <repo>/conf/<name> next to utils/.
sub find_config {
    my ($p, $name, $script_dir) = @_;
    if (defined $p->{opts}{config}) {
        -f $p->{opts}{config} or die "$p->{prog}: config file $p->{opts}{config} not found\n";
        return $p->{opts}{config};
    }
    for my $path ("conf/$name", "$script_dir/../conf/$name") {
        return $path if -f $path;
    }
    die "$p->{prog}: no config: give --config FILE or create conf/$name\n";
}

# Kaldi's format: "command <submit command>", "option name=value <args>",
# "option name=* <args with $0>", "default name=value"; "#" starts a comment.
sub read_config {
    my ($prog, $path) = @_;
    open(my $fh, '<', $path) or die "$prog: cannot read config $path: $!\n";
    my %config = (path => $path, command => undef, rules => {}, defaults => {});
    while (my $line = <$fh>) {
        $line =~ s/(^|\s)#.*$//;
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ /^command\s+(.+)$/) {
            $config{command} = [split ' ', $1];
        } elsif ($line =~ /^option\s+(\w+)=(\S+)\s*(.*)$/) {
            $config{rules}{$1}{$2} = $3;
        } elsif ($line =~ /^default\s+(\w+)=(\S+)$/) {
            $config{defaults}{$1} = $2;
        } else {
            die "$prog: $path line $.: cannot parse '$line' (expected command/option/default)\n";
        }
    }
    close $fh;
    die "$prog: $path has no 'command' line\n" unless $config{command};
    return \%config;
}

# Scheduler arguments for the given options (plus the config's defaults).
# Options in $skip are handled by the caller.
sub map_options {
    my ($prog, $config, $opts, @skip) = @_;
    my %skip = map { $_ => 1 } ('config', @skip);
    my %values = (%{ $config->{defaults} }, %$opts);
    my @args;
    for my $name (sort keys %values) {
        next if $skip{$name};
        my $value = $values{$name};
        my $rules = $config->{rules}{$name}
          or die "$prog: option --" . ($name =~ tr/_/-/r)
          . " is not described in $config->{path} (add 'option $name=* ...')\n";
        my $args;
        if (exists $rules->{$value}) { $args = $rules->{$value}; }
        elsif (exists $rules->{'*'}) { ($args = $rules->{'*'}) =~ s/\$0/$value/g; }
        else { die "$prog: $config->{path} has no rule for $name=$value (nor $name=*)\n"; }
        push @args, split ' ', $args;
    }
    return @args;
}

# --------------------------------------------------------------- cluster jobs

sub shell_quote {
    my ($s) = @_;
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

# A bash script for one array job: task $task_var runs its job's command, writing the
# log like run.pl, then writes its exit code to <marker_prefix><task>.
sub job_script {
    my ($p, $task_var, $marker_prefix, $threads, @jobs) = @_;
    my $cwd = getcwd();
    (my $what = ($p->{jobvar} ? "$p->{jobvar}=$p->{start}:$p->{end} " : '') . "$p->{log} $p->{command}") =~ s/\n/ /g;
    my $s = "#!/bin/bash\n# Written by $p->{prog} at " . localtime() . " for:\n# $what\n"
      . "cd " . shell_quote($cwd) . " || exit 1\n"
      . "[ -f ./path.sh ] && . ./path.sh\n"
      . "task=\${$task_var:?$task_var is not set: submit this script as an array job}\n"
      . "case \"\$task\" in\n";
    for my $job (@jobs) {
        $s .= "  $job->{id}) log=" . shell_quote($job->{log}) . "; cmd=" . shell_quote($job->{command}) . " ;;\n";
    }
    $s .= "  *) echo \"no job \$task in this array\" >&2; exit 1 ;;\nesac\n"
      . "marker=" . shell_quote($marker_prefix) . "\$task\n"
      . <<'EOF'
mkdir -p "$(dirname "$log")"
{ echo "# Running on $(hostname)"; echo "# Started at $(date)"; echo "# $cmd"; } > "$log" \
  || { echo "cannot write $log"; echo 1 > "$marker.tmp"; mv "$marker.tmp" "$marker"; exit 1; }
t0=$(date +%s)
bash -c "$cmd" >> "$log" 2>&1 < /dev/null
ret=$?
t1=$(date +%s)
[ -n "$(tail -c 1 "$log")" ] && echo >> "$log"    # output without a final newline
EOF
      . "echo \"# Accounting: time=\$((t1 - t0)) threads=$threads\" >> \"\$log\"\n"
      . <<'EOF';
echo "# Ended (code $ret) at $(date), elapsed time $((t1 - t0)) seconds" >> "$log"
echo "$ret" > "$marker.tmp" && mv "$marker.tmp" "$marker"
exit "$ret"
EOF
    return $s;
}

# End the log of a task that died before writing its footer (killed with its script:
# time limit, memory, node failure) with the footer's lines, so it shows an exit status.
sub close_lost_log {
    my ($log, $why) = @_;
    my $end = -e $log ? '' : "# (the task wrote no log)\n";
    if (-s $log && open(my $in, '<', $log)) {
        seek($in, -1, 2);
        read($in, my $last, 1);
        close $in;
        $end = "\n" if $last ne "\n";
    }
    open(my $fh, '>>', $log) or return;
    print $fh $end, "# $why\n# Ended (code 1) at " . localtime() . "\n";
    close $fh;
}

# Run a command, return (exit code, stdout+stderr).
sub capture {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // return (127, "cannot fork: $!");
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT);
        exec { $cmd[0] } @cmd or do { syswrite(STDOUT, "cannot run $cmd[0]: $!\n"); POSIX::_exit(127); };
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return (exit_code($?), $out);
}

# Submit the jobs as one array job and wait for them. $backend = {
#   name, task_var (the scheduler's array task id variable),
#   submit => sub($script, $scheduler_log, $start, $end) -> job id (dies on failure),
#   status => sub($job_id) -> (active: 1|0|undef, {task => state}),
#   cancel => sub($job_id), scheduler_log_of => sub($scheduler_log, $task) -> path }
# Returns the process exit code (0 when every job exited 0).
sub run_array_job {
    my ($p, $backend) = @_;
    my $prog = $p->{prog};
    my @jobs = expand_jobs($p);
    make_log_dirs($prog, @jobs);
    my $qdir = dirname($p->{log}) . '/q';
    make_path($qdir) unless -d $qdir;
    (my $base = basename($p->{log})) =~ s/\.log$//;
    my $runid = sprintf('%d.%d', time(), $$);
    my $marker_prefix = "$qdir/$base.$runid.done.";
    my $script = "$qdir/$base.sh";
    my $threads = $p->{opts}{num_threads} // 1;
    open(my $fh, '>', "$script.tmp") or die "$prog: cannot write $script: $!\n";
    print $fh job_script($p, $backend->{task_var}, $marker_prefix, $threads, @jobs);
    close $fh or die "$prog: cannot write $script: $!\n";
    chmod 0755, "$script.tmp";
    rename "$script.tmp", $script or die "$prog: cannot write $script: $!\n";

    my $scheduler_log = "$qdir/$base";
    my $job_id = $backend->{submit}->($script, $scheduler_log, $p->{start}, $p->{end});
    local $SIG{INT} = local $SIG{TERM} = sub {
        print STDERR "$prog: interrupted: cancelling job $job_id\n";
        $backend->{cancel}->($job_id);
        exit 130;
    };

    my %code;    # task -> exit code read from its marker
    my $read_markers = sub {
        for my $job (@jobs) {
            next if defined $code{ $job->{id} };
            open(my $m, '<', $marker_prefix . $job->{id}) or next;
            my $line = <$m>;
            close $m;
            $code{ $job->{id} } = (defined $line && $line =~ /^(\d+)/) ? $1 : 1;
        }
        return keys %code == @jobs;
    };
    # Poll the markers (every 0.5 s, slowing to 5 s) and the scheduler (every 5 s). Once
    # the scheduler has no active task left, missing markers get $sync_wait seconds to
    # appear (a shared file system may lag), then count as failures.
    my $sync_wait = $ENV{MAL_JOBS_SYNC_WAIT} // 10;
    my ($delay, $next_status, $gone_since, %states) = (0.5, 0, undef);
    until ($read_markers->()) {
        if (time() >= $next_status) {
            my ($active, $st) = $backend->{status}->($job_id);
            %states = (%states, %{ $st || {} });
            if (defined $active && !$active) {
                $gone_since //= time();
                last if time() - $gone_since >= $sync_wait;
            } else {
                ($gone_since, $next_status) = (undef, time() + 5);
            }
        }
        my $nap = $delay;
        $nap = 0.5 if defined $gone_since && $nap > 0.5;
        sleep $nap;
        $delay = $delay * 1.5 > 5 ? 5 : $delay * 1.5;
    }
    $read_markers->();

    my @failed;
    for my $job (@jobs) {
        my $code = $code{ $job->{id} };
        next if defined $code && $code == 0;
        my %f = (id => $job->{id}, log => $job->{log}, code => $code,
                 extra_log => $backend->{scheduler_log_of}->($scheduler_log, $job->{id}));
        if (!defined $code) {
            my $state = $states{ $job->{id} } // 'unknown';
            $f{note} = "job $job_id task $job->{id} ended without an exit status "
              . "($backend->{name} state: $state; killed by the scheduler?)";
            close_lost_log($job->{log}, "$f{note}; counted as failed");
        }
        push @failed, \%f;
    }
    if (@failed) {
        report_failures($p, scalar @jobs, \@failed);
        return 1;
    }
    unlink map { $marker_prefix . $_->{id} } @jobs;
    return 0;
}

1;
