"""Round trips of every table and every wav.scp entry type through write_data_dir / DataDir."""
from __future__ import annotations

import os
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from helpers.bad_inputs import tone
from mal.io import (
    AudioError,
    DataDir,
    DataDirError,
    ScpError,
    compute_num_samples,
    read_audio,
    read_scp,
    validate_data_dir,
    write_data_dir,
    write_scp,
    write_wav,
)
from mal.io.audio import resampled_length

SR = 16000
PCM16 = 1.0 / 32768


def test_every_table_round_trips_sorted(tmp_path):
    tables = {
        "wav.scp": {"b-2": "/data/b2.wav", "a-1": "sox /data/a1.flac -t wav - |", "b-10": "/data/x.ark:123"},
        "spk1.scp": {"b-2": "/c/b2.wav", "a-1": "/c/a1.wav", "b-10": "/c/b10.wav"},
        "noise1.scp": {"b-2": "/n/b2.wav", "a-1": "/n/a1.wav", "b-10": "/n/b10.wav"},
        "utt2spk": {"b-2": "b", "a-1": "a", "b-10": "b"},
        "text": {"b-2": "TWO  WORDS", "a-1": "ÜBER café", "b-10": "TEN"},
        "utt2num_samples": {"b-2": 16000, "a-1": 8000, "b-10": 123},
        "segments": {"b-2": ("rec2", 0.0, 1.5), "a-1": ["rec1", 0.25, 0.75], "b-10": "rec2 1.5 2.0"},
        "spk2utt": {"stale": "entry"},
    }
    data_dir = write_data_dir(tmp_path / "data", tables)
    for name in tables:
        lines = (data_dir / name).read_bytes().splitlines()
        keys = [line.split(b" ")[0] for line in lines]
        assert keys == sorted(keys), name  # byte order, as LC_ALL=C sort
    assert read_scp(data_dir / "wav.scp")["a-1"] == "sox /data/a1.flac -t wav - |"
    assert list(read_scp(data_dir / "wav.scp")) == ["a-1", "b-10", "b-2"]
    assert read_scp(data_dir / "text") == tables["text"]
    assert read_scp(data_dir / "utt2num_samples") == {k: str(v) for k, v in tables["utt2num_samples"].items()}
    assert read_scp(data_dir / "spk2utt") == {"a": "a-1", "b": "b-10 b-2"}  # regenerated from utt2spk
    assert read_scp(data_dir / "segments")["b-2"] == "rec2 0.0 1.5"
    # Tables only: wav.scp is keyed by recording when segments exist, so check with check_tables off.
    data = DataDir(data_dir, check_tables=False)
    assert data.segments["a-1"] == ("rec1", 0.25, 0.75)
    assert data.num_samples() == {"a-1": 8000, "b-10": 123, "b-2": 16000}


def _entry_dir(tmp_path: Path) -> tuple:
    """A data dir whose wav.scp uses a wav, a flac, a pipe and an ark entry."""
    audio = tmp_path / "audio"
    audio.mkdir()
    signals = {f"utt{i}": tone(i) for i in range(4)}
    write_wav(audio / "utt0.wav", signals["utt0"], SR)
    sf.write(str(audio / "utt1.flac"), signals["utt1"], SR, subtype="PCM_16")
    write_wav(audio / "utt2.wav", signals["utt2"], SR, subtype="FLOAT")
    with kaldiio.WriteHelper(f"ark,scp:{audio}/a.ark,{audio}/a.scp") as writer:
        writer("utt3", (SR, np.round(signals["utt3"] * 32767).astype(np.int16)))
    ark_entry = read_scp(audio / "a.scp")["utt3"]
    assert ".ark:" in ark_entry
    wav_scp = {
        "utt0": str(audio / "utt0.wav"),
        "utt1": str(audio / "utt1.flac"),
        "utt2": f"sox {audio / 'utt2.wav'} -t wav - |",
        "utt3": ark_entry,
    }
    tables = {"wav.scp": wav_scp, "spk1.scp": dict(wav_scp), "utt2spk": {k: "s" for k in wav_scp}}
    return write_data_dir(tmp_path / "data", tables), signals


def test_every_entry_type_reads_back(tmp_path):
    data_dir, signals = _entry_dir(tmp_path)
    assert validate_data_dir(data_dir, sample_rate=SR) == []
    assert validate_data_dir(data_dir, sample_rate=SR, check_audio=False) == []
    data = DataDir(data_dir, sample_rate=SR)
    for key, reference in signals.items():
        wav = data.audio(key)
        assert wav.dtype == np.float32 and wav.shape == reference.shape, key
        assert np.max(np.abs(wav - reference)) <= 2 * PCM16, key
    assert compute_num_samples(data_dir) == {k: len(v) for k, v in signals.items()}


