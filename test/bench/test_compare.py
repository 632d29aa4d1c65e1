"""bench/compare.py on a miniature recipe exp tree built here: tiny warm-up + MAL models trained a
few steps on flite speech in noise, enhanced and scored by the real CLIs (as mal.sh stages 3-6)."""
from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from mal.bin.enhance import main as enhance_main
from mal.bin.score import main as score_main
from mal.bin.train import main as train_main
from mal.score.summary import read_metric_file

REPO = Path(__file__).resolve().parents[2]
SR = 16000
SETS = ("test", "test_ood")
SENTENCES = (
    "Please call Stella and ask her to bring these things.",
    "Six spoons of fresh snow peas and five thick slabs of cheese.",
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
)
#: 1.15 s clips: DNSMOS repeats a clip to >= 9.01 s, so each costs one model window.
SECONDS = 1.15


def load_compare():
    spec = importlib.util.spec_from_file_location("bench_compare", REPO / "bench" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_compare"] = module
    spec.loader.exec_module(module)
    return module


compare = load_compare()


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def flite(text: str, voice: str, path: Path) -> np.ndarray:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, capture_output=True)
    wav, rate = sf.read(path, dtype="float32")
    assert rate == SR
    return wav


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    t = np.arange(n) / SR  # hum + a little hiss: the "unseen" noise of test_ood
    return np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 150 * t) + 0.2 * white


def make_data_dir(path: Path, keys: List[str], speech: List[np.ndarray], kind: str, seed: int) -> Path:
    """wav.scp (noisy at 5 dB SNR), spk1.scp, utt2spk, spk2utt, utt2num_samples."""
    rng = np.random.default_rng(seed)
    (path / "wav").mkdir(parents=True)
    tables: Dict[str, List[str]] = {"wav.scp": [], "spk1.scp": [], "utt2spk": [], "utt2num_samples": []}
    for key, clean in zip(keys, speech):
        clean = clean[: int(SECONDS * SR)]
        n = noise(kind, len(clean), rng)
        n *= np.sqrt(np.mean(clean**2) / np.mean(n**2)) * 10 ** (-5 / 20)
        sf.write(path / "wav" / f"{key}_clean.wav", clean, SR, subtype="PCM_16")
        sf.write(path / "wav" / f"{key}_noisy.wav", (clean + n).astype(np.float32), SR, subtype="PCM_16")
        tables["wav.scp"].append(f"{key} {path / 'wav' / (key + '_noisy.wav')}")
        tables["spk1.scp"].append(f"{key} {path / 'wav' / (key + '_clean.wav')}")
        tables["utt2spk"].append(f"{key} {key}")
        tables["utt2num_samples"].append(f"{key} {len(clean)}")
    for name, lines in tables.items():
        (path / name).write_text("\n".join(sorted(lines)) + "\n")
    (path / "spk2utt").write_text((path / "utt2spk").read_text())
    return path


def write_yaml(path: Path, content: dict) -> Path:
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def tiny_config(criterions: list, max_steps: int) -> dict:
    return {
        "sample_rate": SR,
        "model": {"name": "tiny", "conf": {"channels": 4, "depth": 2}},
        "criterions": criterions,
        "optim": {"name": "adam", "lr": 1.0e-3},
        "scheduler": {"name": "constant"},
        "batch": {"batch_size": 2, "segment_seconds": 0.5, "num_workers": 0},
        "train": {"max_epochs": 10, "max_steps": max_steps, "steps_per_epoch": 2, "seed": 0, "keep_nbest": 1, "amp": False},
    }


def score_system(data: Path, est_scp: Path, out: Path, dnsmos_key: Path) -> None:
    """As mal.sh stage 6: reference metrics on every key, DNSMOS on a subset, merged in one dir."""
    assert score_main(["--ref-scp", str(data / "spk1.scp"), "--est-scp", str(est_scp), "--out-dir", str(out),
                       "--metrics", "pesq_wb,estoi,sisdr"]) == 0
    assert score_main(["--est-scp", str(est_scp), "--out-dir", str(out / "dnsmos"), "--key-file", str(dnsmos_key),
                       "--metrics", "dnsmos_ovrl"]) == 0
    shutil.move(str(out / "dnsmos" / "dnsmos_ovrl"), str(out / "dnsmos_ovrl"))


