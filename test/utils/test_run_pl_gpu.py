"""utils/run.pl --gpu N: each job running at once gets its own N GPUs in CUDA_VISIBLE_DEVICES."""
from __future__ import annotations

import os
from typing import List, Tuple

JOB = ["echo", "$CUDA_VISIBLE_DEVICES", "$(date", "+%s.%N)", ">", "d.JOB", ";", "sleep", "0.3", ";", "date", "+%s.%N", ">>", "d.JOB"]


def _env(devices: str) -> dict:
    return {**os.environ, "CUDA_VISIBLE_DEVICES": devices}


def _jobs(tmp_path, n) -> List[Tuple[str, float, float]]:
    rows = []
    for i in range(1, n + 1):
        (devices, start), end = (line.split() for line in (tmp_path / f"d.{i}").read_text().splitlines())
        rows.append((devices, float(start), float(end[0])))
    return rows


def test_jobs_running_together_never_share_a_gpu(tmp_path, run_tool):
    res = run_tool(["run.pl", "--gpu", "1", "JOB=1:5", "log/g.JOB.log"] + JOB, cwd=tmp_path, env=_env("3,5"))
    assert res.returncode == 0, res.stderr
    jobs = _jobs(tmp_path, 5)
    assert {d for d, _, _ in jobs} == {"3", "5"}
    for a, (da, sa, ea) in enumerate(jobs):
        for db, sb, eb in jobs[a + 1 :]:
            if sa < eb and sb < ea:  # ran at the same time
                assert da != db, jobs
    spans = sorted((s, e) for _, s, e in jobs)
    assert any(s2 < e1 for (_, e1), (s2, _) in zip(spans, spans[1:])), "two GPUs: two jobs should overlap"


def test_two_gpus_per_job_and_a_too_small_pool(tmp_path, run_tool):
    res = run_tool(["run.pl", "--gpu", "2", "JOB=1:2", "log/g.JOB.log"] + JOB, cwd=tmp_path, env=_env("0,1,2,3"))
    assert res.returncode == 0, res.stderr
    assert sorted(d for d, _, _ in _jobs(tmp_path, 2)) == ["0,1", "2,3"]
    res = run_tool(["run.pl", "--gpu", "2", "log/x.log", "true"], cwd=tmp_path, env=_env("7"))
    assert res.returncode != 0 and "needs 2 GPU(s), but only 1 are available" in res.stderr


def test_gpu_zero_leaves_the_environment_alone(tmp_path, run_tool):
    res = run_tool(["run.pl", "--gpu", "0", "JOB=1:2", "log/g.JOB.log"] + JOB, cwd=tmp_path, env=_env("0,1"))
    assert res.returncode == 0, res.stderr
    assert [d for d, _, _ in _jobs(tmp_path, 2)] == ["0,1", "0,1"]
