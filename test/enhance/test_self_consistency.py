"""mal-self-consistency: passes, per-pass scores against the reference, drift files."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from enhance_toys import FirModel, IdentityModel
from helpers.audio import add_noise, harmonic
from mal.bin.self_consistency import main
from mal.enhance.inference import EnhanceOptions, Enhancer
from mal.enhance.self_consistency import iterate, self_consistency
from mal.io import write_wav
from mal.models import build_model
from mal.models.checkpoint import model_record, save_checkpoint
from mal.models.pretrained import load_model
from mal.score.metrics import score_pair, sisdr


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sc")
    wav_lines, ref_lines = [], []
    for i in range(3):
        clean = harmonic(1.0, seed=i, f0=120 + 30 * i)
        noisy = add_noise(clean, 5.0, seed=10 + i)
        write_wav(root / f"c{i}.wav", clean, 16000)
        write_wav(root / f"n{i}.wav", noisy, 16000)
        wav_lines.append(f"utt{i} {root}/n{i}.wav")
        ref_lines.append(f"utt{i} {root}/c{i}.wav")
    (root / "wav.scp").write_text("\n".join(wav_lines) + "\n")
    (root / "spk1.scp").write_text("\n".join(ref_lines) + "\n")
    return root


def read_csv(path: Path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_identity_model_does_not_drift(data):
    result = self_consistency(Enhancer(IdentityModel()), data / "wav.scp", data / "spk1.scp", passes=2, metrics=["sisdr", "snr"])
    rows = result.rows()
    assert [r["pass"] for r in rows] == [0, 1, 2]
    for metric in ("sisdr", "snr"):
        assert rows[0][metric] == pytest.approx(rows[2][metric], abs=1e-4)
        assert rows[2][f"{metric}_delta"] == pytest.approx(0.0, abs=1e-4)
    assert 4 < rows[0]["sisdr"] < 6, "5 dB input SNR"


def test_scores_are_those_of_the_model_applied_k_times(data):
    enhancer = Enhancer(FirModel(taps=15), EnhanceOptions(chunk_seconds=0))
    result = self_consistency(enhancer, data / "wav.scp", data / "spk1.scp", passes=3, metrics=["sisdr"])
    from mal.io import read_audio

    expected = {k: [] for k in range(4)}
    for i in range(3):
        noisy, _ = read_audio(str(data / f"n{i}.wav"))
        clean, _ = read_audio(str(data / f"c{i}.wav"))
        outputs = iterate(enhancer, noisy, 16000, 3)
        for k, y in enumerate(outputs):
            expected[k].append(sisdr(clean.astype(np.float64), y.astype(np.float64)))
            assert result.scores[(f"utt{i}", k)]["sisdr"] == pytest.approx(expected[k][-1], abs=1e-6)
    rows = result.rows()
    for k in range(4):
        assert rows[k]["sisdr"] == pytest.approx(np.mean(expected[k]), abs=1e-6)
        assert rows[k]["sisdr_delta"] == pytest.approx(np.mean(expected[k]) - np.mean(expected[1]), abs=1e-6)
    # This lossy model keeps changing its own output: drift is visible.
    assert abs(rows[3]["sisdr_delta"]) > 0.1


def test_silent_reference_is_a_recorded_failure_not_a_zero(data, tmp_path):
    write_wav(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    lines = (data / "spk1.scp").read_text().splitlines()
    (tmp_path / "spk1.scp").write_text("\n".join(lines[:2] + [f"utt2 {tmp_path}/silent.wav"]) + "\n")
    result = self_consistency(Enhancer(IdentityModel()), data / "wav.scp", tmp_path / "spk1.scp", passes=1, metrics=["sisdr"])
    assert {(k, p, m) for k, p, m, _ in result.failures} == {("utt2", 0, "sisdr"), ("utt2", 1, "sisdr")}
    assert "silent" in result.failures[0][3]
    ok = [result.scores[(f"utt{i}", 0)]["sisdr"] for i in range(2)]
    assert result.rows()[0]["sisdr"] == pytest.approx(np.mean(ok))
    assert result.rows()[0]["failed"] == 1


def test_cli_writes_drift_csv_md_png(data, tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model("tiny", channels=4)
    save_checkpoint(tmp_path / "m.pth", {"model": model_record(model, "tiny", {"channels": 4})})
    out = tmp_path / "sc"
    rc = main(["--model", str(tmp_path / "m.pth"), "--wav-scp", str(data / "wav.scp"), "--ref-scp", str(data / "spk1.scp"),
               "--passes", "2", "--out-dir", str(out), "--metrics", "pesq_wb,estoi,sisdr"])
    assert rc == 0
    rows = read_csv(out / "drift.csv")
    assert [r["pass"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"pass", "pesq_wb", "estoi", "sisdr", "pesq_wb_delta", "estoi_delta", "sisdr_delta", "failed"}
    assert float(rows[1]["sisdr_delta"]) == 0.0

    # pass-2 SI-SDR equals scoring the model applied twice, done here independently
    enhancer = Enhancer(load_model(tmp_path / "m.pth")[0])
    from mal.io import read_audio

    values = []
    for i in range(3):
        noisy, _ = read_audio(str(data / f"n{i}.wav"))
        clean, _ = read_audio(str(data / f"c{i}.wav"))
        twice = enhancer.enhance(enhancer.enhance(noisy, 16000), 16000)
        values.append(score_pair(clean, twice, 16000, ["sisdr"])["sisdr"])
    assert float(rows[2]["sisdr"]) == pytest.approx(np.mean(values), rel=1e-4)

    md = (out / "drift.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3 and "0 (input)" in table[2] and "Δsisdr vs pass 1" in table[0]
    assert md in capsys.readouterr().out
    image = matplotlib.image.imread(str(out / "drift.png"))
    assert image.shape[0] > 100 and image.shape[1] > 300
    scores = read_csv(out / "scores.csv")
    assert len(scores) == 3 * 3 and {r["key"] for r in scores} == {"utt0", "utt1", "utt2"}
    assert (out / "failed").exists()


def test_cli_errors_name_the_problem(data, tmp_path, capsys):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "m.pth", {"model": model_record(build_model("tiny"), "tiny", {})})
    base = ["--model", str(tmp_path / "m.pth"), "--wav-scp", str(data / "wav.scp"), "--out-dir", str(tmp_path / "o")]
    (tmp_path / "ref.scp").write_text(f"utt0 {data}/c0.wav\n")
    assert main(base + ["--ref-scp", str(tmp_path / "ref.scp")]) == 1
    assert "key 'utt1' missing" in capsys.readouterr().err
    assert main(base + ["--ref-scp", str(data / "spk1.scp"), "--metrics", "pesq_wb,bogus"]) == 1
    assert "unknown metric 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "drift.csv").exists()