@pytest.fixture(scope="module")
def exp_tree(tmp_path_factory) -> Path:
    """exp/<tag>/{warmup,mal}/ (trained), enhanced/, scores/<set>/{noisy,warmup,mal}/, report_data/."""
    if shutil.which("flite") is None:
        pytest.skip("flite not installed (apt-get install flite)")
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("recipe")
    speech = [flite(text, voice, root / f"s{i}{voice}.wav")
              for i, text in enumerate(SENTENCES) for voice in ("slt", "kal16")]
    data = root / "data"
    make_data_dir(data / "train", [f"tr{i}" for i in range(4)], speech[:4], "white", 0)
    make_data_dir(data / "valid", ["va0", "va1"], speech[4:6], "white", 1)
    make_data_dir(data / "test", ["te0", "te1"], speech[6:8], "white", 2)
    make_data_dir(data / "test_ood", ["ood0", "ood1"], speech[1:8:5], "hum", 3)
    exp = root / "exp" / "tag"
    common = ["--train-dir", str(data / "train"), "--valid-dir", str(data / "valid"), "--device", "cpu"]
    warmup = write_yaml(root / "warmup.yaml", tiny_config([{"name": "l1"}], max_steps=4))
    assert train_main(["--config", str(warmup), "--out-dir", str(exp / "warmup"), *common]) == 0
    mal = write_yaml(root / "mal.yaml", tiny_config([{"name": "mal", "conf": {"variant": "frozen"}}, {"name": "l1"}], 2))
    assert train_main(["--config", str(mal), "--out-dir", str(exp / "mal"), "--init", str(exp / "warmup" / "model.pth"), *common]) == 0
    for test_set in SETS:
        dset = data / test_set
        dnsmos_key = root / f"dnsmos_keys_{test_set}"
        dnsmos_key.write_text((dset / "wav.scp").read_text().splitlines()[0] + "\n")
        score_system(dset, dset / "wav.scp", exp / "scores" / test_set / "noisy", dnsmos_key)
        for system in ("warmup", "mal"):
            out = exp / "enhanced" / test_set / system
            assert enhance_main(["--model", str(exp / system / "model.pth"), "--wav-scp", str(dset / "wav.scp"),
                                 "--out-dir", str(out)]) == 0
            score_system(dset, out / "wav.scp", exp / "scores" / test_set / system, dnsmos_key)
        (exp / "report_data").mkdir(exist_ok=True)
        (exp / "report_data" / test_set).symlink_to(dset)
    return exp


