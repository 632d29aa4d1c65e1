"""mal-export writes a set that never mixes two models, says which model and mal wrote each
file, runs as mal-enhance does (level normalisation) and names the `export` extra when it is missing."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys

import numpy as np
import pytest
import torch

import mal
from mal.bin.export import main
from mal.enhance.chunked import DEFAULT_NORM_RMS
from mal.enhance.inference import Enhancer, EnhanceOptions
from mal.export.runtime import OnnxOffline, export_info, exported_streamer
from mal.models import build_model
from mal.models.checkpoint import model_record, save_checkpoint

CAUSAL = {"channels": [4, 8], "rnn_hidden": 16, "causal": True, "time_kernel": 2, "rnn_type": "lstm"}
FILES = ("model.onnx", "model.ts.pt", "model.stream.onnx", "model.stream.ts.pt")


def saved(path, seed: int, conf=CAUSAL):
    """A causal TFMaskNet with random weights (not the identity it starts as) saved to ``path``."""
    torch.manual_seed(seed)
    model = build_model("tfmask", **conf).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {"model": model_record(model, "tfmask", conf)})
    return model


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(model_path, out, *more: str) -> int:
    return main(["--model", str(model_path), "--out-dir", str(out), "--name", "model", "--length-seconds", "0.5", *more])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Model a (a causal TFMaskNet), its path and its four exported files (read-only: copy to change)."""
    root = tmp_path_factory.mktemp("a")
    model = saved(root / "a" / "model.pth", seed=1)
    assert export(root / "a" / "model.pth", root / "out", "--torchscript") == 0
    return model, root / "a" / "model.pth", root / "out"


def copied(exported, tmp_path):
    return shutil.copytree(exported[2], tmp_path / "out")


def test_every_file_records_the_model_and_mal_version(exported):
    _, model_path, out = exported
    want = {"model_sha256": sha256(model_path), "mal_version": mal.__version__, "norm_rms": DEFAULT_NORM_RMS}
    for name in FILES:
        info = export_info(out / name)
        assert {k: info.get(k) for k in want} == want, name
    import onnx

    props = {p.key: json.loads(p.value) for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert props["model_sha256"] == want["model_sha256"]
    extra = {"mal.json": ""}
    torch.jit.load(str(out / "model.stream.ts.pt"), _extra_files=extra)
    assert json.loads(extra["mal.json"])["model_sha256"] == want["model_sha256"]
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # no staging folder left


def test_an_export_stopped_midway_leaves_the_earlier_set_whole(exported, tmp_path, monkeypatch):
    saved(tmp_path / "b" / "model.pth", seed=2)
    out = copied(exported, tmp_path)
    before = {name: (out / name).read_bytes() for name in FILES}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands for a kill after the offline forms were written

    monkeypatch.setattr("mal.bin.export.export_streaming_onnx", killed)
    with pytest.raises(KeyboardInterrupt):
        export(tmp_path / "b" / "model.pth", out, "--torchscript")
    assert {name: (out / name).read_bytes() for name in FILES} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # the staging folder is gone too


def test_an_earlier_form_of_another_model_is_removed_and_one_of_the_same_kept(exported, tmp_path):
    saved(tmp_path / "b" / "model.pth", seed=2)
    out = copied(exported, tmp_path)
    assert export(exported[1], out, "--form", "streaming") == 0  # same model: its offline forms stay
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert export(tmp_path / "b" / "model.pth", out, "--form", "offline") == 0
    assert export_info(out / "model.onnx")["model_sha256"] == sha256(tmp_path / "b" / "model.pth")
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]  # model a's would have mixed the set


@pytest.mark.parametrize("rms", [0.4, 0.004])  # a loud and a quiet file: both scaled to DEFAULT_NORM_RMS
def test_the_runners_give_mal_enhance_output(exported, rms):
    model, _, out = exported
    x = np.random.default_rng(0).standard_normal(12000).astype(np.float32)
    x *= rms / np.sqrt(np.mean(x**2))
    gain_back = rms / DEFAULT_NORM_RMS  # the graph's error is scaled back with the signal
    offline = Enhancer(model).enhance(x, 16000)
    np.testing.assert_allclose(OnnxOffline(out / "model.onnx").run(x), offline, atol=1e-4 * gain_back, rtol=0)
    raw = OnnxOffline(out / "model.onnx", norm_rms=None).run(x)
    assert np.abs(raw - offline).max() > 10 * 1e-4 * gain_back  # the level matters to this model
    streamed = Enhancer(model, EnhanceOptions(streaming=True)).enhance(x, 16000)
    got = exported_streamer(out / "model.stream.onnx").run(x, 333)
    np.testing.assert_allclose(got, streamed, atol=1e-4 * gain_back, rtol=0)


def test_without_the_export_extra_one_line_names_it(tmp_path, monkeypatch, capsys):
    saved(tmp_path / "model.pth", seed=1)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert export(tmp_path / "model.pth", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "'export' extra" in err and "pip install 'mal[export]'" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(ValueError, match=r"mal\[export\]"):
        OnnxOffline(b"not read")
