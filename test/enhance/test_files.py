"""mal-enhance IN OUT: files, folders mirrored, globs, --channels for stereo, format by extension,
and the shipped-model registry behind an omitted --model."""
from __future__ import annotations

import logging
import os
import re
import signal

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers.audio import add_noise, harmonic
from helpers.disks import full_disk, read_only_dir
from mal.bin.enhance import main
from mal.enhance.chunked import EnhanceError
from mal.enhance.files import BatchError, enhance_paths, plan_outputs
from mal.io.atomic import atomic_path
from mal.models import build_model
from mal.models import shipped
from mal.models.checkpoint import model_record, save_checkpoint
from mal.models.pack import pack_model


class Scale:
    """A stand-in enhancer: multiplies by ``gain`` (so each channel's output is checkable)."""

    def __init__(self, gain: float = 0.5):
        self.gain = gain

    def enhance(self, wav, rate):
        assert wav.ndim == 1
        return (wav * self.gain).astype(np.float32)


def write(path, wav, rate=16000, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wav, rate, **kw)
    return path


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "in"
    write(src / "a.wav", add_noise(harmonic(0.3), 5.0, seed=1))
    write(src / "sub" / "b.flac", add_noise(harmonic(0.4), 5.0, seed=2), 8000)
    write(src / "sub" / "deep" / "c.aiff", add_noise(harmonic(0.2), 5.0, seed=3), format="AIFF")
    (src / "notes.txt").write_text("not audio")
    return src


