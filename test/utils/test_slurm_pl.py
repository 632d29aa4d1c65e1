"""utils/slurm.pl on a real single-node Slurm (fixture in conftest.py), and its option mapping."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

UTILS = Path(__file__).resolve().parents[2] / "utils"


def test_array_job_writes_one_log_per_task(slurm_env, tmp_path, run_tool):
    t0 = time.time()
    res = run_tool(["slurm.pl", "--mem", "100M", "--num-threads", "1", "--time", "5", "JOB=1:4",
                    "exp/log/echo.JOB.log", "echo", "task", "JOB", "of", "keys.JOB.scp",
                    "cpus=$SLURM_CPUS_PER_TASK", "mem=$SLURM_MEM_PER_NODE", "array=$SLURM_ARRAY_TASK_ID"],
                   cwd=tmp_path, env=slurm_env)
    assert res.returncode == 0, res.stderr
    for i in range(1, 5):
        log = (tmp_path / f"exp/log/echo.{i}.log").read_text()
        head = log.splitlines()[:3]  # Kaldi's cluster log layout: host, start, command
        assert head[0].startswith("# Running on ") and head[1].startswith("# Started at "), log
        assert head[2] == f"# echo task {i} of keys.{i}.scp cpus=$SLURM_CPUS_PER_TASK mem=$SLURM_MEM_PER_NODE array=$SLURM_ARRAY_TASK_ID", log
        assert f"task {i} of keys.{i}.scp cpus=1 mem=100 array={i}\n" in log
        assert re.search(r"^# Accounting: time=\d+ threads=1$", log, re.M)
        assert re.search(r"^# Ended \(code 0\) at ", log, re.M)
    # one array job, with its script and scheduler output kept under the log dir's q/
    assert (tmp_path / "exp/log/q/echo.JOB.sh").is_file()
    assert sorted(p.name for p in (tmp_path / "exp/log/q").glob("echo.JOB.*.out")) == [
        f"echo.JOB.{i}.out" for i in range(1, 5)]
    assert not list((tmp_path / "exp/log/q").glob("*.done.*")), "exit-status markers are removed on success"
    assert time.time() - t0 < 30


def test_failing_task_fails_the_call_and_names_its_log(slurm_env, tmp_path, run_tool):
    res = run_tool(["slurm.pl", "JOB=1:3", "log/x.JOB.log", "echo", "start", "JOB", "&&",
                    "[", "JOB", "-ne", "2", "]", "||", "{", "echo", "bad input in task JOB", ">&2", ";", "exit", "3", ";", "}"],
                   cwd=tmp_path, env=slurm_env)
    assert res.returncode == 1
    assert "1 / 3 failed, log is in log/x.*.log" in res.stderr
    assert "JOB=2 (code 3)" in res.stderr
    assert "first failed log log/x.2.log ends with:" in res.stderr
    assert "bad input in task 2" in res.stderr  # the real error, shown without opening the log
    assert re.search(r"^# Ended \(code 3\)", (tmp_path / "log/x.2.log").read_text(), re.M)
    assert re.search(r"^# Ended \(code 0\)", (tmp_path / "log/x.3.log").read_text(), re.M)


def test_task_killed_with_its_script_gets_an_exit_status_in_its_log(slurm_env, tmp_path, run_tool):
    """Task 2 kills its own job script (as an out-of-memory kill would): no footer, no status file."""
    env = dict(slurm_env, MAL_JOBS_SYNC_WAIT="0")
    res = run_tool(["slurm.pl", "JOB=1:2", "log/k.JOB.log", "echo", "started", "JOB", ";", "[", "JOB", "-eq", "1", "]",
                    "||", "kill", "-KILL", "$PPID"], cwd=tmp_path, env=env)
    assert res.returncode == 1
    assert "JOB=2 (no exit code)" in res.stderr and "ended without an exit status" in res.stderr
    log = (tmp_path / "log/k.2.log").read_text()
    assert log.startswith("# Running on ") and "\nstarted 2\n" in log
    assert re.search(r"^# .*task 2 ended without an exit status \(Slurm state: \w+.*counted as failed\n# Ended \(code 1\) at ",
                     log, re.M), log
    assert re.search(r"^# Ended \(code 0\)", (tmp_path / "log/k.1.log").read_text(), re.M)


def test_single_job_without_range(slurm_env, tmp_path, run_tool):
    res = run_tool(["slurm.pl", "log/one.log", "echo", "single"], cwd=tmp_path, env=slurm_env)
    assert res.returncode == 0, res.stderr
    assert "single\n" in (tmp_path / "log/one.log").read_text()


def _fake_sbatch(tmp_path: Path) -> dict:
    """A PATH whose sbatch records its arguments and refuses the job."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" > {tmp_path}/sbatch.args\n'
                      'echo "sbatch: error: fake sbatch refuses" >&2; exit 1\n')
    sbatch.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")


