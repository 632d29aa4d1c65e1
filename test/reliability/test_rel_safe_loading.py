"""Untrusted files never run code: checkpoints, packed models and pre-trained loss weights that
hold a real malicious pickle (its ``__reduce__`` runs ``touch MARKER``) are refused with a clear
error and the marker is never created; YAML configs with ``!!python/...`` tags are refused too."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
import torch
import transformers
import yaml

from mal.bin.average_checkpoints import main as average_main
from mal.bin.enhance import main as enhance_main
from mal.bin.pack_model import main as pack_main
from mal.bin.train import main as train_main
from mal.losses.deep_feature import DeepFeatureLoss
from mal.models.checkpoint import CheckpointError, load_checkpoint
from mal.models.pretrained import load_model
from mal.train.config import ConfigError, load_config
from rel_helpers import noisy_clean_set, tiny_checkpoint


class Payload:
    """Unpickling this runs a shell command (what a malicious checkpoint does)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def evil(tmp_path):
    """(marker path, {name: malicious file}); the payload is shown to work when loaded unsafely."""
    marker = tmp_path / "pwned"
    good = load_checkpoint(tiny_checkpoint(tmp_path / "good.pth"))
    files = {"whole.pth": Payload(marker), "nested.pth": dict(good, config={"note": Payload(marker)})}
    for name, obj in files.items():
        torch.save(obj, tmp_path / name)
    proof = tmp_path / "proof"
    torch.save(Payload(proof), tmp_path / "proof.pth")
    torch.load(tmp_path / "proof.pth", weights_only=False)  # what an unsafe loader would do
    assert proof.exists(), "the payload must be real for the test to mean anything"
    return marker, {name: tmp_path / name for name in files}


