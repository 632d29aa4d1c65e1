"""utils/run.pl: local parallel jobs with Kaldi's JOB=a:b contract."""
from __future__ import annotations

import re


def test_job_range_writes_one_log_per_job(tmp_path, run_tool):
    res = run_tool(["run.pl", "--mem", "4G", "--gpu", "0", "--num-threads", "2", "JOB=1:4", "exp/log/x.JOB.log",
                    "echo", "keys.JOB.scp", "output.JOB", "|", "tr", "a-z", "A-Z"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for i in range(1, 5):
        log = (tmp_path / f"exp/log/x.{i}.log").read_text()
        lines = log.splitlines()
        assert lines[0] == f"# echo keys.{i}.scp output.{i} | tr a-z A-Z"
        assert lines[1].startswith("# Started at ")
        assert f"KEYS.{i}.SCP OUTPUT.{i}" in lines  # "|" given as a word is a pipe
        assert re.fullmatch(r"# Accounting: time=\d+ threads=2", lines[-2])
        assert re.fullmatch(r"# Ended \(code 0\) at .*, elapsed time \d+ seconds", lines[-1])


def _intervals(tmp_path, n):
    spans = []
    for i in range(1, n + 1):
        start, end = (tmp_path / f"t.{i}").read_text().split()
        spans.append((float(start), float(end)))
    return sorted(spans)


def test_max_jobs_run_limits_parallelism(tmp_path, run_tool):
    job = ["date", "+%s.%N", ">", "t.JOB", ";", "sleep", "0.3", ";", "date", "+%s.%N", ">>", "t.JOB"]
    res = run_tool(["run.pl", "--max-jobs-run", "1", "JOB=1:3", "log/s.JOB.log"] + job, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    spans = _intervals(tmp_path, 3)
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:])), f"jobs overlapped: {spans}"
    res = run_tool(["run.pl", "--max-jobs-run", "3", "JOB=1:3", "log/p.JOB.log"] + job, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    spans = _intervals(tmp_path, 3)
    assert max(s for s, _ in spans) < min(e for _, e in spans), f"jobs did not run together: {spans}"


def test_failing_job_is_named_with_the_end_of_its_log(tmp_path, run_tool):
    res = run_tool(["run.pl", "JOB=1:4", "log/f.JOB.log", "echo", "working on JOB", ";",
                    "if", "[", "JOB", "-eq", "3", "];", "then", "echo", "'ValueError: bad key utt3'", ">&2", ";",
                    "exit", "2", ";", "fi"], cwd=tmp_path)
    assert res.returncode == 1
    err = res.stderr
    assert "run.pl: 1 / 4 failed, log is in log/f.*.log" in err
    assert "run.pl: failed: JOB=3 (code 2)" in err
    assert "run.pl: first failed log log/f.3.log ends with:" in err
    assert "ValueError: bad key utt3" in err
    assert "# Ended (code 2)" in (tmp_path / "log/f.3.log").read_text()
    assert "# Ended (code 0)" in (tmp_path / "log/f.4.log").read_text()  # the others still ran


def test_single_job_and_stdout_untouched(tmp_path, run_tool):
    res = run_tool(["run.pl", "log/one.log", "echo", "hello", "world"], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""
    assert "\nhello world\n" in (tmp_path / "log/one.log").read_text()
    res = run_tool(["run.pl", "log/one.log", "exit", "5"], cwd=tmp_path)
    assert res.returncode == 1
    assert "run.pl: job failed, log is in log/one.log" in res.stderr
    assert "# Ended (code 5)" in (tmp_path / "log/one.log").read_text()


def test_word_with_spaces_is_one_argument(tmp_path, run_tool):
    res = run_tool(["run.pl", "JOB=2:3", "log/q.JOB.log", "printf", "[%s],", "a b JOB", 'say "hi"'], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert '\n[a b 3],[say "hi"],\n# Accounting' in (tmp_path / "log/q.3.log").read_text()
    assert not (tmp_path / "log/q.1.log").exists()


def test_usage_errors(tmp_path, run_tool):
    res = run_tool(["run.pl", "JOB=1:2", "log/same.log", "true"], cwd=tmp_path)
    assert res.returncode == 1 and "does not contain 'JOB'" in res.stderr
    res = run_tool(["run.pl", "JOB=3:1", "log/x.JOB.log", "true"], cwd=tmp_path)
    assert res.returncode == 1 and "start 3 > end 1" in res.stderr
    for tool in ("run.pl", "queue.pl", "slurm.pl"):  # Kaldi's job ids start at 1
        res = run_tool([tool, "JOB=0:2", "log/z.JOB.log", "touch", "ran.JOB"], cwd=tmp_path)
        assert res.returncode == 1 and f"{tool}: bad job range JOB=0:2: job ids start at 1" in res.stderr, res.stderr
        assert not list(tmp_path.glob("ran.*"))
    res = run_tool(["run.pl", "log/x.log"], cwd=tmp_path)
    assert res.returncode == 1 and res.stderr.startswith("Usage: run.pl")
    assert not (tmp_path / "log").exists()


def test_default_parallelism_ignores_omp_num_threads(tmp_path, run_tool):
    """path.sh exports OMP_NUM_THREADS=1 for the jobs; run.pl must still run one job per CPU
    (nproc alone would say 1). Each job waits until both have started: run one after the
    other, the first would time out."""
    import os

    if len(os.sched_getaffinity(0)) < 2:
        import pytest

        pytest.skip("needs 2 CPUs")
    (tmp_path / "wait_for_both.sh").write_text(
        'touch "s.$1"\nfor i in $(seq 100); do [ -e s.1 ] && [ -e s.2 ] && exit 0; sleep 0.1; done\nexit 1\n')
    res = run_tool(["run.pl", "JOB=1:2", "log/w.JOB.log", "sh", "wait_for_both.sh", "JOB"], cwd=tmp_path,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
