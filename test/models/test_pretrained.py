"""mal.models.pretrained: one way to load a model, every mismatch a one-line CheckpointError naming the file."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from mal.bin.enhance import main as enhance_main
from mal.models import build_model
from mal.models.checkpoint import CheckpointError, model_record, save_checkpoint
from mal.models.pack import pack_model
from mal.models.pretrained import load_model, model_spec, resolve_checkpoint

MAL = Path(__file__).resolve().parents[2] / "mal"
CONF = {"channels": 4, "depth": 2}


def save_tiny(path: Path, conf=None, **record) -> Path:
    conf = dict(CONF if conf is None else conf)
    torch.manual_seed(0)
    rec = model_record(build_model("tiny", **conf), "tiny", conf)
    rec.update(record)
    save_checkpoint(path, {"model": rec, "config": {"model": {"name": "tiny", "conf": conf}}})
    return path


def packed(tmp_path: Path, model: Path) -> Path:
    (tmp_path / "config.yaml").write_text("model: {name: tiny}\n")
    return pack_model(model, tmp_path / "config.yaml", tmp_path / f"{model.stem}.tar.gz")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MAL_CACHE_DIR", str(tmp_path / "cache"))


def test_pth_and_archive_load_the_same_model(tmp_path):
    pth = save_tiny(tmp_path / "m.pth")
    archive = packed(tmp_path, pth)
    assert resolve_checkpoint(pth) == pth
    assert resolve_checkpoint(archive).name == "model.pth" and "cache" in str(resolve_checkpoint(archive))
    a, info = load_model(pth)
    b, _ = load_model(archive)
    assert not a.training and info["model"]["conf"] == CONF and "mal" in info["versions"]
    x = torch.randn(1, 1600)
    torch.testing.assert_close(a(x), b(x))
    assert model_spec(archive) == {"name": "tiny", "conf": CONF}


def _one_line_error(path: Path, match: str) -> str:
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    assert match in message, message
    return message


def test_unknown_model_name(tmp_path):
    _one_line_error(save_tiny(tmp_path / "m.pth", name="gone"), "unknown model 'gone'")


def test_constructor_arguments_that_no_longer_fit(tmp_path):
    path = save_tiny(tmp_path / "m.pth")
    state = torch.load(path, weights_only=True)
    state["model"]["conf"]["renamed_option"] = 3
    torch.save(state, path)
    message = _one_line_error(path, "constructor arguments do not fit")
    assert "renamed_option" in message


def test_weights_of_another_size(tmp_path):
    path = save_tiny(tmp_path / "m.pth")
    state = torch.load(path, weights_only=True)
    state["model"]["conf"]["channels"] = 8  # the class builds wider layers than the stored weights
    torch.save(state, path)
    _one_line_error(path, "size mismatch for")


def test_missing_and_unexpected_weights(tmp_path):
    path = save_tiny(tmp_path / "m.pth")
    state = torch.load(path, weights_only=True)
    first = next(iter(state["model"]["state_dict"]))
    state["model"]["state_dict"]["extra.weight"] = state["model"]["state_dict"].pop(first)
    torch.save(state, path)
    _one_line_error(path, f"missing '{first}'")


@pytest.mark.parametrize("content", [b"not a checkpoint at all\n", b""], ids=["text", "empty"])
def test_files_that_are_not_checkpoints(tmp_path, content):
    for name in ("m.pth", "m.tar.gz", "m"):
        path = tmp_path / name
        path.write_bytes(content)
        _one_line_error(path, "not a readable checkpoint")


def test_checkpoints_without_a_model(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pth")
    _one_line_error(tmp_path / "list.pth", "expected a dict checkpoint")
    torch.save({"step": 3}, tmp_path / "dict.pth")
    _one_line_error(tmp_path / "dict.pth", "no 'model' record")
    _one_line_error(tmp_path / "missing.pth", "checkpoint not found")
    _one_line_error(tmp_path, "is a directory")


def test_archive_errors_name_the_archive(tmp_path):
    path = save_tiny(tmp_path / "m.pth")
    state = torch.load(path, weights_only=True)
    state["model"]["conf"]["renamed_option"] = 3
    torch.save(state, path)
    archive = packed(tmp_path, path)
    _one_line_error(archive, "constructor arguments do not fit")


def test_mal_enhance_reports_a_stale_checkpoint_in_one_line(tmp_path, capsys):
    path = save_tiny(tmp_path / "m.pth")
    state = torch.load(path, weights_only=True)
    state["model"]["conf"]["renamed_option"] = 3
    torch.save(state, path)
    (tmp_path / "in.wav").write_bytes(b"")
    assert enhance_main(["--model", str(path), str(tmp_path / "in.wav"), str(tmp_path / "out.wav")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mal-enhance: error: ") and str(path) in err and "\n" not in err and "Traceback" not in err


def _mal_imports(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mal":
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "mal")
    return names


def test_loading_runs_one_way():
    """checkpoint is a leaf, pack stands on it alone, and inference never reaches into training."""
    assert _mal_imports(MAL / "models" / "checkpoint.py") <= {"mal", "mal.io.atomic"}
    assert _mal_imports(MAL / "yaml_strict.py") <= {"mal"}  # a leaf: strict YAML reading, no torch
    assert _mal_imports(MAL / "models" / "pack.py") <= {"mal.io.atomic", "mal.io.paths", "mal.models.checkpoint", "mal.yaml_strict"}
    assert not any(m.startswith("mal.train") for m in _mal_imports(MAL / "models" / "pretrained.py"))
    for path in sorted((MAL / "enhance").glob("*.py")) + sorted((MAL / "models").glob("*.py")):
        assert not any(m.startswith("mal.train") for m in _mal_imports(path)), path
