"""The validator and DataDir on every one-fault data dir of bad_inputs.py."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from helpers.bad_inputs import BAD_CASES, CASE_NAMES, KEYS, NUM_SAMPLES, SAMPLE_RATE, make_bad_data_dir, make_good_data_dir, read_case
from mal.io import AudioError, DataDir, DataDirError, ScpError, validate_data_dir
from mal.io.scp import write_scp


def _matching(problems, case, data_dir: Path):
    where = f"{data_dir}/{case.file}" + (f":{case.line}:" if case.line else "")
    return [
        p
        for p in problems
        if where in p and (case.key is None or f"'{case.key}'" in p) and case.also in p
    ]


def test_good_dir_has_no_problems_and_reads(tmp_path):
    data_dir = make_good_data_dir(tmp_path)
    assert validate_data_dir(data_dir, sample_rate=SAMPLE_RATE) == []
    assert validate_data_dir(data_dir, sample_rate=SAMPLE_RATE, check_audio=False) == []
    data = DataDir(data_dir, sample_rate=SAMPLE_RATE)
    assert data.keys == KEYS
    for key in KEYS:
        noisy, clean, noise = data.read_aligned(key, ("wav.scp", "spk1.scp", "noise1.scp"))
        assert noisy.shape == (NUM_SAMPLES,)
        assert np.max(np.abs(noisy - clean - noise)) < 3e-4  # the mixture is their sum (16-bit)


def test_case_table_covers_the_issue():
    faults = {
        "missing_wav_scp", "missing_audio_file", "empty_audio", "truncated_audio", "corrupt_header",
        "wrong_sample_rate", "multi_channel", "nan_samples", "inf_samples", "duplicate_key", "unsorted_keys",
        "non_utf8_line", "malformed_line", "failing_pipe", "spk2utt_inconsistent", "rate_mismatch_wav_spk1",
        "length_mismatch_wav_spk1",
    }
    for table in ("spk1", "noise1", "utt2spk", "text", "utt2num_samples"):
        faults |= {f"key_missing_from_{table}", f"extra_key_in_{table}"}
    assert faults <= set(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_validator_names_file_line_and_key(name, tmp_path):
    case = BAD_CASES[name]
    data_dir = make_bad_data_dir(case, tmp_path)
    problems = validate_data_dir(data_dir, sample_rate=case.sample_rate)
    assert _matching(problems, case, data_dir), "\n".join(problems) or "no problems reported"
    assert all("\n" not in p for p in problems)


@pytest.mark.parametrize("name", [n for n in CASE_NAMES if not BAD_CASES[n].needs_decode])
def test_validator_without_decoding_still_finds(name, tmp_path):
    case = BAD_CASES[name]
    data_dir = make_bad_data_dir(case, tmp_path)
    problems = validate_data_dir(data_dir, sample_rate=case.sample_rate, check_audio=False)
    assert _matching(problems, case, data_dir), "\n".join(problems) or "no problems reported"


@pytest.mark.parametrize("name", CASE_NAMES)
def test_reading_the_utterance_raises_naming_it(name, tmp_path):
    case = BAD_CASES[name]
    data_dir = make_bad_data_dir(case, tmp_path)
    with pytest.raises((AudioError, DataDirError, ScpError)) as info:
        read_case(case, data_dir)
    expected = f"'{case.key}'" if case.key else case.file
    assert expected in str(info.value)


def test_no_audio_mode_does_not_run_pipes(tmp_path):
    data_dir = make_good_data_dir(tmp_path)
    marker = tmp_path / "pipe-ran"
    wav_scp = DataDir(data_dir).table("wav.scp")
    wav_scp[KEYS[0]] = f"touch {marker}; cat {wav_scp[KEYS[0]]} |"
    write_scp(data_dir / "wav.scp", wav_scp)
    assert validate_data_dir(data_dir, SAMPLE_RATE, check_audio=False) == []
    assert not marker.exists()
    assert validate_data_dir(data_dir, SAMPLE_RATE, check_audio=True) == []
    assert marker.exists()


def test_many_missing_keys_are_summarised(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    keys = [f"utt{i:03d}" for i in range(25)]
    write_scp(data_dir / "wav.scp", {k: f"/nonexistent/{k}.wav" for k in keys})
    write_scp(data_dir / "text", {k: "A" for k in keys[:5]})
    problems = validate_data_dir(data_dir, check_audio=False)
    missing = [p for p in problems if "missing from" in p]
    assert len(missing) == 11
    assert re.search(r"and 10 more keys missing from .*/text$", missing[-1])
    assert sum("file not found" in p for p in problems) == 25


def test_segments_dir_is_valid_and_checks_lengths(tmp_path):
    data_dir = make_good_data_dir(tmp_path)
    rows = [f"{k}-seg{j} {k} {0.25 * j} {0.25 * (j + 1)}" for k in KEYS for j in range(2)]
    (data_dir / "segments").write_text("\n".join(rows) + "\n")
    utts = [r.split()[0] for r in rows]
    write_scp(data_dir / "utt2spk", {u: u.split("-")[0] for u in utts})
    write_scp(data_dir / "spk2utt", {s: " ".join(u for u in utts if u.startswith(s)) for s in ("spkA", "spkB")})
    write_scp(data_dir / "text", {u: "HI" for u in utts})
    write_scp(data_dir / "utt2num_samples", {u: 4000 for u in utts})
    assert validate_data_dir(data_dir, SAMPLE_RATE) == []
    write_scp(data_dir / "utt2num_samples", {u: 4000 + (u == utts[3]) for u in utts})
    problems = validate_data_dir(data_dir, SAMPLE_RATE)
    assert problems == [
        f"{data_dir}/utt2num_samples:4: key '{utts[3]}': utt2num_samples says 4001 but the audio has 4000 samples; "
        "rerun mal-compute-lengths"
    ]


def test_truncated_flac_is_found_when_decoding(tmp_path):
    import soundfile as sf

    data_dir = make_good_data_dir(tmp_path)
    wav_scp = DataDir(data_dir).table("wav.scp")
    flac = tmp_path / "cut.flac"
    sf.write(str(flac), np.random.default_rng(0).uniform(-0.5, 0.5, NUM_SAMPLES), SAMPLE_RATE, subtype="PCM_16")
    flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    wav_scp[KEYS[2]] = str(flac)
    write_scp(data_dir / "wav.scp", wav_scp)
    problems = validate_data_dir(data_dir, SAMPLE_RATE)
    assert any(p.startswith(f"{data_dir}/wav.scp:3: utterance '{KEYS[2]}'") and "cannot decode" in p for p in problems), problems
    with pytest.raises(AudioError, match=f"'{KEYS[2]}'"):
        DataDir(data_dir, SAMPLE_RATE).audio(KEYS[2])
