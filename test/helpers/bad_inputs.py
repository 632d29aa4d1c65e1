"""Small data dirs with exactly one fault each, shared by the validator's and the loaders' tests.

``make_good_data_dir(tmp_path)`` builds a valid dir (4 utterances of 0.5 s at 16 kHz: wav.scp,
spk1.scp, noise1.scp, utt2spk, spk2utt, text, utt2num_samples); ``make_bad_data_dir(case,
tmp_path)`` builds it and then breaks it as ``BAD_CASES[case]`` says. Each :class:`BadCase`
tells which file (and line) the validator must name, which key any reader must name, and how
to read that key through ``mal.io.DataDir`` (see :func:`read_case`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import kaldiio
import numpy as np
import soundfile as sf

from mal.io import DataDir, write_data_dir, write_wav

SAMPLE_RATE = 16000
NUM_SAMPLES = 8000
KEYS = ["spkA-utt1", "spkA-utt2", "spkB-utt3", "spkB-utt4"]
#: The utterance most faults hit: line 2 of every table.
TARGET = "spkA-utt2"
#: An extra key that sorts right after TARGET (line 3 when inserted).
EXTRA = "spkA-utt2x"


def tone(seed: int, num_samples: int = NUM_SAMPLES, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A harmonic "voiced" signal with a little noise, peak below 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / sample_rate
    f0 = 100.0 + 20.0 * seed
    wav = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) / h for h in range(1, 6))
    wav = 0.3 * wav / np.max(np.abs(wav)) + 0.01 * rng.standard_normal(num_samples)
    return wav.astype(np.float32)


def make_good_data_dir(tmp_path: Union[str, Path]) -> Path:
    """A valid data dir in ``tmp_path/data`` with its wavs in ``tmp_path/audio``."""
    tmp_path = Path(tmp_path)
    audio = tmp_path / "audio"
    tables: Dict[str, Dict[str, object]] = {n: {} for n in ("wav.scp", "spk1.scp", "noise1.scp", "utt2spk", "text", "utt2num_samples")}
    for i, key in enumerate(KEYS):
        clean, noise = tone(i), 0.05 * np.random.default_rng(100 + i).standard_normal(NUM_SAMPLES).astype(np.float32)
        for name, wav in (("wav", clean + noise), ("spk1", clean), ("noise1", noise)):
            write_wav(audio / name / f"{key}.wav", wav, SAMPLE_RATE)
            tables[f"{name}.scp"][key] = str(audio / name / f"{key}.wav")
        tables["utt2spk"][key] = key.split("-")[0]
        tables["text"][key] = f"HELLO WORLD NUMBER {i}"
        tables["utt2num_samples"][key] = NUM_SAMPLES
    return write_data_dir(tmp_path / "data", tables)


# --- helpers that introduce one fault ---------------------------------------------------------


def _lines(d: Path, name: str) -> List[bytes]:
    return (d / name).read_bytes().splitlines()


def _write_lines(d: Path, name: str, lines: List[bytes]) -> None:
    (d / name).write_bytes(b"".join(line + b"\n" for line in lines))


def _set_value(d: Path, name: str, key: str, value: Union[str, bytes]) -> None:
    value = value.encode() if isinstance(value, str) else value
    _write_lines(d, name, [line.split(b" ")[0] + b" " + value if line.split(b" ")[0] == key.encode() else line for line in _lines(d, name)])


def _drop_key(d: Path, name: str, key: str = TARGET) -> None:
    _write_lines(d, name, [line for line in _lines(d, name) if line.split(b" ")[0] != key.encode()])


def _add_key(d: Path, name: str, value: str, key: str = EXTRA) -> None:
    lines = _lines(d, name)
    lines.insert(2, f"{key} {value}".encode())
    _write_lines(d, name, lines)


def _entry(d: Path, name: str, key: str = TARGET) -> Path:
    for line in _lines(d, name):
        k, v = line.decode().split(maxsplit=1)
        if k == key:
            return Path(v)
    raise KeyError(key)


def _rewrite_audio(name: str, wav: np.ndarray, rate: int = SAMPLE_RATE, subtype: str = "PCM_16") -> Callable[[Path], None]:
    def apply(d: Path) -> None:
        sf.write(str(_entry(d, name)), wav, rate, subtype=subtype)

    return apply


def _truncate(d: Path) -> None:
    path = _entry(d, "wav.scp")
    path.write_bytes(path.read_bytes()[: 44 + NUM_SAMPLES])  # header + half of the samples


def _corrupt_header(d: Path) -> None:
    path = _entry(d, "wav.scp")
    data = path.read_bytes()
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\xff" + b"\x00" * 24 + data[44:])


def _nan(value: float) -> Callable[[Path], None]:
    wav = tone(7)
    wav[1234] = value
    return _rewrite_audio("spk1.scp" if np.isnan(value) else "wav.scp", wav, subtype="FLOAT")


def _ark_bad_offset(d: Path) -> None:
    ark = d.parent / "audio" / "wav.ark"
    with kaldiio.WriteHelper(f"ark,scp:{ark},{d.parent / 'audio' / 'wav_ark.scp'}") as writer:
        writer(TARGET, (SAMPLE_RATE, (tone(1) * 32767).astype(np.int16)))
    _set_value(d, "wav.scp", TARGET, f"{ark}:{os.path.getsize(ark) + 10}")


def _spk2utt_moved(d: Path) -> None:
    _write_lines(d, "spk2utt", [b"spkA spkA-utt1", b"spkB spkA-utt2 spkB-utt3 spkB-utt4"])


def _drop_and_resync_spk2utt(d: Path) -> None:
    _drop_key(d, "utt2spk")
    _write_lines(d, "spk2utt", [b"spkA spkA-utt1", b"spkB spkB-utt3 spkB-utt4"])


def _add_and_resync_spk2utt(d: Path) -> None:
    _add_key(d, "utt2spk", "spkA")
    _write_lines(d, "spk2utt", [b"spkA spkA-utt1 spkA-utt2 spkA-utt2x", b"spkB spkB-utt3 spkB-utt4"])


def _segments(end_of_target: float, recording_of_target: str = TARGET) -> Callable[[Path], None]:
    def apply(d: Path) -> None:
        rows = {key: f"{key} 0.0 {NUM_SAMPLES / SAMPLE_RATE}" for key in KEYS}
        rows[TARGET] = f"{recording_of_target} 0.0 {end_of_target}"
        _write_lines(d, "segments", [f"{k} {v}".encode() for k, v in sorted(rows.items())])

    return apply


# --- the case table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BadCase:
    """One fault. The validator must print a line containing ``file`` (``file:line`` when
    ``line`` is set), ``key`` and ``also``; reading ``key`` from ``scp`` through DataDir must
    raise AudioError/DataDirError/ScpError naming ``key`` (``file`` when ``key`` is None)."""

    name: str
    apply: Callable[[Path], None]
    file: str
    key: Optional[str] = TARGET
    line: Optional[int] = 2
    scp: str = "wav.scp"
    also: str = ""
    sample_rate: Optional[int] = SAMPLE_RATE
    aligned: bool = False
    needs_decode: bool = False  # only found when audio is decoded (not with --no-audio)


def _cases() -> List[BadCase]:
    cases = [
        BadCase("missing_wav_scp", lambda d: (d / "wav.scp").unlink(), "wav.scp", key=None, line=None, also="not found"),
        BadCase("missing_audio_file", lambda d: _set_value(d, "wav.scp", TARGET, str(d.parent / "audio" / "gone.wav")), "wav.scp", also="not found"),
        BadCase("empty_audio", _rewrite_audio("spk1.scp", np.zeros(0, np.float32)), "spk1.scp", scp="spk1.scp", also="empty"),
        BadCase("truncated_audio", _truncate, "wav.scp", also="truncated"),
        BadCase("corrupt_header", _corrupt_header, "wav.scp", also="cannot"),
        BadCase("wrong_sample_rate", _rewrite_audio("wav.scp", tone(1, NUM_SAMPLES // 2, 8000), 8000), "wav.scp", also="8000 Hz"),
        BadCase("multi_channel", _rewrite_audio("noise1.scp", np.stack([tone(1), tone(2)], axis=1)), "noise1.scp", scp="noise1.scp", also="2 channels"),
        BadCase("nan_samples", _nan(float("nan")), "spk1.scp", scp="spk1.scp", also="NaN", needs_decode=True),
        BadCase("inf_samples", _nan(float("inf")), "wav.scp", also="inf", needs_decode=True),
        BadCase("duplicate_key", lambda d: _add_key(d, "wav.scp", str(_entry(d, "wav.scp")), key=TARGET), "wav.scp", line=3, also="duplicate"),
        BadCase("unsorted_keys", lambda d: _write_lines(d, "spk1.scp", [_lines(d, "spk1.scp")[i] for i in (0, 2, 1, 3)]), "spk1.scp", line=3, scp="spk1.scp", also="sorted"),
        BadCase("non_utf8_line", lambda d: _set_value(d, "text", TARGET, b"HELLO \xff\xfe WORLD"), "text", also="UTF-8"),
        BadCase("malformed_line", lambda d: _write_lines(d, "wav.scp", [line.split(b" ")[0] if i == 1 else line for i, line in enumerate(_lines(d, "wav.scp"))]), "wav.scp", also="expected"),
        BadCase("failing_pipe", lambda d: _set_value(d, "wav.scp", TARGET, "cat /nonexistent/dir/x.wav |"), "wav.scp", also="pipe", needs_decode=True),
        BadCase("ark_bad_offset", _ark_bad_offset, "wav.scp", also="past the end"),
        BadCase("spk2utt_inconsistent", _spk2utt_moved, "spk2utt", also="spkB"),
        BadCase("spk2utt_missing", lambda d: (d / "spk2utt").unlink(), "utt2spk", key=None, line=None, also="spk2utt"),
        BadCase("rate_mismatch_wav_spk1", _rewrite_audio("spk1.scp", tone(1, NUM_SAMPLES // 2, 8000), 8000), "spk1.scp", scp="spk1.scp", also="8000 Hz", sample_rate=None, aligned=True),
        BadCase("length_mismatch_wav_spk1", _rewrite_audio("spk1.scp", tone(1, NUM_SAMPLES - 100)), "spk1.scp", scp="spk1.scp", also=str(NUM_SAMPLES - 100), aligned=True),
        BadCase("utt2num_samples_wrong", lambda d: _set_value(d, "utt2num_samples", TARGET, "9999"), "utt2num_samples", also="9999"),
        BadCase("utt2num_samples_not_integer", lambda d: _set_value(d, "utt2num_samples", TARGET, "0.5s"), "utt2num_samples", also="integer"),
        BadCase("segment_past_end", _segments(0.9), "segments", also="0.9"),
        BadCase("segment_unknown_recording", _segments(0.5, "no-such-recording"), "segments", also="no-such-recording"),
    ]
    # Keys of wav.scp missing from each keyed table, and keys a table has that wav.scp lacks.
    for name in ("spk1.scp", "noise1.scp"):
        stem = name.split(".")[0]
        cases.append(BadCase(f"key_missing_from_{stem}", lambda d, n=name: _drop_key(d, n), "wav.scp", scp=name, also=name))
        cases.append(BadCase(f"extra_key_in_{stem}", lambda d, n=name: _add_key(d, n, str(_entry(d, n))), name, key=EXTRA, line=3, scp=name, also="wav.scp"))
    for name in ("text", "utt2num_samples"):
        cases.append(BadCase(f"key_missing_from_{name}", lambda d, n=name: _drop_key(d, n), "wav.scp", also=name))
        cases.append(BadCase(f"extra_key_in_{name}", lambda d, n=name: _add_key(d, n, "1000"), name, key=EXTRA, line=3, also="wav.scp"))
    cases.append(BadCase("key_missing_from_utt2spk", _drop_and_resync_spk2utt, "wav.scp", also="utt2spk"))
    cases.append(BadCase("extra_key_in_utt2spk", _add_and_resync_spk2utt, "utt2spk", key=EXTRA, line=3, also="wav.scp"))
    return cases


#: Every fault by name.
BAD_CASES: Dict[str, BadCase] = {case.name: case for case in _cases()}
CASE_NAMES: List[str] = list(BAD_CASES)


def make_bad_data_dir(case: Union[str, BadCase], tmp_path: Union[str, Path]) -> Path:
    """A copy of the good data dir under ``tmp_path`` with the one fault of ``case``."""
    case = BAD_CASES[case] if isinstance(case, str) else case
    data_dir = make_good_data_dir(tmp_path)
    case.apply(data_dir)
    return data_dir


def read_case(case: Union[str, BadCase], data_dir: Union[str, Path]) -> None:
    """Read the case's key through DataDir the way a loader would (expected to raise)."""
    case = BAD_CASES[case] if isinstance(case, str) else case
    data = DataDir(data_dir, sample_rate=case.sample_rate)
    key = case.key or TARGET
    if case.aligned:
        data.read_aligned(key, ("wav.scp", case.scp))
    else:
        data.audio(key, case.scp)
