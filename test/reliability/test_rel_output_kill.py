"""mal-enhance, mal-score and mal-report SIGKILLed mid-run: no half-written wav, wav.scp, metric
file or RESULTS.md is ever left under its final name, and a re-run completes the work
(mal-enhance --skip-existing reuses every finished wav untouched)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import mal.io.scp
import mal.score.results_md
import mal.score.summary
from mal.bin.enhance import main as enhance_main
from mal.bin.report import main as report_main
from mal.bin.score import main as score_main
from mal.io import read_scp
from mal.score.summary import read_metric_file
from rel_helpers import (
    KILLED, final_files, kill_in_atomic_open, kill_in_sf_write, noisy_clean_set, read_wav, run_forked, snapshot,
    tiny_checkpoint,
)

KEYS = [f"utt{i:02d}" for i in range(6)]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(root, noisy wav.scp, clean spk1.scp, model.pth, reference outputs of an uninterrupted run)."""
    root = tmp_path_factory.mktemp("outputs")
    scps = noisy_clean_set(root, KEYS, num_samples=8000)
    model = tiny_checkpoint(root / "model.pth")
    assert enhance_main(["--model", str(model), "--wav-scp", str(scps["noisy"]), "--out-dir", str(root / "ref")]) == 0
    reference = {key: read_wav(root / "ref" / "wav" / f"{key}.wav") for key in KEYS}
    return root, scps["noisy"], scps["clean"], model, reference


def check_no_partial_outputs(out: Path, reference) -> list:
    """Every final-named output is complete and equal to the uninterrupted run's; returns the keys done."""
    done = []
    for path in final_files(out / "wav"):
        key = path.name[: -len(".wav")]
        np.testing.assert_array_equal(read_wav(path), reference[key], err_msg=f"{path} is not the complete output")
        done.append(key)
    if (out / "wav.scp").exists():  # only ever written complete, after every key
        assert sorted(read_scp(out / "wav.scp")) == KEYS
    return done


def resume_and_check(setup, out: Path, done: list) -> None:
    """--skip-existing completes the run without touching any finished wav."""
    root, noisy, _, model, reference = setup
    before = snapshot(out / "wav" / f"{k}.wav" for k in done)
    assert enhance_main(["--model", str(model), "--wav-scp", str(noisy), "--out-dir", str(out), "--skip-existing"]) == 0
    assert snapshot(out / "wav" / f"{k}.wav" for k in done) == before, "--skip-existing rewrote a finished wav"
    table = read_scp(out / "wav.scp")
    assert list(table) == KEYS
    for key, path in table.items():
        assert Path(path) == (out / "wav" / f"{key}.wav").resolve()
        np.testing.assert_array_equal(read_wav(path), reference[key])


def enhance_args(setup, out: Path) -> list:
    _, noisy, _, model, _ = setup
    return ["--model", str(model), "--wav-scp", str(noisy), "--out-dir", str(out)]


def test_enhance_killed_while_writing_a_wav(setup, tmp_path):
    out = tmp_path / "out"

    def target():
        kill_in_sf_write(nth=3)
        return enhance_main(enhance_args(setup, out))

    assert run_forked(target, tmp_path / "log") == KILLED
    done = check_no_partial_outputs(out, setup[4])
    assert done == KEYS[:2] and not (out / "wav.scp").exists()
    assert [p.name for p in (out / "wav").glob(f".{KEYS[2]}.wav.*")], "the half-written temporary should be there"
    resume_and_check(setup, out, done)


def test_enhance_killed_while_writing_wav_scp(setup, tmp_path):
    out = tmp_path / "out"

    def target():
        kill_in_atomic_open(mal.io.scp, "wav.scp")
        return enhance_main(enhance_args(setup, out))

    assert run_forked(target, tmp_path / "log") == KILLED
    assert check_no_partial_outputs(out, setup[4]) == KEYS
    assert not (out / "wav.scp").exists()
    resume_and_check(setup, out, KEYS)


def test_killed_rerun_removes_the_previous_runs_wav_scp(setup, tmp_path):
    """A wav.scp in OUT means the last run finished: a re-run that dies must not leave the old one."""
    out = tmp_path / "out"
    assert enhance_main(enhance_args(setup, out)) == 0

    def target():
        kill_in_sf_write(nth=2)
        return enhance_main(enhance_args(setup, out))

    assert run_forked(target, tmp_path / "log") == KILLED
    assert not (out / "wav.scp").exists()
    check_no_partial_outputs(out, setup[4])
    resume_and_check(setup, out, [])


