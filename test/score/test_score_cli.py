"""mal-score: Kaldi-style metric files, 'failed', job splitting and --summarize."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from helpers.audio import add_noise
from mal.bin.score import main
from mal.io.scp import read_scp
from mal.score.summary import read_scores_dir
from score_helpers import write_scp_dir

METRICS = "pesq_wb,stoi,sisdr,csig"


@pytest.fixture
def data(speech, tmp_path):
    clean = dict(speech)
    noisy = {k: add_noise(v, 5.0, seed=i) for i, (k, v) in enumerate(speech.items())}
    noisy["utt3"] = np.zeros_like(speech["utt3"])  # a system that output silence
    return write_scp_dir(tmp_path, "clean", clean), write_scp_dir(tmp_path, "est", noisy)


def _lines(path):
    return path.read_text().splitlines()


def test_writes_one_file_per_metric_and_failed_then_summarizes(data, tmp_path, capsys):
    ref, est = data
    out = tmp_path / "scores"
    assert main(["--ref-scp", str(ref), "--est-scp", str(est), "--out-dir", str(out), "--metrics", METRICS]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["csig", "failed", "pesq_wb", "sisdr", "stoi"]
    pesq_lines = _lines(out / "pesq_wb")
    assert [line.split()[0] for line in pesq_lines] == ["utt1", "utt2"]
    assert all(1.0 < float(line.split()[1]) < 3.5 for line in pesq_lines)
    failed = _lines(out / "failed")
    assert failed == [f"utt3 {m} estimate is silent (peak below 1.5e-05)" for m in sorted(METRICS.split(","))]

    assert main(["--summarize", str(out)]) == 0
    summary = yaml.safe_load((out / "summary.yaml").read_text())
    assert summary == yaml.safe_load(capsys.readouterr().out)
    assert summary["num_utterances"] == 3 and summary["num_failures"] == 4
    pesq_values = [float(line.split()[1]) for line in pesq_lines]
    assert summary["metrics"]["pesq_wb"]["mean"] == pytest.approx(np.mean(pesq_values))  # the failure is no 0
    assert summary["metrics"]["pesq_wb"]["count"] == 2 and summary["metrics"]["pesq_wb"]["failed"] == 1


def test_jobs_with_key_files_merge_to_the_single_job_result(data, tmp_path):
    ref, est = data
    table = read_scp(est)
    whole = tmp_path / "whole"
    main(["--ref-scp", str(ref), "--est-scp", str(est), "--out-dir", str(whole), "--metrics", METRICS])
    keys = sorted(table)
    for job, share in enumerate((keys[:1], keys[1:]), start=1):
        (tmp_path / f"keys.{job}.scp").write_text("".join(f"{k} {table[k]}\n" for k in share))
        assert main([
            "--ref-scp", str(ref), "--est-scp", str(est), "--key-file", str(tmp_path / f"keys.{job}.scp"),
            "--out-dir", str(tmp_path / f"output.{job}"), "--metrics", METRICS,
        ]) == 0
    assert _lines(tmp_path / "output.1" / "pesq_wb")[0].startswith("utt1 ")
    for name in ["failed", *METRICS.split(",")]:
        merged = sorted(_lines(tmp_path / "output.1" / name) + _lines(tmp_path / "output.2" / name))
        assert merged == _lines(whole / name), name


def test_nonintrusive_metrics_need_no_reference(data, tmp_path):
    _, est = data
    one = tmp_path / "one.scp"
    one.write_text(f"utt1 {read_scp(est)['utt1']}\n")
    out = tmp_path / "dnsmos"
    assert main(["--est-scp", str(one), "--out-dir", str(out), "--metrics", "dnsmos_ovrl,dnsmos_bak"]) == 0
    scores = read_scores_dir(out)
    assert set(scores.values) == {"dnsmos_ovrl", "dnsmos_bak"} and scores.failures == []
    assert 1.0 <= scores.values["dnsmos_ovrl"]["utt1"] <= 5.0


def test_intrusive_metrics_without_reference_are_refused(data, tmp_path, capsys):
    _, est = data
    with pytest.raises(SystemExit):
        main(["--est-scp", str(est), "--out-dir", str(tmp_path / "x"), "--metrics", "stoi"])
    assert "stoi need --ref-scp" in capsys.readouterr().err


def test_bad_input_names_the_file_and_key_and_writes_nothing(data, tmp_path, capsys):
    ref, est = data
    short_ref = tmp_path / "short.scp"
    short_ref.write_text("".join(line + "\n" for line in _lines(ref) if not line.startswith("utt2 ")))
    out = tmp_path / "bad"
    assert main(["--ref-scp", str(short_ref), "--est-scp", str(est), "--out-dir", str(out), "--metrics", "sisdr"]) == 1
    assert f"{short_ref}: key 'utt2' missing" in capsys.readouterr().err
    assert not out.exists()

    truncated = tmp_path / "trunc"
    import soundfile as sf

    wav, rate = sf.read(read_scp(est)["utt1"], dtype="float32")
    sf.write(tmp_path / "trunc.wav", wav[:-4000], rate)
    truncated.write_text(f"utt1 {tmp_path / 'trunc.wav'}\n")
    args = ["--ref-scp", str(ref), "--est-scp", str(truncated), "--out-dir", str(out), "--metrics", "sisdr"]
    assert main(args) == 1  # utt2 and utt3 have no estimate
    assert f"{truncated}: 2 of the 3 keys of {ref} missing: 'utt2', 'utt3'" in capsys.readouterr().err
    assert main(args + ["--allow-missing"]) == 1  # scoring utt1 alone: its length
    assert "utterance 'utt1': reference has" in capsys.readouterr().err
    assert not out.exists()


def test_summarize_a_missing_directory_is_a_clear_error(tmp_path, capsys):
    assert main(["--summarize", str(tmp_path / "nope")]) == 1
    assert "nope: scores directory not found" in capsys.readouterr().err


def test_a_malformed_metric_file_names_file_and_line(tmp_path, capsys):
    (tmp_path / "pesq_wb").write_text("utt1 1.5\nutt2 n/a\n")
    assert main(["--summarize", str(tmp_path)]) == 1
    assert f"{tmp_path / 'pesq_wb'}:2: utterance 'utt2': value 'n/a' is not a number" in capsys.readouterr().err