def table_of(report: str, test_set: str) -> List[List[str]]:
    """Rows (cells) of the Markdown table under '### <test_set>'."""
    lines = report.split(f"### {test_set}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines if not line.startswith("|---")]


def mean_of(path: Path, keys=None) -> float:
    values = read_metric_file(path)
    keys = keys or list(values)
    return sum(values[k] for k in keys) / len(keys)


@pytest.fixture(scope="module")
def report(exp_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "compare.md"
    argv = ["--exp", str(exp_tree), "--peers", "rnnoise,noisereduce", "--rtf-seconds", "1", "--out", str(out)]
    from contextlib import redirect_stdout
    from io import StringIO

    buffer = StringIO()
    with redirect_stdout(buffer):
        assert compare.main(argv) == 0
    printed = buffer.getvalue()
    assert out.read_text() == printed
    return printed


def test_one_table_per_test_set_with_every_column(report):
    for test_set in SETS:
        rows = table_of(report, test_set)
        header, body = rows[0], rows[1:]
        assert header == ["system", "PESQ-WB (n=2)", "ESTOI (n=2)", "SI-SDR (dB) (n=2)", "DNSMOS OVRL (n=1)",
                          "params", "RTF CPU (1 thread)", "RTF wall"]
        assert [r[0] for r in body] == ["noisy", "rnnoise (peer)", "noisereduce (peer)", "warmup (mal)", "mal (mal)"]
        for row in body:
            assert all(math.isfinite(float(v)) for v in row[1:5]), row
            if row[0] != "noisy":
                assert row[5] != "-" and float(row[6]) > 0 and float(row[7]) > 0, row
        assert body[2][5] == "0 (DSP)" and body[1][5] == "2.88 M"


def test_scores_are_the_recipe_files_and_peers_are_scored_alike(report, exp_tree):
    rows = {r[0]: r for r in table_of(report, "test")[1:]}
    scores = exp_tree / "scores" / "test"
    assert float(rows["mal (mal)"][1]) == pytest.approx(mean_of(scores / "mal" / "pesq_wb"), abs=1e-3)
    assert float(rows["noisy"][3]) == pytest.approx(mean_of(scores / "noisy" / "sisdr"), abs=1e-2)
    peer_dir = exp_tree / "bench" / "scores" / "test" / "rnnoise"
    assert len(read_metric_file(peer_dir / "pesq_wb")) == 2
    dnsmos = read_metric_file(peer_dir / "dnsmos_ovrl")  # the recipe's DNSMOS subset, not every key
    assert list(dnsmos) == list(read_metric_file(scores / "noisy" / "dnsmos_ovrl"))
    assert float(rows["rnnoise (peer)"][1]) == pytest.approx(mean_of(peer_dir / "pesq_wb"), abs=1e-3)
    enhanced = exp_tree / "bench" / "enhanced" / "test" / "rnnoise" / "wav.scp"
    assert len(enhanced.read_text().splitlines()) == 2
    # RNNoise removes white noise: its SI-SDR beats the noisy input's
    assert float(rows["rnnoise (peer)"][3]) > float(rows["noisy"][3])


def test_training_cost_and_targets(report):
    cost = table_of(report, "Training cost (log.csv; an epoch's time includes its validation pass)")
    assert cost[0][:4] == ["system", "batch", "epochs", "steps"]
    by_system = {r[0]: r for r in cost[1:]}
    assert by_system["warmup"][1:4] == ["2 x 0.5 s", "2", "4"] and by_system["warmup"][-1] == "1.00x"
    assert by_system["mal"][3] == "2" and by_system["mal"][-1].endswith("x")
    targets = report.split("### Targets\n\n", 1)[1].splitlines()
    assert len(targets) == 2 * 2 * 2 + 1  # sets x metrics x peers, + RTF
    assert all(line.endswith((": met", ": MISSED")) for line in targets)


def test_rerun_reuses_peer_scores(exp_tree, report, capsys):
    assert compare.main(["--exp", str(exp_tree), "--peers", "rnnoise,noisereduce", "--rtf-seconds", "0.5"]) == 0
    captured = capsys.readouterr()
    assert "enhancing and scoring" not in captured.err
    assert table_of(captured.out, "test")[1:] and "### test_ood" in captured.out


def test_column_means_use_common_utterances():
    rows = [compare.Row("a", "peer", {"pesq_wb": {"u1": 1.0, "u2": 3.0}}),
            compare.Row("b", "peer", {"pesq_wb": {"u2": 2.0}}),
            compare.Row("c", "peer", {})]
    means, n = compare.column_means(rows, "pesq_wb")
    assert n == 1 and means == {"a": 3.0, "b": 2.0}


def test_clear_errors(tmp_path, capsys):
    assert compare.main(["--exp", str(tmp_path / "nope")]) == 1
    assert "nope: experiment dir not found" in capsys.readouterr().err
    (tmp_path / "exp" / "scores").mkdir(parents=True)
    assert compare.main(["--exp", str(tmp_path / "exp"), "--peers", ""]) == 1
    assert "no test sets scored" in capsys.readouterr().err


def test_peers_scored_by_the_recipe_are_read_not_redone(exp_tree, report, tmp_path, capsys):
    """mal.sh with peer_systems leaves EXP/scores/<set>/<peer>: those files are used as they are."""
    exp = tmp_path / "exp"
    shutil.copytree(exp_tree, exp, symlinks=True, ignore=shutil.ignore_patterns("bench"))
    for test_set in SETS:
        shutil.copytree(exp_tree / "bench" / "scores" / test_set / "noisereduce", exp / "scores" / test_set / "noisereduce")
    assert compare.main(["--exp", str(exp), "--peers", "rnnoise", "--rtf-seconds", "0.5"]) == 0
    captured = capsys.readouterr()
    assert "with noisereduce" not in captured.err and "test with rnnoise" in captured.err
    rows = {r[0]: r for r in table_of(captured.out, "test")[1:]}
    expected = mean_of(exp / "scores" / "test" / "noisereduce" / "pesq_wb")
    assert float(rows["noisereduce (peer)"][1]) == pytest.approx(expected, abs=1e-3)
    assert not (exp / "bench" / "scores" / "test" / "noisereduce").exists()
