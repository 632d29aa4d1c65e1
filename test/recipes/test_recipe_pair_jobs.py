"""mal.sh --pair_jobs: stage 5's (test set, system) pairs run that many at once, never more, each
still split into --nj jobs; a failing pair fails the stage. Fake mal-train / mal-enhance on PATH."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List, Tuple

from helpers.fake_recipe import fake_recipe

# The fake enhancer marks itself running, then waits (at most 5 s) until a second one runs beside
# it, and records the most it saw: with pairs run one at a time it can only ever see itself.
ENHANCE = r'''
while [ "$1" != --out-dir ]; do args="$args $1"; shift; done; out=$2
mkdir -p "$out"; : > "$out/wav.scp"
touch "${FAKE_DIR}/running.$$"
seen=1
for _ in $(seq 50); do
    seen=$(ls "${FAKE_DIR}" | grep -c '^running\.')
    [ "$seen" -ge 2 ] && break
    sleep 0.1
done
printf "%s\t%s\n" "$seen" "$args" >> "${FAKE_DIR}/calls.tsv"
sleep 0.3
rm -f "${FAKE_DIR}/running.$$"
case "$args" in *"--peer nsnet2"*) [ -z "${FAKE_FAIL:-}" ] || exit 3 ;; esac
exit 0
'''
FAKES = {
    "mal-train": 'while [ "$1" != --out-dir ]; do shift; done; mkdir -p "$2"; touch "$2/model.pth"\n',
    "mal-enhance": ENHANCE,
    "nvidia-smi": "exit 9\n",
}


def _run(root: Path, *args: str, fail: bool = False) -> Tuple[subprocess.CompletedProcess, List[Tuple[int, str]]]:
    recipe = fake_recipe(root, FAKES, ("warmup", "mal"))
    fake_dir = root / "fake_state"
    fake_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env["FAKE_DIR"] = str(fake_dir)
    if fail:
        env["FAKE_FAIL"] = "1"
    proc = subprocess.run(["./mal.sh", "--stage", "3", "--stop_stage", "5", "--baseline_configs", "",
                           "--peer_systems", "rnnoise nsnet2", *args],
                          cwd=recipe, env=env, capture_output=True, text=True, timeout=120)
    log = fake_dir / "calls.tsv"
    calls = [(int(n), a) for n, a in (line.split("\t") for line in log.read_text().splitlines())] if log.exists() else []
    return proc, calls


def test_pairs_run_two_at_once_and_never_more(tmp_path):
    proc, calls = _run(tmp_path, "--nj", "1", "--pair_jobs", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(calls) == 4  # warmup, mal, rnnoise, nsnet2 on "test", one job each (--nj 1)
    assert max(n for n, _ in calls) == 2
    for system in ("--peer rnnoise", "--peer nsnet2", "warmup/model.pth", "mal/model.pth"):
        assert sum(system in a for _, a in calls) == 1


def test_one_pair_at_a_time_by_default(tmp_path):
    proc, calls = _run(tmp_path, "--nj", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [n for n, _ in calls] == [1, 1, 1, 1]


def test_each_pair_keeps_its_own_jobs(tmp_path):
    proc, calls = _run(tmp_path, "--nj", "2", "--pair_jobs", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(calls) == 4 * 2  # every pair split in two, as --nj says
    assert max(n for n, _ in calls) <= 4


def test_a_failing_pair_fails_the_stage(tmp_path):
    proc, _ = _run(tmp_path, "--nj", "1", "--pair_jobs", "2", fail=True)
    assert proc.returncode != 0
    assert "stage 5: a (test set, system) job failed" in proc.stderr  # nsnet2 is the last pair started
    assert "enhance: a job failed; see the logs named above" in proc.stderr and "enhanced/test/nsnet2/logdir" in proc.stderr


def test_pair_jobs_must_be_positive(tmp_path):
    proc, _ = _run(tmp_path, "--pair_jobs", "0")
    assert proc.returncode != 0 and "--pair_jobs must be at least 1, got 0" in proc.stderr
