"""utils/queue.pl with a stand-in for Grid Engine (no SGE here).

The fake ``qsub`` on PATH records its arguments, then runs the submitted script once per
task of ``-t a:b`` with SGE_TASK_ID set (tasks in ``FAKE_QSUB_SKIP`` are not run, as if the
scheduler killed them); the fake ``qstat -j`` says the job is gone. What is checked: the qsub
command line built from conf/queue.conf, the generated script, logs, and failure reports.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List

FAKE_QSUB = r"""#!/bin/bash
printf '%s\n' "$@" > "$FAKE_SGE_DIR/qsub.args"
script="${@: -1}"; range=""; out=""
while [ $# -gt 1 ]; do
    case "$1" in -t) range=$2; shift ;; -o) out=$2; shift ;; esac
    shift
done
for task in $(seq "${range%:*}" "${range#*:}"); do
    [[ " ${FAKE_QSUB_SKIP:-} " == *" $task "* ]] && continue
    SGE_TASK_ID=$task bash "$script" >> "$out" 2>&1
done
echo "Your job-array 4242.${range/:/-}:1 (\"$(basename "$script")\") has been submitted"
"""


def _fake_sge(tmp_path: Path, **extra: str) -> Dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "qsub").write_text(FAKE_QSUB)
    (bin_dir / "qstat").write_text("#!/bin/bash\necho 'Following jobs do not exist: '$2 >&2; exit 1\n")
    (bin_dir / "qdel").write_text("#!/bin/bash\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_SGE_DIR=str(tmp_path), **extra)


def _qsub_args(tmp_path: Path) -> List[str]:
    return (tmp_path / "qsub.args").read_text().splitlines()


BASE = ["-v", "PATH", "-cwd", "-S", "/bin/bash", "-j", "y", "-l", "arch=*64*"]


def test_options_map_through_queue_conf(tmp_path, run_tool):
    env = _fake_sge(tmp_path)
    res = run_tool(["queue.pl", "--mem", "2G", "--num-threads", "2", "--gpu", "1", "--max-jobs-run", "3",
                    "--time", "4:00:00", "-q", "all.q", "JOB=1:3", "exp/log/x.JOB.log", "echo", "out", "JOB"],
                   cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert _qsub_args(tmp_path) == BASE + [
        "-l", "gpu=1", "-q", "g.q",                 # gpu=*
        "-tc", "3",                                 # max_jobs_run=*
        "-l", "mem_free=2G,ram_free=2G",            # mem=*
        "-pe", "smp", "2",                          # num_threads=*
        "-l", "h_rt=4:00:00",                       # time=*
        "-q", "all.q",                              # raw single-dash option, unchanged
        "-o", "exp/log/q/x.JOB.log", "-t", "1:3", "exp/log/q/x.JOB.sh"]
    for i in range(1, 4):
        log = (tmp_path / f"exp/log/x.{i}.log").read_text()
        head = log.splitlines()[:3]  # Kaldi's cluster log layout: host, start, command
        assert head[0].startswith("# Running on ") and head[1].startswith("# Started at ") and head[2] == f"# echo out {i}"
        assert f"\nout {i}\n" in log
        assert re.search(r"^# Accounting: time=\d+ threads=2$", log, re.M)
        assert re.search(r"^# Ended \(code 0\) at ", log, re.M)


def test_defaults_add_nothing(tmp_path, run_tool):
    env = _fake_sge(tmp_path)
    res = run_tool(["queue.pl", "--num-threads", "1", "--mem", "0", "log/one.log", "echo", "hi"], cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    # default gpu=0, num_threads=1 and mem=0 map to nothing; a single job is task 1 of 1
    assert _qsub_args(tmp_path) == BASE + ["-o", "log/q/one.log", "-t", "1:1", "log/q/one.sh"]
    assert "\nhi\n" in (tmp_path / "log/one.log").read_text()


def test_config_option_and_unknown_option(tmp_path, run_tool):
    env = _fake_sge(tmp_path)
    conf = tmp_path / "my.conf"
    conf.write_text("# site config\ncommand qsub -V\noption mem=* -l h_vmem=$0  # per slot\n")
    res = run_tool(["queue.pl", "--config", conf, "--mem", "1G", "log/a.log", "true"], cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert _qsub_args(tmp_path) == ["-V", "-l", "h_vmem=1G", "-o", "log/q/a.log", "-t", "1:1", "log/q/a.sh"]
    res = run_tool(["queue.pl", "--config", conf, "--gpu", "1", "log/a.log", "true"], cwd=tmp_path, env=env)
    assert res.returncode == 1
    assert f"option --gpu is not described in {conf}" in res.stderr


def test_failed_and_killed_tasks_are_reported(tmp_path, run_tool):
    env = _fake_sge(tmp_path, FAKE_QSUB_SKIP="4", MAL_JOBS_SYNC_WAIT="0")
    res = run_tool(["queue.pl", "JOB=1:4", "log/f.JOB.log", "echo", "job", "JOB", ";", "[", "JOB", "-ne", "3", "]"],
                   cwd=tmp_path, env=env)
    assert res.returncode == 1
    assert "2 / 4 failed, log is in log/f.*.log" in res.stderr
    assert "JOB=3 (code 1), JOB=4 (no exit code)" in res.stderr
    assert "first failed log log/f.3.log ends with:\n    | # Running on " in res.stderr
    assert "    | # echo job 3 ; [ 3 -ne 3 ]\n" in res.stderr
    assert re.search(r"^# Ended \(code 1\) at ", (tmp_path / "log/f.3.log").read_text(), re.M)
    # the killed task never wrote its log: queue.pl writes one that ends with an exit status
    lost = (tmp_path / "log/f.4.log").read_text().splitlines()
    assert lost[0] == "# (the task wrote no log)"
    assert "task 4 ended without an exit status" in lost[1] and lost[1].endswith("counted as failed")
    assert lost[2].startswith("# Ended (code 1) at ")


def test_parallel_job_needs_job_in_log_name(tmp_path, run_tool):
    env = _fake_sge(tmp_path)
    res = run_tool(["queue.pl", "JOB=1:2", "log/same.log", "true"], cwd=tmp_path, env=env)
    assert res.returncode == 1 and "does not contain 'JOB'" in res.stderr
    assert not (tmp_path / "qsub.args").exists()