def test_options_are_mapped_through_slurm_conf(tmp_path, run_tool):
    env = _fake_sbatch(tmp_path)
    res = run_tool(["slurm.pl", "--gpu", "2", "--mem", "3G", "--num-threads", "4", "--time", "1:00:00",
                    "--max-jobs-run", "2", "-p", "long", "JOB=2:5", "log/t.JOB.log", "true"], cwd=tmp_path, env=env)
    assert res.returncode == 1
    assert "submission failed" in res.stderr and "fake sbatch refuses" in res.stderr
    args = (tmp_path / "sbatch.args").read_text().splitlines()
    assert args[:3] == ["--export=ALL", "--ntasks=1", "--job-name=t.JOB"]
    assert args[3:] == ["--partition=gpu", "--gres=gpu:2", "--mem=3G", "--cpus-per-task=4", "--time=1:00:00",
                        "-p", "long", "--parsable", "--array=2-5%2", "--output=log/q/t.JOB.%a.out", "log/q/t.JOB.sh"]


def test_defaults_and_recipe_config(tmp_path, run_tool):
    env = _fake_sbatch(tmp_path)
    run_tool(["slurm.pl", "log/t.log", "true"], cwd=tmp_path, env=env)
    args = (tmp_path / "sbatch.args").read_text().splitlines()
    assert args == ["--export=ALL", "--ntasks=1", "--job-name=t", "--parsable", "--array=1-1",
                    "--output=log/q/t.%a.out", "log/q/t.sh"]
    # a conf/slurm.conf in the working directory (the recipe's) wins over mal's
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/slurm.conf").write_text("command sbatch -A myproj\noption mem=* --mem-per-cpu=$0\n")
    run_tool(["slurm.pl", "--mem", "1G", "log/t.log", "true"], cwd=tmp_path, env=env)
    args = (tmp_path / "sbatch.args").read_text().splitlines()
    assert args[:4] == ["-A", "myproj", "--job-name=t", "--mem-per-cpu=1G"]


def test_option_missing_from_config_is_an_error(tmp_path, run_tool):
    env = _fake_sbatch(tmp_path)
    res = run_tool(["slurm.pl", "--licenses", "matlab", "log/t.log", "true"], cwd=tmp_path, env=env)
    assert res.returncode == 1
    assert "option --licenses is not described in" in res.stderr and "slurm.conf" in res.stderr
    assert not (tmp_path / "sbatch.args").exists()


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def test_task_killed_by_the_scheduler_is_reported(slurm_env, tmp_path):
    env = dict(slurm_env, MAL_JOBS_SYNC_WAIT="0")
    proc = subprocess.Popen([str(UTILS / "slurm.pl"), "log/victim.log", "sleep", "60"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(tmp_path / "log/victim.log")
    subprocess.run(["scancel", "--name=victim"], env=slurm_env, check=True)
    _, err = proc.communicate(timeout=40)
    assert proc.returncode == 1
    assert "job failed, log is in log/victim.log" in err
    assert "ended without an exit status (Slurm state: CANCELLED" in err
    assert "CANCELLED AT" in err  # slurmstepd's line from the scheduler output file


def test_interrupt_cancels_the_array_job(slurm_env, tmp_path):
    proc = subprocess.Popen([str(UTILS / "slurm.pl"), "JOB=1:2", "log/int.JOB.log", "sleep", "60"], cwd=tmp_path,
                            env=slurm_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(tmp_path / "log/int.1.log")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "interrupted: cancelling job" in err
    deadline = time.time() + 15
    while True:
        queue = subprocess.run(["squeue", "--noheader", "--name=int.JOB", "--states=PENDING,RUNNING"],
                               env=slurm_env, capture_output=True, text=True).stdout
        if not queue.strip():
            break
        assert time.time() < deadline, f"jobs still queued after the interrupt:\n{queue}"
        time.sleep(0.5)
