"""Property tests: scp parsing never fails with anything but ScpError; audio survives write/read."""
from __future__ import annotations

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mal.io import AudioError, ScpError, audio_info, read_audio, read_scp, scan_scp, write_scp, write_wav
from mal.io.scp import parse_scp_line

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

line_chars = st.characters(blacklist_categories=("Cs",))
keys = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=12).filter(
    lambda k: not any(c.isspace() for c in k)
)
values = st.text(line_chars, min_size=1, max_size=30).map(str.strip).filter(lambda v: v and "\n" not in v and "\r" not in v)


def _write_bytes(data: bytes) -> str:
    fd, path = tempfile.mkstemp(suffix=".scp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_scp_error(data):
    path = _write_bytes(data)
    try:
        try:
            table = read_scp(path, require_sorted=True)
        except ScpError as e:
            assert path in str(e)
        else:
            assert all(k and v for k, v in table.items())
        scan = scan_scp(path)  # never raises: every problem is a line
        assert all(p.startswith(path) and "\n" not in p for p in scan.problems)
    finally:
        os.unlink(path)


@FUZZ
@given(st.lists(st.text(line_chars, max_size=40), max_size=8))
def test_random_text_lines_only_raise_scp_error(lines):
    for lineno, line in enumerate(lines, 1):
        raw = line.encode("utf-8", errors="surrogatepass")
        try:
            key, value = parse_scp_line(raw, "f.scp", lineno)
        except ScpError as e:
            assert str(e).startswith(f"f.scp:{lineno}:")
        else:
            assert key and value and not any(c.isspace() for c in key)


@FUZZ
@given(st.dictionaries(keys, values, max_size=10))
def test_tables_round_trip(table):
    path = _write_bytes(b"")
    try:
        write_scp(path, table)
        assert read_scp(path, require_sorted=True) == table
        assert list(read_scp(path)) == sorted(table)
    finally:
        os.unlink(path)


@FUZZ
@given(
    st.integers(1, 400).flatmap(
        lambda n: st.lists(st.floats(-1.5, 1.5, allow_nan=False, width=32), min_size=n, max_size=n)
    ),
    st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    st.sampled_from(["PCM_16", "PCM_24", "FLOAT"]),
)
def test_audio_round_trips(samples, rate, subtype):
    wav = np.asarray(samples, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.wav")
        write_wav(path, wav, rate, subtype=subtype)
        back, back_rate = read_audio(path, sample_rate=rate, key="k")
        assert back_rate == rate and back.shape == wav.shape and back.dtype == np.float32
        expected = wav if subtype == "FLOAT" else np.clip(wav, -1.0, 1.0)
        tolerance = {"PCM_16": 1 / 32768, "PCM_24": 1 / 2**23, "FLOAT": 0.0}[subtype]
        assert np.max(np.abs(back - expected)) <= tolerance
        assert audio_info(path).num_samples == len(wav)


@FUZZ
@given(st.lists(st.sampled_from([np.nan, np.inf, -np.inf, 0.5]), min_size=1, max_size=20))
def test_non_finite_audio_is_never_written(samples):
    wav = np.asarray(samples, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.wav")
        if np.all(np.isfinite(wav)):
            write_wav(path, wav, 16000)
            assert os.path.exists(path)
        else:
            try:
                write_wav(path, wav, 16000)
            except AudioError as e:
                assert "NaN or inf" in str(e)
            else:
                raise AssertionError("wrote non-finite audio")
            assert os.listdir(tmp) == []


@FUZZ
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_as_audio_only_raise_audio_error(data, riff_header):
    if riff_header:  # get past the magic number so the parser goes deeper
        data = b"RIFF" + len(data).to_bytes(4, "little") + b"WAVEfmt " + data
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.wav")
        with open(path, "wb") as f:
            f.write(data)
        for read in (lambda: read_audio(path, key="k"), lambda: audio_info(path, key="k")):
            try:
                read()
            except AudioError as e:
                assert "utterance 'k'" in str(e)