def test_broken_output_is_redone_by_skip_existing(setup, tmp_path):
    """An output cut short by something else (a full disk, a copy) is not reused; intact ones are."""
    out = tmp_path / "out"
    assert enhance_main(enhance_args(setup, out)) == 0
    broken = out / "wav" / f"{KEYS[1]}.wav"
    broken.write_bytes(broken.read_bytes()[:3000])
    (out / "wav" / f"{KEYS[4]}.wav").write_bytes(b"")
    intact = [k for k in KEYS if k not in (KEYS[1], KEYS[4])]
    resume_and_check(setup, out, intact)


@pytest.mark.skipif(not (BIN / "mal-enhance").exists(), reason="console scripts not installed")
def test_enhance_sigkilled_from_outside_at_a_random_moment(setup, tmp_path):
    root, noisy, _, model, reference = setup
    out = tmp_path / "out"
    # Kaldi pipes that take 0.1 s each, so the kill lands mid-run rather than after the end.
    many = tmp_path / "wav.scp"
    many.write_text("".join(f"{key} sleep 0.1; cat {path} |\n" for key, path in read_scp(noisy).items()))
    proc = subprocess.Popen([str(BIN / "mal-enhance"), "--model", str(model), "--wav-scp", str(many), "--out-dir", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.time() + 60
    while not (out / "wav").is_dir() or len(final_files(out / "wav")) < 1:
        assert proc.poll() is None, "mal-enhance ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.001)
    time.sleep(random.uniform(0.0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = check_no_partial_outputs(out, reference)
    if proc.returncode == -signal.SIGKILL and len(done) < len(KEYS):
        assert not (out / "wav.scp").exists()
    resume_and_check(setup, out, done)


def test_score_killed_while_writing_metric_files(setup, tmp_path):
    root, noisy, clean, _, _ = setup
    out = tmp_path / "scores"
    args = ["--ref-scp", str(clean), "--est-scp", str(noisy), "--out-dir", str(out), "--metrics", "sisdr,snr"]

    def target():
        kill_in_atomic_open(mal.score.summary, "snr")  # the second metric file, half written
        return score_main(args)

    assert run_forked(target, tmp_path / "log") == KILLED
    assert [p.name for p in final_files(out)] == ["sisdr"]  # complete; 'snr' and 'failed' never appeared
    assert sorted(read_metric_file(out / "sisdr")) == KEYS
    assert score_main(args) == 0
    assert [p.name for p in final_files(out)] == ["failed", "sisdr", "snr"]
    assert sorted(read_metric_file(out / "snr")) == KEYS


def test_report_killed_while_writing_results_md_keeps_the_old_one(setup, tmp_path):
    root, noisy, clean, _, _ = setup
    scores = tmp_path / "scores" / "test"
    for system, est in (("noisy", noisy), ("enhanced", root / "ref" / "wav.scp")):
        assert score_main(["--ref-scp", str(clean), "--est-scp", str(est), "--out-dir", str(scores / system),
                           "--metrics", "sisdr"]) == 0
    results = tmp_path / "RESULTS.md"
    args = ["--results-md", str(results), "--scores-root", str(tmp_path / "scores")]
    assert report_main(args) == 0
    old = results.read_bytes()
    assert b"## test" in old and b"|enhanced|" in old
    (scores / "enhanced" / "sisdr").write_text("".join(f"{k} 99.0\n" for k in KEYS))

    def target():
        kill_in_atomic_open(mal.score.results_md, "RESULTS.md")
        return report_main(args)

    assert run_forked(target, tmp_path / "log") == KILLED
    assert results.read_bytes() == old
    assert report_main(args) == 0
    assert "99.000" in results.read_text()


def test_compute_lengths_killed_while_writing_keeps_the_old_table(setup, tmp_path):
    from mal.bin.compute_lengths import main as lengths_main

    _, noisy, clean, _, _ = setup
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(noisy.read_text())
    (data / "spk1.scp").write_text(clean.read_text())
    (data / "utt2num_samples").write_text("".join(f"{k} 1\n" for k in KEYS))  # stale, but complete
    old = (data / "utt2num_samples").read_bytes()

    def target():
        kill_in_atomic_open(mal.io.scp, "utt2num_samples")
        return lengths_main([str(data)])

    assert run_forked(target, tmp_path / "log") == KILLED
    assert (data / "utt2num_samples").read_bytes() == old
    assert lengths_main([str(data)]) == 0
    assert read_scp(data / "utt2num_samples") == {k: "8000" for k in KEYS}
