"""Every bad wav.scp entry or line through ``mal-enhance --wav-scp`` and ``mal-score`` (as the
estimate and as the reference): exit 1 with one ``<prog>: error:`` line naming the scp file and
the utterance key, and no wav.scp or metric file written. The same faults through the validator
and the training loader are covered by test/io/test_io_validate.py and
test/train/test_train_dataset.py (test/io/bad_inputs.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from mal.bin.enhance import main as enhance_main
from mal.bin.score import main as score_main
from mal.io import read_scp
from rel_helpers import SR, final_files, noisy_clean_set, read_wav, speech_like, tiny_checkpoint

KEYS = ["spkA-utt1", "spkA-utt2", "spkB-utt3", "spkB-utt4"]
TARGET = KEYS[1]  # line 2
NUM = 4000


# --- faults, each applied to one scp file ---------------------------------------------------------


def _lines(scp: Path) -> List[str]:
    return scp.read_text().splitlines()


def _set_entry(scp: Path, value: str) -> None:
    scp.write_text("".join(f"{TARGET} {value}\n" if line.split()[0] == TARGET else line + "\n" for line in _lines(scp)))


def _audio(write: Callable[[Path], None]) -> Callable[[Path, Path], None]:
    def apply(scp: Path, tmp: Path) -> None:
        path = tmp / "faulty" / f"{scp.stem}-{TARGET}.wav"
        path.parent.mkdir(exist_ok=True)
        write(path)
        _set_entry(scp, str(path))

    return apply


def _with_sample(value: float) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        wav = speech_like(NUM, 7)
        wav[1234] = value
        sf.write(str(path), wav, SR, subtype="FLOAT")

    return write


def _truncated(path: Path) -> None:
    sf.write(str(path), speech_like(NUM, 7), SR, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[: 44 + NUM])


def _corrupt_header(path: Path) -> None:
    sf.write(str(path), speech_like(NUM, 7), SR, subtype="PCM_16")
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\xff" + b"\x00" * 24 + path.read_bytes()[44:])


def _ark_past_end(scp: Path, tmp: Path) -> None:
    ark = tmp / f"{scp.stem}.ark"
    with kaldiio.WriteHelper(f"ark:{ark}") as writer:
        writer(TARGET, (SR, (speech_like(NUM, 1) * 32767).astype(np.int16)))
    _set_entry(scp, f"{ark}:{os.path.getsize(ark) + 10}")


def _duplicate(scp: Path, tmp: Path) -> None:
    lines = _lines(scp)
    scp.write_text("\n".join(lines[:2] + [lines[1]] + lines[2:]) + "\n")


def _non_utf8(scp: Path, tmp: Path) -> None:
    raw = scp.read_bytes().split(b"\n")
    raw[1] = raw[1].replace(b".wav", b"\xff\xfe.wav")
    scp.write_bytes(b"\n".join(raw))


def _malformed(scp: Path, tmp: Path) -> None:
    lines = _lines(scp)
    lines[1] = TARGET
    scp.write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Fault:
    name: str
    apply: Callable[[Path, Path], None]
    also: str  # what the message says besides file and key
    line: int = 2
    key: Optional[str] = TARGET


FAULTS = [
    Fault("missing_audio_file", lambda scp, tmp: _set_entry(scp, str(tmp / "gone.wav")), "not found"),
    Fault("empty_audio", _audio(lambda p: sf.write(str(p), np.zeros(0, np.float32), SR)), "empty"),
    Fault("truncated_audio", _audio(_truncated), "truncated"),
    Fault("corrupt_header", _audio(_corrupt_header), "cannot"),
    Fault("garbage_bytes", _audio(lambda p: p.write_bytes(os.urandom(3000))), "cannot"),
    Fault("multi_channel", _audio(lambda p: sf.write(str(p), np.stack([speech_like(NUM, 1)] * 2, 1), SR)), "2 channels"),
    Fault("nan_samples", _audio(_with_sample(float("nan"))), "NaN"),
    Fault("inf_samples", _audio(_with_sample(float("-inf"))), "inf"),
    Fault("failing_pipe", lambda scp, tmp: _set_entry(scp, "cat /nonexistent/dir/x.wav |"), "exit code 1"),
    Fault("pipe_without_audio", lambda scp, tmp: _set_entry(scp, "true |"), "no audio"),
    Fault("ark_offset_past_end", _ark_past_end, "past the end"),
    Fault("duplicate_key", _duplicate, "duplicate", line=3),
    Fault("non_utf8_line", _non_utf8, "UTF-8"),
    Fault("malformed_line", _malformed, "expected '<key> <value>'"),
    Fault("scp_file_missing", lambda scp, tmp: scp.unlink(), "not found", line=0, key=None),
]
IDS = [f.name for f in FAULTS]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "model.pth")


@pytest.fixture
def data(tmp_path):
    return noisy_clean_set(tmp_path, KEYS, num_samples=NUM)


def one_error_line(err: str, prog: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith(f"{prog}: error:")]
    assert len(lines) == 1, err
    return lines[0]


def assert_names(message: str, fault: Fault, scp: Path, with_line: bool) -> None:
    where = f"{scp}:{fault.line}:" if with_line and fault.line else str(scp)
    assert where in message, message
    if fault.key:
        assert f"'{fault.key}'" in message, message
    assert fault.also in message, message


@pytest.mark.parametrize("fault", FAULTS, ids=IDS)
def test_enhance_stops_naming_file_line_and_key(fault, data, model, tmp_path, capsys):
    scp = data["noisy"]
    fault.apply(scp, tmp_path)
    out = tmp_path / "out"
    assert enhance_main(["--model", str(model), "--wav-scp", str(scp), "--out-dir", str(out)]) == 1
    message = one_error_line(capsys.readouterr().err, "mal-enhance")
    assert_names(message, fault, scp, with_line=True)
    assert not (out / "wav.scp").exists()
    done = [p.name for p in final_files(out / "wav")] if (out / "wav").exists() else []
    assert done in ([], [f"{KEYS[0]}.wav"])  # only keys before the bad line; each one complete
    for name in done:
        assert len(read_wav(out / "wav" / name)) == NUM


@pytest.mark.parametrize("table", ["est", "ref"])
@pytest.mark.parametrize("fault", FAULTS, ids=IDS)
def test_score_stops_naming_file_and_key(fault, table, data, tmp_path, capsys):
    scp = data["noisy"] if table == "est" else data["clean"]
    fault.apply(scp, tmp_path)
    out = tmp_path / "scores"
    rc = score_main(["--ref-scp", str(data["clean"]), "--est-scp", str(data["noisy"]), "--out-dir", str(out),
                     "--metrics", "sisdr,stoi"])
    assert rc == 1
    message = one_error_line(capsys.readouterr().err, "mal-score")
    assert_names(message, fault, scp, with_line=fault.apply in (_duplicate, _non_utf8, _malformed))
    assert not out.exists() or final_files(out) == [], "no metric file may be written from bad input"


def test_score_rate_length_and_key_mismatches_are_errors(data, tmp_path, capsys):
    noisy, clean = data["noisy"], data["clean"]
    args = ["--ref-scp", str(clean), "--out-dir", str(tmp_path / "s"), "--metrics", "sisdr"]

    def estimate_with(write_target=None, rename=False) -> Path:
        est = tmp_path / "est.scp"
        est.write_text(noisy.read_text().replace(f"{TARGET} ", f"{TARGET}x ", 1) if rename else noisy.read_text())
        if write_target:
            _audio(write_target)(est, tmp_path)
        return est

    # a key of the estimate missing from the reference
    assert score_main(args + ["--est-scp", str(estimate_with(rename=True))]) == 1
    assert f"{clean}: key '{TARGET}x' missing" in one_error_line(capsys.readouterr().err, "mal-score")
    # another sample rate than the reference's
    est = estimate_with(lambda p: sf.write(str(p), speech_like(NUM // 2, 1), 8000))
    assert score_main(args + ["--est-scp", str(est)]) == 1
    message = one_error_line(capsys.readouterr().err, "mal-score")
    assert str(est) in message and f"'{TARGET}'" in message and "estimate 8000 Hz" in message
    # a length that differs by more than the tolerance
    est = estimate_with(lambda p: sf.write(str(p), speech_like(NUM - 1000, 1), SR))
    assert score_main(args + ["--est-scp", str(est)]) == 1
    message = one_error_line(capsys.readouterr().err, "mal-score")
    assert str(est) in message and f"'{TARGET}'" in message and f"estimate {NUM - 1000}" in message
    assert not (tmp_path / "s").exists()


def test_unsorted_scp_is_accepted_and_outputs_are_sorted(data, model, tmp_path):
    """Order carries no meaning for enhancement or scoring: both accept it; their outputs are sorted."""
    shuffled = tmp_path / "shuffled.scp"
    lines = _lines(data["noisy"])
    shuffled.write_text("\n".join(lines[::-1]) + "\n")
    out = tmp_path / "out"
    assert enhance_main(["--model", str(model), "--wav-scp", str(shuffled), "--out-dir", str(out)]) == 0
    assert (out / "wav.scp").read_text().split("\n")[:-1] == [f"{k} {(out / 'wav' / k).resolve()}.wav" for k in KEYS]
    assert score_main(["--ref-scp", str(data["clean"]), "--est-scp", str(shuffled), "--out-dir", str(tmp_path / "s"),
                       "--metrics", "sisdr"]) == 0
    assert [line.split()[0] for line in (tmp_path / "s" / "sisdr").read_text().splitlines()] == KEYS


def test_enhance_resamples_other_rates_instead_of_failing(data, model, tmp_path):
    """A wav.scp entry at 8 kHz is enhanced at the model's rate and written back at 8 kHz (documented)."""
    scp = data["noisy"]
    _audio(lambda p: sf.write(str(p), speech_like(NUM // 2, 1), 8000))(scp, tmp_path)
    out = tmp_path / "out"
    assert enhance_main(["--model", str(model), "--wav-scp", str(scp), "--out-dir", str(out)]) == 0
    wav, rate = sf.read(str(read_scp(out / "wav.scp")[TARGET]))
    assert rate == 8000 and len(wav) == NUM // 2 and np.all(np.isfinite(wav))


KEY_FILE_FAULTS = [
    ("missing", None, "key file not found|file not found"),
    ("non_utf8", f"{KEYS[0]} x\n{TARGET} \xff\n".encode("latin-1"), ":2: .*not valid UTF-8"),
    ("empty_line", f"{KEYS[0]} x\n\n{TARGET} x\n".encode(), ":2: empty line"),
    ("duplicate", f"{KEYS[0]} x\n{KEYS[0]} x\n".encode(), f":2: duplicate key '{KEYS[0]}'"),
    ("unknown_key", f"{KEYS[0]} x\nnope x\n".encode(), "key 'nope'"),
]


@pytest.mark.parametrize("name, content, message", KEY_FILE_FAULTS, ids=[f[0] for f in KEY_FILE_FAULTS])
def test_bad_key_files_are_named(name, content, message, data, model, tmp_path, capsys):
    """A job's --key-file (a split wav.scp) through both tools: file, line and key named, nothing written."""
    import re

    key_file = tmp_path / "keys.scp"
    if content is not None:
        key_file.write_bytes(content)
    out = tmp_path / "out"
    assert enhance_main(["--model", str(model), "--wav-scp", str(data["noisy"]), "--out-dir", str(out),
                         "--key-file", str(key_file)]) == 1
    err = one_error_line(capsys.readouterr().err, "mal-enhance")
    assert re.search(message, err) and (str(key_file) in err or name == "unknown_key"), err
    assert not out.exists()
    scores = tmp_path / "scores"
    assert score_main(["--ref-scp", str(data["clean"]), "--est-scp", str(data["noisy"]), "--out-dir", str(scores),
                       "--key-file", str(key_file), "--metrics", "sisdr"]) == 1
    err = one_error_line(capsys.readouterr().err, "mal-score")
    assert re.search(message, err) or (name == "empty_line" and f"{key_file}:2: empty line" in err), err
    assert not scores.exists()
