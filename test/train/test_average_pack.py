"""mal-average-checkpoints and mal-pack-model / unpack_model / load_model("x.tar.gz")."""
from __future__ import annotations

import io
import re
import tarfile

import pytest
import torch
import yaml

from helpers.disks import full_disk, read_only_dir

from mal.bin.average_checkpoints import main as average_main
from mal.bin.pack_model import main as pack_main
from mal.models import build_model
from mal.models.checkpoint import CheckpointError, load_checkpoint, model_record, save_checkpoint
from mal.models.pack import MANIFEST, PackError, unpack_model, verify_archive
from mal.models.pretrained import load_model
from mal.train.average import average_checkpoints

CONF = {"channels": 4, "depth": 2}


def write_model(path, seed, conf=CONF, **extra):
    torch.manual_seed(seed)
    model = build_model("tiny", **conf)
    save_checkpoint(path, {"model": model_record(model, "tiny", conf), "config": {"model": {"name": "tiny", "conf": conf}}, **extra})
    return model


def test_average_is_the_elementwise_mean(tmp_path):
    models = [write_model(tmp_path / f"e{i}.pth", i) for i in range(3)]
    assert average_main(["--out", str(tmp_path / "avg.pth"), *(str(tmp_path / f"e{i}.pth") for i in range(3))]) == 0
    averaged, state = load_model(tmp_path / "avg.pth")
    for name, value in averaged.state_dict().items():
        expected = sum(m.state_dict()[name] for m in models) / 3
        torch.testing.assert_close(value, expected)
    assert len(state["averaged_from"]) == 3 and state["config"]["model"]["name"] == "tiny"
    # the averaged model runs
    assert averaged(torch.randn(1, 1600)).shape == (1, 1600)


def test_average_refuses_different_models(tmp_path, capsys):
    write_model(tmp_path / "a.pth", 0)
    write_model(tmp_path / "b.pth", 1, conf={"channels": 8, "depth": 2})
    with pytest.raises(CheckpointError, match="b.pth: model 'tiny'"):
        average_checkpoints([tmp_path / "a.pth", tmp_path / "b.pth"])
    (tmp_path / "c.pth").write_bytes(b"not a checkpoint")
    assert average_main(["--out", str(tmp_path / "o.pth"), str(tmp_path / "a.pth"), str(tmp_path / "c.pth")]) == 1
    assert "c.pth" in capsys.readouterr().err and not (tmp_path / "o.pth").exists()


@pytest.fixture
def packed(tmp_path, monkeypatch):
    monkeypatch.setenv("MAL_CACHE_DIR", str(tmp_path / "cache"))
    model = write_model(tmp_path / "model.pth", 7)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "tiny", "conf": CONF}}))
    (tmp_path / "RESULTS.md").write_text("# Results\n| system | PESQ |\n")
    args = ["--model", str(tmp_path / "model.pth"), "--config", str(tmp_path / "config.yaml"),
            "--results", str(tmp_path / "RESULTS.md"), "--out", str(tmp_path / "model.tar.gz")]
    assert pack_main(args) == 0
    return model, tmp_path / "model.tar.gz"


def test_pack_unpack_round_trip(packed, tmp_path):
    model, archive = packed
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(["model.pth", "config.yaml", "RESULTS.md", MANIFEST])
    assert set(verify_archive(archive)) == {"model.pth", "config.yaml", "RESULTS.md"}
    path = unpack_model(archive)
    assert path.name == "model.pth" and str(tmp_path / "cache") in str(path)
    assert (path.parent / "RESULTS.md").read_text().startswith("# Results")
    loaded, _ = load_model(archive)  # load_model takes the archive directly
    x = torch.randn(2, 1600)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    assert unpack_model(archive) == path  # cached


def _rewrite_member(archive, name, data: bytes, out):
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            content = src.extractfile(member).read()
            if member.name == name:
                content = data
            info = tarfile.TarInfo(member.name)
            info.size = len(content)
            dst.addfile(info, io.BytesIO(content))


def test_tampered_archive_is_refused(packed, tmp_path):
    _, archive = packed
    with tarfile.open(archive) as tar:
        weights = bytearray(tar.extractfile("model.pth").read())
    weights[-100] ^= 0xFF
    tampered = tmp_path / "tampered.tar.gz"
    _rewrite_member(archive, "model.pth", bytes(weights), tampered)
    with pytest.raises(PackError, match="member 'model.pth' fails its sha256 check"):
        unpack_model(tampered)
    with pytest.raises(CheckpointError, match="sha256"):
        load_model(tampered)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(PackError, match="not a readable model archive|sha256|missing"):
        unpack_model(truncated)
    no_manifest = tmp_path / "plain.tar.gz"
    with tarfile.open(no_manifest, "w:gz") as tar:
        tar.add(str(tmp_path / "model.pth"), arcname="model.pth")
    with pytest.raises(PackError, match="no MANIFEST.sha256"):
        unpack_model(no_manifest)


def test_pack_refuses_bad_inputs(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("a: 1\n")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    assert pack_main(["--model", str(tmp_path / "junk.pth"), "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "m.tar.gz")]) == 1
    assert "junk.pth" in capsys.readouterr().err
    write_model(tmp_path / "m.pth", 0)
    assert pack_main(["--model", str(tmp_path / "m.pth"), "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "m.tar.gz")]) == 1
    assert "nope.yaml: config file not found" in capsys.readouterr().err
    assert not (tmp_path / "m.tar.gz").exists()


@pytest.mark.parametrize("fault, reason", [(full_disk, "No space left on device"), (read_only_dir, "Read-only file system|Permission denied")])
def test_pack_to_a_full_or_read_only_disk_is_one_line_naming_the_path(tmp_path, capsys, fault, reason):
    write_model(tmp_path / "model.pth", 7)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "tiny", "conf": CONF}}))
    with fault(tmp_path / "disk") as disk:
        before = sorted(p.name for p in disk.iterdir())
        out = disk / "sub" / "model.tar.gz" if fault is read_only_dir else disk / "model.tar.gz"
        assert pack_main(["--model", str(tmp_path / "model.pth"), "--config", str(tmp_path / "config.yaml"), "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert sorted(p.name for p in disk.iterdir()) == before  # no temporary or partial archive left
    assert len(err) == 1, err
    assert re.fullmatch(rf"mal-pack-model: error: --out {re.escape(str(out))}: cannot write the archive: ({reason})", err[0])
