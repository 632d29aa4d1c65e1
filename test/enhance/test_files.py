"""mal-enhance IN OUT: files, folders mirrored, globs, --channels for stereo, format by extension,
and the shipped-model registry behind an omitted --model."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers.audio import add_noise, harmonic
from mal.bin.enhance import main
from mal.enhance.chunked import EnhanceError
from mal.enhance.files import enhance_paths, plan_outputs
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
