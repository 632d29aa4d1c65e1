"""mal-validate-data-dir, mal-compute-lengths and utils/validate_data_dir.sh as the recipe calls them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.bad_inputs import KEYS, NUM_SAMPLES, TARGET, make_bad_data_dir, make_good_data_dir
from mal.bin import compute_lengths, validate_data_dir
from mal.io import read_scp, write_scp

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, **kwargs)


def test_validate_main_exit_codes_and_lines(tmp_path, capsys):
    good = make_good_data_dir(tmp_path / "good")
    assert validate_data_dir.main([str(good), "--sample-rate", "16000"]) == 0
    assert capsys.readouterr().out == ""
    bad = make_bad_data_dir("wrong_sample_rate", tmp_path / "bad")
    assert validate_data_dir.main([str(bad), "--sample-rate", "16000"]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{bad}/wav.scp:2: utterance '{TARGET}' ({bad.parent}/audio/wav/{TARGET}.wav): sample rate 8000 Hz, expected 16000 Hz"
    ]
    assert "1 problem(s)" in out.err
    assert validate_data_dir.main([str(bad)]) == 1  # rates disagree with spk1.scp even without --sample-rate
    assert "differs from wav.scp" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("mal-validate-data-dir", path=str(BIN)) is None, reason="console scripts not installed")
def test_console_script_and_shell_wrapper(tmp_path):
    good = make_good_data_dir(tmp_path / "good")
    nan = make_bad_data_dir("nan_samples", tmp_path / "nan")
    proc = _run(["mal-validate-data-dir", str(good), "--sample-rate", "16000"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wrapper = str(ROOT / "utils" / "validate_data_dir.sh")
    proc = _run([wrapper, "--sample-rate", "16000", str(nan)])
    assert proc.returncode == 1 and f"{nan}/spk1.scp:2: utterance '{TARGET}'" in proc.stdout and "NaN" in proc.stdout
    proc = _run([wrapper, "--headers-only", "--sample-rate", "16000", str(nan)])  # headers only: NaN is not seen
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _run([wrapper, "--bogus", str(nan)])
    assert proc.returncode == 2 and "Usage" in proc.stderr


def test_shell_wrapper_usage_and_missing_audio_hint(tmp_path):
    """Usage: one line per line, each option explained; a missing audio path says --no-audio skips
    the audio checks, and --no-audio (Kaldi's --no-wav) then checks the tables only."""
    wrapper = str(ROOT / "utils" / "validate_data_dir.sh")
    proc = _run([wrapper])
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("Usage: ") and lines[0].endswith("<data-dir>") and len(lines) > 3
    assert any(line.strip().startswith("--no-audio ") for line in lines)
    missing = make_bad_data_dir("missing_audio_file", tmp_path / "missing")
    proc = _run([wrapper, str(missing)])
    assert proc.returncode == 1 and f"utterance '{TARGET}'" in proc.stdout and "file not found" in proc.stdout
    assert "1 name an audio file that does not exist" in proc.stderr and "--no-audio checks the tables only" in proc.stderr
    for flag in ("--no-audio", "--no-wav"):
        proc = _run([wrapper, flag, str(missing)])
        assert proc.returncode == 0, proc.stdout + proc.stderr
    bad_table = make_bad_data_dir("missing_audio_file", tmp_path / "bad_table")
    (bad_table / "utt2spk").write_text("only-one spk\n")
    proc = _run([wrapper, "--no-audio", str(bad_table)])
    assert proc.returncode == 1 and "utt2spk" in proc.stdout and "file not found" not in proc.stdout


def test_compute_lengths_writes_utt2num_samples(tmp_path, capsys):
    data_dir = make_good_data_dir(tmp_path)
    (data_dir / "utt2num_samples").unlink()
    assert compute_lengths.main([str(data_dir)]) == 0
    assert read_scp(data_dir / "utt2num_samples", require_sorted=True) == {k: str(NUM_SAMPLES) for k in KEYS}
    assert compute_lengths.main([str(data_dir), "--sample-rate", "8000"]) == 0
    assert set(read_scp(data_dir / "utt2num_samples").values()) == {str(NUM_SAMPLES // 2)}
    assert validate_data_dir.main([str(data_dir)]) == 1  # 8 kHz counts do not match 16 kHz audio
    assert "utt2num_samples says 4000 but the audio has 8000" in capsys.readouterr().out


def test_compute_lengths_failure_names_key_and_keeps_old_file(tmp_path, capsys):
    data_dir = make_bad_data_dir("missing_audio_file", tmp_path)
    before = (data_dir / "utt2num_samples").read_bytes()
    assert compute_lengths.main([str(data_dir), "--sample-rate", "16000"]) == 1
    assert f"utterance '{TARGET}'" in capsys.readouterr().err
    assert (data_dir / "utt2num_samples").read_bytes() == before
    assert not [n for n in os.listdir(data_dir) if n.endswith(".tmp")]


def test_compute_lengths_runs_pipes(tmp_path):
    data_dir = make_good_data_dir(tmp_path)
    wav_scp = read_scp(data_dir / "wav.scp")
    wav_scp[KEYS[1]] = f"sox {wav_scp[KEYS[1]]} -t wav - trim 0 0.25 |"
    write_scp(data_dir / "wav.scp", wav_scp)
    (data_dir / "utt2num_samples").unlink()
    assert compute_lengths.main([str(data_dir), "--sample-rate", "16000"]) == 0
    lengths = read_scp(data_dir / "utt2num_samples")
    assert lengths[KEYS[1]] == "4000" and lengths[KEYS[0]] == str(NUM_SAMPLES)