def test_folder_is_mirrored_keeping_rate_and_format(tree, tmp_path):
    out = tmp_path / "out"
    written = enhance_paths(Scale(), tree, out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == ["a.wav", "sub/b.flac", "sub/deep/c.wav"]
    info = sf.info(out / "sub" / "b.flac")
    assert info.format == "FLAC" and info.samplerate == 8000
    original, _ = sf.read(tree / "sub" / "b.flac")
    enhanced, _ = sf.read(out / "sub" / "b.flac")
    np.testing.assert_allclose(enhanced, 0.5 * original, atol=2e-4)  # 16-bit rounding
    assert sf.info(out / "sub" / "deep" / "c.wav").format == "WAV"  # AIFF is not written: wav


def test_glob_is_mirrored_from_its_fixed_folder(tree, tmp_path):
    pairs = plan_outputs(f"{tree}/**/*.flac", tmp_path / "o")
    assert pairs == [(tree / "sub" / "b.flac", tmp_path / "o" / "sub" / "b.flac")]
    pairs = plan_outputs(f"{tree}/sub/*", tmp_path / "o")
    assert [o.relative_to(tmp_path / "o").as_posix() for _, o in pairs] == ["b.flac"]


def test_an_output_folder_inside_the_input_folder_is_not_read_back(tree, tmp_path):
    enhance_paths(Scale(), tree, tree / "enhanced")
    again = plan_outputs(tree, tree / "enhanced")  # a second run sees the same inputs
    assert sorted(i.relative_to(tree).as_posix() for i, _ in again) == ["a.wav", "sub/b.flac", "sub/deep/c.aiff"]
    assert plan_outputs(f"{tree}/**/*.wav", tree / "enhanced") == [(tree / "a.wav", tree / "enhanced" / "a.wav")]


def test_one_file_into_a_folder(tree, tmp_path):
    assert plan_outputs(tree / "a.wav", f"{tmp_path}/new/") == [(tree / "a.wav", tmp_path / "new" / "a.wav")]
    (tmp_path / "there").mkdir()
    assert plan_outputs(tree / "sub" / "deep" / "c.aiff", tmp_path / "there") == [(tree / "sub" / "deep" / "c.aiff", tmp_path / "there" / "c.wav")]


def test_empty_matches_missing_inputs_and_collisions_are_errors(tree, tmp_path):
    with pytest.raises(EnhanceError, match=r"no audio files match pattern '.*\*\.mp3'"):
        plan_outputs(f"{tree}/*.mp3", tmp_path / "o")
    with pytest.raises(EnhanceError, match="nope.wav: no such file or folder"):
        plan_outputs(tmp_path / "nope.wav", tmp_path / "o")
    write(tree / "a.aiff", np.zeros(160, np.float32), format="AIFF")
    with pytest.raises(EnhanceError, match=r"in/a.wav and .*in/a.aiff would both be written to .*out/a.wav; rename one"):
        plan_outputs(tree, tmp_path / "out")


def test_stereo_needs_a_choice_and_each_choice_does_what_it_says(tmp_path):
    left, right = harmonic(0.3, seed=1), 0.3 * harmonic(0.3, seed=2)
    stereo = write(tmp_path / "st.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    with pytest.raises(EnhanceError, match=r"st.wav: 2 channels; choose --channels downmix .* or each"):
        enhance_paths(Scale(), stereo, tmp_path / "x.wav")
    enhance_paths(Scale(0.5), stereo, tmp_path / "each.wav", channels="each")
    out, _ = sf.read(tmp_path / "each.wav")
    assert out.shape == (len(left), 2)
    np.testing.assert_allclose(out, 0.5 * np.stack([left, right], axis=1), atol=2e-4)
    enhance_paths(Scale(0.5), stereo, tmp_path / "mono.wav", channels="downmix")
    mono, _ = sf.read(tmp_path / "mono.wav")
    assert mono.ndim == 1
    np.testing.assert_allclose(mono, 0.5 * (left + right) / 2, atol=2e-4)


def test_cli_folder_mode_with_a_model(tree, tmp_path, capsys):
    torch.manual_seed(0)
    model = tmp_path / "model.pth"
    save_checkpoint(model, {"model": model_record(build_model("tiny", channels=4), "tiny", {"channels": 4})})
    assert main(["--model", str(model), str(tree), str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.*")) == ["a.wav", "b.flac", "c.wav"]


def test_channels_with_wav_scp_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit):
        main(["--model", "m.pth", "--wav-scp", "x.scp", "--out-dir", str(tmp_path), "--channels", "each"])


def test_without_a_shipped_model_an_omitted_model_is_a_clear_error(tree, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shipped, "DEFAULT_MODEL", None)
    assert main([str(tree / "a.wav"), str(tmp_path / "o.wav")]) == 1
    err = capsys.readouterr().err
    assert "no model ships with this mal yet" in err and len(err.strip().splitlines()) == 1
    assert main(["--model", "no_such_model", str(tree / "a.wav"), str(tmp_path / "o.wav")]) == 1
    assert "no_such_model: no such file, and not a shipped model" in capsys.readouterr().err


@pytest.fixture
def shipped_archive(tmp_path, monkeypatch):
    """A packed model registered as shipped model 'toy' and made the default."""
    torch.manual_seed(0)
    model = tmp_path / "m" / "model.pth"
    save_checkpoint(model, {"model": model_record(build_model("tiny", channels=4), "tiny", {"channels": 4}),
                            "config": {"model": {"name": "tiny", "conf": {"channels": 4}}}})
    (tmp_path / "m" / "config.yaml").write_text("model: {name: tiny, conf: {channels: 4}}\n")
    package = tmp_path / "pkg"
    archive = pack_model(model, tmp_path / "m" / "config.yaml", package / "pretrained" / "toy.tar.gz")
    monkeypatch.setattr(shipped, "PACKAGE_DIR", package)
    monkeypatch.setattr(shipped, "SHIPPED_MODELS", {"toy": shipped.ShippedModel("pretrained/toy.tar.gz", shipped.sha256_of(archive), "test")})
    monkeypatch.setattr(shipped, "DEFAULT_MODEL", "toy")
    return archive


def test_the_shipped_default_model_runs_when_none_is_given(tree, tmp_path, shipped_archive):
    assert shipped.resolve_model(None) == shipped_archive == shipped.resolve_model("toy")
    assert main([str(tree / "a.wav"), str(tmp_path / "default.wav")]) == 0
    assert main(["--model", str(shipped_archive), str(tree / "a.wav"), str(tmp_path / "explicit.wav")]) == 0
    a, _ = sf.read(tmp_path / "default.wav")
    b, _ = sf.read(tmp_path / "explicit.wav")
    np.testing.assert_array_equal(a, b)


def test_a_shipped_archive_that_fails_its_sha256_is_refused(tree, tmp_path, shipped_archive, capsys):
    with open(shipped_archive, "ab") as f:
        f.write(b"tampered")
    assert main([str(tree / "a.wav"), str(tmp_path / "o.wav")]) == 1
    assert "shipped model 'toy'" in capsys.readouterr().err


# --- issue #28: batches, leftovers, existing outputs, loud input, unwritable disks ---------------


def tiny_model(path):
    torch.manual_seed(0)
    save_checkpoint(path, {"model": model_record(build_model("tiny", channels=4), "tiny", {"channels": 4})})
    return path


def test_a_corrupt_file_in_a_folder_is_listed_and_the_others_are_written(tree, tmp_path, capsys, caplog):
    (tree / "sub" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")  # sorts before deep/c.aiff
    write(tree / "z.wav", add_noise(harmonic(0.2), 5.0, seed=4))
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, "mal.enhance.files"):
        with pytest.raises(BatchError, match=r"1 of 5 files failed \(logged above\): .*sub/broken.wav; the other 4 are in"):
            enhance_paths(Scale(), tree, out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_file()) == ["a.wav", "sub/b.flac", "sub/deep/c.wav", "z.wav"]
    assert any(r.levelname == "ERROR" and "broken.wav" in r.getMessage() for r in caplog.records)
    assert main(["--model", str(tiny_model(tmp_path / "m.pth")), str(tree), str(tmp_path / "cli")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mal-enhance: error: 1 of 5 files failed") and "Traceback" not in "".join(err)
    assert len(list((tmp_path / "cli").rglob("*.*"))) == 4


def test_one_bad_file_alone_is_still_a_plain_error(tree, tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(EnhanceError, match="bad.wav") as caught:
        enhance_paths(Scale(), tmp_path / "bad.wav", tmp_path / "o.wav")
    assert not isinstance(caught.value, BatchError)


def killed_write(target, wav, rate=16000):
    """Write ``target`` through atomic_path in a child that is SIGKILLed half-way: its temporary stays."""
    pid = os.fork()
    if pid == 0:
        with atomic_path(target) as tmp:
            sf.write(tmp, wav, rate)
            os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    leftovers = list(target.parent.glob(f".{target.name}.*.tmp.wav"))
    assert len(leftovers) == 1 and not target.exists()
    return leftovers[0]


def test_temporaries_of_a_killed_write_are_not_inputs_and_are_cleaned(tree, tmp_path, caplog):
    out = tmp_path / "out"
    enhance_paths(Scale(), tree, out)
    (out / "a.wav").unlink()
    leftover = killed_write(out / "a.wav", harmonic(0.1))
    with caplog.at_level(logging.WARNING, "mal.enhance.files"):
        pairs = plan_outputs(out, tmp_path / "again")  # the old output folder as a new input
    assert leftover.name not in [i.name for i, _ in pairs] and len(pairs) == 2
    assert any("temporary file(s) that an interrupted mal write left" in r.getMessage() for r in caplog.records)
    enhance_paths(Scale(), tree, out)  # re-running into it writes a.wav and removes the leftover
    assert (out / "a.wav").is_file() and not leftover.exists()
    assert not [p for p in out.rglob(".*")]


def test_an_existing_output_is_replaced_with_a_log_line_or_kept_with_no_clobber(tree, tmp_path, caplog):
    out = tmp_path / "out"
    enhance_paths(Scale(0.5), tree, out)
    before = (out / "a.wav").read_bytes()
    with caplog.at_level(logging.INFO, "mal.enhance.files"):
        enhance_paths(Scale(0.25), tree, out, no_clobber=True)
    assert (out / "a.wav").read_bytes() == before
    assert f"{out / 'a.wav'} exists: kept (--no-clobber)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, "mal.enhance.files"):
        enhance_paths(Scale(0.25), tree, out)
    assert (out / "a.wav").read_bytes() != before
    assert f"{out / 'a.wav'} exists: replacing it" in caplog.text


def test_no_clobber_through_the_cli_keeps_a_finished_file(tree, tmp_path):
    model = str(tiny_model(tmp_path / "m.pth"))
    target = tmp_path / "o.wav"
    sf.write(target, np.zeros(50, np.float32), 16000)
    assert main(["--model", model, "--no-clobber", str(tree / "a.wav"), str(target)]) == 0
    assert sf.info(target).frames == 50
    assert main(["--model", model, str(tree / "a.wav"), str(target)]) == 0
    assert sf.info(target).frames == sf.info(tree / "a.wav").frames
    with pytest.raises(SystemExit):  # scp mode has --skip-existing
        main(["--model", model, "--wav-scp", "x.scp", "--out-dir", str(tmp_path), "--no-clobber"])


@pytest.mark.parametrize("keep_level", [False, True])
def test_loud_float_input_is_scaled_not_clipped_unless_kept(tmp_path, caplog, keep_level):
    loud = add_noise(harmonic(1.0), 10.0, seed=5)
    loud *= 1718 / np.abs(loud).max()
    source = write(tmp_path / "loud.wav", loud, subtype="FLOAT")
    quiet = write(tmp_path / "quiet.wav", loud * (0.5 / 1718), subtype="FLOAT")
    model = str(tiny_model(tmp_path / "m.pth"))
    with caplog.at_level(logging.WARNING):
        assert main(["--model", model, str(source), str(tmp_path / "out.wav")] + ["--keep-level"] * keep_level) == 0
    assert "loud.wav: the output peaks at" in caplog.text
    assert main(["--model", model, str(quiet), str(tmp_path / "quiet_out.wav")]) == 0
    enhanced, _ = sf.read(tmp_path / "out.wav")
    reference, _ = sf.read(tmp_path / "quiet_out.wav")  # the same signal at a level that does not clip
    clipped = np.mean(np.abs(enhanced) > 0.999)
    if keep_level:
        assert clipped > 0.5
    else:
        assert clipped == 0
        assert np.sqrt(np.mean(enhanced ** 2)) == pytest.approx(0.05, rel=0.05)  # the model's level (--norm-rms)
        assert np.corrcoef(enhanced, reference)[0, 1] > 0.99  # the model ran at its level either way


def test_an_output_folder_that_is_or_holds_the_input_folder_says_why(tree, tmp_path):
    with pytest.raises(EnhanceError, match=r"the output folder is the input folder .*: choose an output folder outside it"):
        plan_outputs(tree, tree)
    with pytest.raises(EnhanceError, match=r"the output folder holds the input folder .*sub"):
        plan_outputs(tree / "sub", tree)
    enhance_paths(Scale(), tree, tree / "enh")
    with pytest.raises(EnhanceError, match=r"every file that matches pattern '.*enh/\*.wav' is inside the output folder"):
        plan_outputs(f"{tree}/enh/*.wav", tree / "enh")


@pytest.mark.parametrize("fault, reason", [(full_disk, "No space left on device"), (read_only_dir, "(Read-only file system|Permission denied)")])
def test_a_full_or_read_only_disk_is_one_line_and_leaves_nothing(tree, tmp_path, capsys, fault, reason):
    model = str(tiny_model(tmp_path / "m.pth"))
    with fault(tmp_path / "disk") as disk:
        before = sorted(disk.iterdir())
        target = disk / "a.wav"
        assert main(["--model", model, str(tree), str(target.parent)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert sorted(disk.iterdir()) == before
    assert re.fullmatch(f"mal-enhance: error: {re.escape(str(target))}: cannot write: {reason}", err[-1]), err
    assert "Traceback" not in "\n".join(err)


def test_only_float_input_above_one_is_rescaled(tmp_path, caplog):
    in_range = write(tmp_path / "in.wav", harmonic(0.5) * 0.8 / 0.3, subtype="FLOAT")  # peak 0.8
    with caplog.at_level(logging.WARNING):
        enhance_paths(Scale(2.0), in_range, tmp_path / "o.wav")  # the model overshoots: clipped as before
    assert "peaks at" not in caplog.text and np.abs(sf.read(tmp_path / "o.wav")[0]).max() > 0.999
    loud = write(tmp_path / "loud.wav", harmonic(0.5) * 10, subtype="FLOAT")
    (tmp_path / "wav.scp").write_text(f"loud {loud}\n")
    with caplog.at_level(logging.WARNING):
        assert main(["--model", str(tiny_model(tmp_path / "m.pth")), "--wav-scp", str(tmp_path / "wav.scp"),
                     "--out-dir", str(tmp_path / "scp")]) == 0
    assert "wav.scp:1: utterance 'loud': the output peaks at" in caplog.text
    assert np.abs(sf.read(tmp_path / "scp" / "wav" / "loud.wav")[0]).max() < 0.999