def _error_line(err: str, prog: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith(f"{prog}: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("name", ["whole.pth", "nested.pth"])
def test_library_loaders_refuse(evil, name):
    marker, files = evil
    for load in (load_checkpoint, load_model):
        with pytest.raises(CheckpointError, match=rf"{files[name]}: refused to load.*weights_only=True"):
            load(files[name])
    assert not marker.exists()


def _archive(path: Path, model_pth: Path) -> Path:
    """A model.tar.gz whose manifest matches its (malicious) model.pth: it passes the sha256 check."""
    data = model_pth.read_bytes()
    manifest = f"{hashlib.sha256(data).hexdigest()}  model.pth\n".encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, content in (("model.pth", data), ("MANIFEST.sha256", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def test_mal_enhance_refuses(evil, tmp_path, capsys, monkeypatch):
    marker, files = evil
    monkeypatch.setenv("MAL_CACHE_DIR", str(tmp_path / "cache"))
    scps = noisy_clean_set(tmp_path / "data", ["a", "b"], num_samples=1600)
    archive = _archive(tmp_path / "evil.tar.gz", files["nested.pth"])
    for model in (files["whole.pth"], files["nested.pth"], archive):
        out = tmp_path / f"out-{model.name}"
        assert enhance_main(["--model", str(model), "--wav-scp", str(scps["noisy"]), "--out-dir", str(out)]) == 1
        assert "refused to load" in _error_line(capsys.readouterr().err, "mal-enhance")
        assert not out.exists()
        wav = scps["noisy"].parent / "noisy" / "a.wav"
        assert enhance_main(["--model", str(model), str(wav), str(tmp_path / "one.wav")]) == 1
        assert "refused to load" in _error_line(capsys.readouterr().err, "mal-enhance")
    assert not (tmp_path / "one.wav").exists()
    assert not marker.exists()


def test_mal_train_init_and_resume_refuse(evil, tmp_path, capsys):
    marker, files = evil
    scps = noisy_clean_set(tmp_path / "audio", ["a", "b"], num_samples=4000)
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(scps["noisy"].read_text())
    (data / "spk1.scp").write_text(scps["clean"].read_text())
    with_model = tmp_path / "with_model.yaml"
    with_model.write_text("model: {name: tiny, conf: {channels: 4, depth: 2}}\ncriterions: [{name: l1}]\n"
                          "batch: {batch_size: 2, segment_seconds: 0.1}\ntrain: {max_epochs: 1}\n")
    model_from_init = tmp_path / "from_init.yaml"  # the model is taken from the --init checkpoint
    model_from_init.write_text("criterions: [{name: l1}]\n")
    base = ["--train-dir", str(data), "--valid-dir", str(data), "--device", "cpu"]
    for config in (with_model, model_from_init):
        for name, path in files.items():
            out = tmp_path / f"exp-{config.stem}-{name}"
            assert train_main(["--config", str(config), "--out-dir", str(out), "--init", str(path), *base]) == 1
            message = _error_line(capsys.readouterr().err, "mal-train")
            assert str(path) in message and "refused to load" in message
            assert not (out / "checkpoint.pth").exists()
    for name, path in files.items():
        out = tmp_path / f"resume-{name}"
        out.mkdir()
        (out / "checkpoint.pth").write_bytes(path.read_bytes())
        assert train_main(["--config", str(with_model), "--out-dir", str(out), "--resume", *base]) == 1
        assert "refused to load" in _error_line(capsys.readouterr().err, "mal-train")
        assert not (out / "model.pth").exists()
    assert not marker.exists()


def test_averaging_and_packing_refuse(evil, tmp_path, capsys):
    marker, files = evil
    good = tiny_checkpoint(tmp_path / "ok.pth")
    assert average_main(["--out", str(tmp_path / "avg.pth"), str(good), str(files["nested.pth"])]) == 1
    assert "refused to load" in _error_line(capsys.readouterr().err, "mal-average-checkpoints")
    config = tmp_path / "config.yaml"
    config.write_text("model: {name: tiny}\n")
    assert pack_main(["--model", str(files["nested.pth"]), "--config", str(config), "--out", str(tmp_path / "m.tar.gz")]) == 1
    assert "refused to load" in _error_line(capsys.readouterr().err, "mal-pack-model")
    assert not (tmp_path / "avg.pth").exists() and not (tmp_path / "m.tar.gz").exists()
    assert not marker.exists()


def test_pretrained_loss_weights_refuse(tmp_path):
    """The deep-feature baseline's GE2E .pt and a local WavLM directory's pytorch_model.bin."""
    marker = tmp_path / "pwned"
    ge2e = tmp_path / "ge2e.pt"
    torch.save({"model_state": Payload(marker)}, ge2e)
    with pytest.raises(ValueError, match=rf"deep_feature network 'ge2e': refused to load the weights in {ge2e}"):
        DeepFeatureLoss("ge2e", checkpoint=ge2e)
    wavlm = tmp_path / "wavlm"
    transformers.WavLMConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                             num_conv_pos_embedding_groups=2).save_pretrained(wavlm)
    torch.save({"x": Payload(marker)}, wavlm / "pytorch_model.bin")
    with pytest.raises(ValueError, match="deep_feature network 'wavlm': refused to load"):
        DeepFeatureLoss("wavlm", checkpoint=wavlm)
    assert not marker.exists()


def test_pretrained_loss_weights_refused_by_mal_train_in_one_line(tmp_path, capsys):
    marker = tmp_path / "pwned"
    ge2e = tmp_path / "ge2e.pt"
    torch.save({"model_state": Payload(marker)}, ge2e)
    scps = noisy_clean_set(tmp_path / "audio", ["a", "b"], num_samples=4000)
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(scps["noisy"].read_text())
    (data / "spk1.scp").write_text(scps["clean"].read_text())
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"model": {"name": "tiny"}, "criterions": [
        {"name": "deep_feature", "conf": {"network": "ge2e", "checkpoint": str(ge2e)}}]}))
    args = ["--config", str(config), "--train-dir", str(data), "--valid-dir", str(data), "--device", "cpu"]
    assert train_main(args + ["--out-dir", str(tmp_path / "exp")]) == 1
    assert "refused to load" in _error_line(capsys.readouterr().err, "mal-train")
    config.write_text(yaml.safe_dump({"model": {"name": "tiny"}, "criterions": [
        {"name": "deep_feature", "conf": {"network": "wavlm", "checkpoint": str(tmp_path / "nowhere")}}]}))
    assert train_main(args + ["--out-dir", str(tmp_path / "exp2")]) == 1  # was a traceback (FileNotFoundError)
    assert "no checkpoint at" in _error_line(capsys.readouterr().err, "mal-train")
    assert not marker.exists()


TAGGED = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/name:os.system",
]


@pytest.mark.parametrize("tagged", TAGGED)
def test_yaml_with_python_tags_is_refused(tagged, tmp_path, capsys):
    marker = tmp_path / "pwned"
    value = tagged.format(marker=marker)
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {{name: tiny}}\ncriterions: [{{name: l1}}]\nnote: {value}\n")
    with pytest.raises(ConfigError, match=rf"{config}: not valid YAML"):
        load_config(config)
    assert train_main(["--config", str(config), "--print-config"]) == 1
    assert f"{config}: not valid YAML" in _error_line(capsys.readouterr().err, "mal-train")
    good = tmp_path / "good.yaml"
    good.write_text("model: {name: tiny}\ncriterions: [{name: l1}]\n")
    assert train_main(["--config", str(good), "--print-config", "--override", f"train.seed={value}"]) == 1
    assert "not valid YAML" in _error_line(capsys.readouterr().err, "mal-train")
    assert pack_main(["--model", str(tiny_checkpoint(tmp_path / "m.pth")), "--config", str(config),
                      "--out", str(tmp_path / "m.tar.gz")]) == 1
    assert "not valid YAML" in _error_line(capsys.readouterr().err, "mal-pack-model")
    yaml.safe_load("x: 1")  # (safe_load itself still works)
    assert not marker.exists()


def test_readme_warns_that_wav_scp_pipes_run_shell_commands():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "is run as a shell command" in readme