def test_resampling_with_soxr(tmp_path):
    t = np.arange(8000) / 8000
    write_wav(tmp_path / "a.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 8000)
    with pytest.raises(AudioError, match="sample rate 8000 Hz, expected 16000 Hz"):
        read_audio(str(tmp_path / "a.wav"), 16000, key="a")
    wav, rate = read_audio(str(tmp_path / "a.wav"), 16000, resample_to_rate=True, key="a")
    assert rate == 16000 and len(wav) == resampled_length(8000, 8000, 16000) == 16000
    spectrum = np.abs(np.fft.rfft(wav))
    assert abs(np.argmax(spectrum) * rate / len(wav) - 440) < 2
    write_scp(tmp_path / "d" / "wav.scp", {"a": str(tmp_path / "a.wav")})
    assert compute_num_samples(tmp_path / "d", sample_rate=16000) == {"a": 16000}
    assert compute_num_samples(tmp_path / "d", sample_rate=22050) == {"a": len(read_audio(str(tmp_path / "a.wav"), 22050, True)[0])}
    assert len(DataDir(tmp_path / "d", sample_rate=16000, resample=True).audio("a")) == 16000


def test_segments_cut_every_audio_table(tmp_path):
    recording = tone(3, 16000)
    reference = tone(4, 16000)
    write_wav(tmp_path / "mix.wav", recording, SR)
    write_wav(tmp_path / "ref.wav", reference, SR)
    data_dir = write_data_dir(
        tmp_path / "data",
        {
            "wav.scp": {"rec": str(tmp_path / "mix.wav")},
            "spk1.scp": {"rec": str(tmp_path / "ref.wav")},
            "segments": {"rec-a": ("rec", 0.0, 0.25), "rec-b": ("rec", 0.5, 1.0)},
            "utt2spk": {"rec-a": "rec", "rec-b": "rec"},
            "utt2num_samples": {"rec-a": 4000, "rec-b": 8000},
        },
    )
    assert validate_data_dir(data_dir, SR) == []
    data = DataDir(data_dir, sample_rate=SR)
    assert data.keys == ["rec-a", "rec-b"]
    noisy, clean = data.read_aligned("rec-b")
    decoded_mix, decoded_ref = sf.read(tmp_path / "mix.wav", dtype="float32")[0], sf.read(tmp_path / "ref.wav", dtype="float32")[0]
    np.testing.assert_array_equal(noisy, decoded_mix[8000:16000])
    np.testing.assert_array_equal(clean, decoded_ref[8000:16000])
    assert compute_num_samples(data_dir) == {"rec-a": 4000, "rec-b": 8000}


def test_read_aligned_rejects_misaligned_pair(tmp_path):
    write_wav(tmp_path / "n.wav", tone(1, 8000), SR)
    write_wav(tmp_path / "c.wav", tone(1, 7999), SR)
    data_dir = write_data_dir(tmp_path / "d", {"wav.scp": {"u": str(tmp_path / "n.wav")}, "spk1.scp": {"u": str(tmp_path / "c.wav")}})
    data = DataDir(data_dir)
    assert len(data.audio("u", "spk1.scp")) == 7999
    with pytest.raises(DataDirError, match=r"spk1.scp: key 'u': 7999 samples at 16000 Hz but wav.scp has 8000"):
        data.read_aligned("u")


def test_table_checks_can_be_relaxed_for_unsorted_files(tmp_path):
    write_wav(tmp_path / "a.wav", tone(1, 800), SR)
    data_dir = tmp_path / "d"
    write_scp(data_dir / "wav.scp", {"b": str(tmp_path / "a.wav"), "a": str(tmp_path / "a.wav")}, sort=False)
    with pytest.raises(ScpError, match=r"wav.scp:2: key 'a': not sorted"):
        DataDir(data_dir)
    assert DataDir(data_dir, check_tables=False).keys == ["b", "a"]


def test_writers_are_atomic(tmp_path):
    path = tmp_path / "wav.scp"
    write_scp(path, {"a": "1", "b": "2"})
    before = path.read_bytes()
    with pytest.raises(ScpError, match="invalid key"):
        write_scp(path, {"c": "3", "bad key": "4"})
    with pytest.raises(ScpError, match="key 'c': invalid value"):
        write_scp(path, {"c": "two\nlines"})
    assert path.read_bytes() == before
    with pytest.raises(AudioError, match="NaN"):
        write_wav(tmp_path / "x.wav", np.array([0.0, np.nan]), SR)
    assert sorted(os.listdir(tmp_path)) == ["wav.scp"]  # no partial or temporary files


def test_data_dir_errors_name_the_directory(tmp_path):
    with pytest.raises(DataDirError, match="data directory not found"):
        DataDir(tmp_path / "nope")
    with pytest.raises(DataDirError, match=r"wav.scp: file not found"):
        DataDir(tmp_path)
