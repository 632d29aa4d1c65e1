"""mal-enhance never writes over its input, writes the format its output's extension names, and
refuses an empty wav.scp (issue #18: each used to exit 0)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import soundfile as sf

from mal.bin.enhance import main as enhance_main
from mal.io import read_scp
from rel_helpers import noisy_clean_set, tiny_checkpoint


@pytest.fixture()
def setup(tmp_path):
    scps = noisy_clean_set(tmp_path / "audio", ["u1", "u2"], num_samples=4000)
    model = tiny_checkpoint(tmp_path / "model.pth")
    return tmp_path, model, scps["noisy"]


def _one_line_error(capsys, *words: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mal-enhance: error:"), err
    for word in words:
        assert word in err[0]
    return err[0]


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link", "link to the directory"])
def test_output_that_is_the_input_is_refused(setup, capsys, how):
    tmp, model, noisy = setup
    wav = Path(read_scp(noisy)["u1"])
    before = wav.read_bytes()
    out = {"same path": wav, "symlink": tmp / "link.wav", "hard link": tmp / "hard.wav",
           "link to the directory": tmp / "dirlink" / wav.name}[how]
    if how == "symlink":
        out.symlink_to(wav)
    elif how == "hard link":
        os.link(wav, out)
    elif how == "link to the directory":
        out.parent.symlink_to(wav.parent)
    assert enhance_main(["--model", str(model), str(wav), str(out)]) == 1
    _one_line_error(capsys, "is the input file", str(wav))
    assert wav.read_bytes() == before


def test_scp_output_that_is_the_input_is_refused(setup, capsys):
    tmp, model, noisy = setup
    wav = Path(read_scp(noisy)["u1"])
    before = wav.read_bytes()
    (tmp / "out").mkdir()
    (tmp / "out" / "wav").symlink_to(wav.parent)  # OUT/wav/<key>.wav is the input
    assert enhance_main(["--model", str(model), "--wav-scp", str(noisy), "--out-dir", str(tmp / "out")]) == 1
    _one_line_error(capsys, f"{noisy}:1", "'u1'", "is the input file")
    assert wav.read_bytes() == before
    assert not (tmp / "out" / "wav.scp").exists()


@pytest.mark.parametrize("ext,fmt", [("wav", "WAV"), ("flac", "FLAC"), ("ogg", "OGG"), ("FLAC", "FLAC")])
def test_output_format_follows_the_extension(setup, ext, fmt):
    tmp, model, noisy = setup
    out = tmp / f"out.{ext}"
    assert enhance_main(["--model", str(model), read_scp(noisy)["u1"], str(out)]) == 0
    info = sf.info(str(out))
    assert info.format == fmt and info.samplerate == 16000 and info.frames == 4000


def test_unknown_output_extension_is_refused(setup, capsys):
    tmp, model, noisy = setup
    assert enhance_main(["--model", str(model), read_scp(noisy)["u1"], str(tmp / "out.mp3")]) == 1
    _one_line_error(capsys, "out.mp3", "'.mp3'", ".flac")
    assert list(tmp.glob("*out.mp3*")) == []


def test_empty_wav_scp_is_refused(setup, capsys):
    tmp, model, _ = setup
    empty = tmp / "empty.scp"
    empty.write_text("")
    assert enhance_main(["--model", str(model), "--wav-scp", str(empty), "--out-dir", str(tmp / "out")]) == 1
    _one_line_error(capsys, str(empty), "no utterances")
    assert not (tmp / "out" / "wav.scp").exists()
