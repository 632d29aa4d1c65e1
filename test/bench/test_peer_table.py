"""bench/peer_table.py end to end on a tiny data dir: flite sentences (with a text file) in pink
noise, the shipped model against RNNoise; the table's rows and columns, the paired difference
against the per-utterance scores it wrote, and a re-run that only reads its cache."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import bench.peer_table as peer_table
from mal.models.shipped import DEFAULT_MODEL
from mal.score.summary import read_counts_file, read_metric_file

SR = 16000
SENTENCES = ("please call stella", "the birch canoe slid on the smooth planks", "open the door and wait")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """data/tiny/{wav.scp, spk1.scp, text}: three flite sentences over pink noise at 5 dB."""
    if shutil.which("flite") is None:
        pytest.skip("flite not installed (apt-get install flite)")
    root = tmp_path_factory.mktemp("data")
    tiny = root / "tiny"
    tiny.mkdir()
    wav, spk1, text = [], [], []
    for index, sentence in enumerate(SENTENCES):
        key = f"utt{index}"
        clean_path = tiny / f"{key}_clean.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", sentence, "-o", str(clean_path)], check=True, capture_output=True)
        clean, rate = sf.read(clean_path, dtype="float32")
        assert rate == SR
        spectrum = np.fft.rfft(np.random.default_rng(index).standard_normal(len(clean)))
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
        noise = np.fft.irfft(spectrum, len(clean))
        noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2)) * 10 ** (-5 / 20)
        sf.write(tiny / f"{key}.wav", (clean + noise).astype(np.float32), SR)
        wav.append(f"{key} {tiny / f'{key}.wav'}\n")
        spk1.append(f"{key} {clean_path}\n")
        text.append(f"{key} {sentence}\n")
    for name, lines in (("wav.scp", wav), ("spk1.scp", spk1), ("text", text)):
        (tiny / name).write_text("".join(lines))
    return root


def table_rows(out: str) -> dict:
    """Markdown table -> {row label: [cells]}, with the header under 'system'."""
    rows = {}
    for line in out.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_table_of_shipped_model_and_peer(data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    argv = ["--data", str(data), "--out", str(out), "--sets", "tiny,absent", "--peers", "rnnoise", "--dnsmos-utts", "2"]
    assert peer_table.main(argv) == 0
    printed = capsys.readouterr().out
    rows = table_rows(printed)
    shipped = f"mal {DEFAULT_MODEL} (shipped)"
    assert list(rows) == ["system", "noisy", shipped, "rnnoise", "shipped - best peer"]
    assert rows["system"] == ["tiny PESQ-WB", "tiny ESTOI", "tiny SI-SDR dB", "tiny DNSMOS OVRL", "tiny WER %"]
    assert f"missing under {data}: absent" in printed
    assert "DNSMOS OVRL 2" in printed and "PESQ-WB 3" in printed

    # The difference row: mean of the per-utterance differences in the files the run wrote.
    for column, metric in enumerate(("pesq_wb", "estoi", "sisdr")):
        ours = read_metric_file(out / "tiny" / DEFAULT_MODEL / "scores" / "intrusive" / metric)
        theirs = read_metric_file(out / "tiny" / "rnnoise" / "scores" / "intrusive" / metric)
        assert sorted(ours) == sorted(theirs) == ["utt0", "utt1", "utt2"]
        diffs = [ours[k] - theirs[k] for k in ours]
        mean, se = np.mean(diffs), np.std(diffs, ddof=1) / np.sqrt(len(diffs))
        digits = peer_table.DIGITS[metric]
        assert rows["shipped - best peer"][column] == f"{mean:+.{digits}f} +- {se:.{digits}f} (rnnoise)"
        assert float(rows[shipped][column]) == pytest.approx(np.mean(list(ours.values())), abs=10 ** -digits)
    # WER: the difference of the two set-level rates.
    counts = {s: read_counts_file(out / "tiny" / s / "asr" / "wer.counts") for s in (DEFAULT_MODEL, "rnnoise")}
    rates = {s: 100 * sum(e for e, _ in c.values()) / sum(n for _, n in c.values()) for s, c in counts.items()}
    assert rows["shipped - best peer"][4].startswith(f"{rates[DEFAULT_MODEL] - rates['rnnoise']:+.1f}")

    # A re-run only reads the cache: enhancing, scoring or recognising again would fail.
    def refuse(*args, **kwargs):
        raise AssertionError("cached work redone")

    for name in ("build_peer", "enhance_scp", "utterance_scores"):
        monkeypatch.setattr(peer_table, name, refuse)
    monkeypatch.setattr("mal.asr.build_recognizer", refuse)
    assert peer_table.main(argv) == 0
    assert capsys.readouterr().out == printed


def test_best_peer_and_its_paired_difference():
    """Two peers: the better mean is the reference; WER picks the lower rate."""
    from mal.score.summary import Scores

    def scores(values, errors):
        keys = ["a", "b", "c"]
        return Scores(values={"pesq_wb": dict(zip(keys, values))}, counts={"wer": {k: (e, 10) for k, e in zip(keys, errors)}})

    table = peer_table.build_table({
        ("s", "noisy"): scores([1.0, 1.0, 1.0], [5, 5, 5]),
        ("s", "m"): scores([2.0, 1.5, 1.0], [1, 2, 3]),
        ("s", "p"): scores([1.5, 1.5, 1.5], [0, 0, 0]),
        ("s", "q"): scores([1.2, 1.2, 1.2], [4, 4, 4]),
    }, ["s"], "m", ["p", "q"])
    pesq = table.differences[("s", "pesq_wb")]
    assert pesq.peer == "p" and pesq.mean == pytest.approx(0.0) and pesq.utterances == 3
    assert pesq.standard_error == pytest.approx(np.std([0.5, 0.0, -0.5], ddof=1) / np.sqrt(3))
    wer = table.differences[("s", "wer")]
    assert wer.peer == "p" and wer.mean == pytest.approx(20.0)  # 6/30 - 0/30


def test_gap_to_a_named_peer_gets_its_own_row():
    """--gap-to q: shipped - q on every column, though p is the best peer; a peer not run: no row."""
    from mal.score.summary import Scores

    def scores(values):
        return Scores(values={"pesq_wb": dict(zip(["a", "b", "c"], values))}, counts={})

    rows = {("s", "noisy"): scores([1.0, 1.0, 1.0]), ("s", "m"): scores([2.0, 1.5, 1.0]),
            ("s", "p"): scores([1.5, 1.5, 1.5]), ("s", "q"): scores([1.2, 1.0, 1.1])}
    table = peer_table.build_table(rows, ["s"], "m", ["p", "q"], gap_peer="q")
    gap = table.gaps[("s", "pesq_wb")]
    assert gap.peer == "q" and gap.mean == pytest.approx(np.mean([0.8, 0.5, -0.1]))
    assert gap.standard_error == pytest.approx(np.std([0.8, 0.5, -0.1], ddof=1) / np.sqrt(3))
    lines = peer_table.render(table, "m", [], Path("."))
    rendered = table_rows("\n".join(lines))
    assert list(rendered)[-2:] == ["shipped - best peer", "shipped - q"]
    assert rendered["shipped - q"] == [f"{gap.mean:+.3f} +- {gap.standard_error:.3f}"]
    assert rendered["shipped - best peer"][0].endswith("(p)")
    absent = peer_table.build_table(rows, ["s"], "m", ["p"], gap_peer="q")
    assert absent.gap_peer is None and "shipped - q" not in "\n".join(peer_table.render(absent, "m", [], Path(".")))


def test_bad_options_are_one_line(tmp_path, capsys):
    assert peer_table.main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--peers", "nope"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--peers: unknown nope" in err[0]
    assert peer_table.main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--model", "nope"]) == 1
    assert "no shipped model and no file 'nope'" in capsys.readouterr().err


def test_a_model_file_gets_its_own_row_and_cache(data, tmp_path, capsys):
    """--model FILE --label NAME: a candidate not yet shipped, judged the same way."""
    from mal.models.shipped import resolve_model

    candidate = tmp_path / "candidate.tar.gz"
    shutil.copy(resolve_model(None), candidate)
    notext = tmp_path / "data" / "tiny"  # the same set without transcripts: no ASR to wait for
    notext.mkdir(parents=True)
    for name in ("wav.scp", "spk1.scp"):
        shutil.copy(data / "tiny" / name, notext / name)
    out = tmp_path / "out"
    argv = ["--data", str(notext.parent), "--out", str(out), "--sets", "tiny", "--peers", "noisereduce", "--dnsmos-utts", "0",
            "--model", str(candidate), "--label", "cand"]
    assert peer_table.main(argv) == 0
    rows = table_rows(capsys.readouterr().out)
    assert list(rows) == ["system", "noisy", "mal cand", "noisereduce", "cand - best peer"]
    assert (out / "tiny" / "cand" / "scores" / "intrusive" / "pesq_wb").is_file()
