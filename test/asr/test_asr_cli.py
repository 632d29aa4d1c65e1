"""mal-asr-score: job split, files that merge by cat | sort, set-level WER through
mal-score --summarize and mal-report, plug-in recognisers, clear errors."""
from __future__ import annotations

import subprocess
from pathlib import Path

import jiwer
import pytest
import yaml
from asr_data import SENTENCES, write_set

from mal.asr import normalize_text
from mal.bin.asr_score import main
from mal.bin.report import main as report_main
from mal.bin.score import main as score_main

FILES = ("wer", "cer", "wer.counts", "cer.counts", "hyp.txt", "hyp.trn", "ref.trn", "asr.failed")


def _run_jobs(est_scp: Path, text: Path, logdir: Path, jobs: int, *extra: str) -> None:
    keys = [line.split()[0] for line in est_scp.read_text().splitlines()]
    for job in range(1, jobs + 1):
        key_file = logdir / f"keys.{job}.scp"
        key_file.write_text("".join(f"{k} x\n" for k in keys[job - 1 :: jobs]))
        argv = ["--est-scp", str(est_scp), "--text", str(text), "--out-dir", str(logdir / f"output.{job}")]
        assert main([*argv, "--key-file", str(key_file), *extra]) == 0


def _merge(logdir: Path, out: Path, jobs: int) -> None:
    """As the recipe does: every job file, ``cat | sort`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        parts = " ".join(str(logdir / f"output.{j}" / name) for j in range(1, jobs + 1))
        subprocess.run(f"cat {parts} | sort > {out / name}", shell=True, check=True)


def _table(path: Path) -> dict:
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines())


def test_pocketsphinx_jobs_merge_and_summarise_to_the_set_level_wer(signals, tmp_path, caplog):
    est = {**signals["clean"], "utt3": signals["noisy"]["utt3"]}  # one noisy utterance: unequal WERs
    data = write_set(tmp_path / "test", est)
    logdir, out = tmp_path / "logdir", tmp_path / "scores" / "test" / "enh"
    logdir.mkdir()
    with caplog.at_level("INFO"):
        _run_jobs(data / "wav.scp", data / "text", logdir, 2)
    assert caplog.text.count("s per second of audio") == 2  # each job logs its decoding cost
    assert (logdir / "output.2" / "wer").read_text().count("\n") == 1
    _merge(logdir, out, 2)

    hyps = _table(out / "hyp.txt")
    refs = {k: normalize_text(SENTENCES[k][1]) for k in SENTENCES}
    norm_hyps = {k: normalize_text(hyps.get(k, "")) for k in SENTENCES}
    assert sorted(hyps) == sorted(SENTENCES)
    assert float(_table(out / "wer")["utt1"]) <= 20.0, hyps["utt1"]
    expected = 100 * jiwer.wer([refs[k] for k in sorted(refs)], [norm_hyps[k] for k in sorted(refs)])
    per_utt = [float(v) for v in _table(out / "wer").values()]

    assert score_main(["--summarize", str(out)]) == 0
    summary = yaml.safe_load((out / "summary.yaml").read_text())["metrics"]
    assert summary["wer"]["value"] == pytest.approx(expected)
    assert summary["wer"]["mean"] == pytest.approx(sum(per_utt) / 3)
    assert summary["cer"]["value"] == pytest.approx(
        100 * jiwer.cer([refs[k] for k in sorted(refs)], [norm_hyps[k] for k in sorted(refs)])
    )
    trn = set((out / "ref.trn").read_text().splitlines())  # sclite input: any line order
    assert "THE WEATHER IS NICE TODAY ISN'T IT (utt1)" in trn and len(trn) == 3
    assert set((out / "hyp.trn").read_text().splitlines()) == {f"{norm_hyps[k]} ({k})".lstrip() for k in SENTENCES}


def test_plugin_recogniser_gives_exact_set_level_wer_in_results_md_and_page(signals, tmp_path):
    """Every hypothesis is 'the weather is nice': errors 3/7, 11/11, 9/9 -> 23/27 words (85.185 %),
    while the mean of per-utterance WERs would be 80.952 %."""
    data = write_set(tmp_path / "data" / "test", signals["clean"])
    scores = tmp_path / "scores" / "test"
    plugin = ["--recognizer", "asr_data:FixedRecognizer", "--recognizer-conf", "{text: 'The weather is nice.'}"]
    for system, jobs in (("clean", 1), ("enh", 3)):
        logdir = tmp_path / "logdir" / system
        logdir.mkdir(parents=True)
        _run_jobs(data / "wav.scp", data / "text", logdir, jobs, *plugin)
        _merge(logdir, scores / system, jobs)
    assert _table(scores / "enh" / "wer.counts") == {"utt1": "3 7", "utt2": "11 11", "utt3": "9 9"}
    assert _table(scores / "enh" / "wer")["utt1"] == "42.857143"

    results_md, page = tmp_path / "RESULTS.md", tmp_path / "page"
    argv = ["--results-md", str(results_md), "--scores-root", str(tmp_path / "scores"), "--page-dir", str(page)]
    assert report_main([*argv, "--data-root", str(tmp_path / "data"), "--num-utts", "1"]) == 0
    rows = [line for line in results_md.read_text().splitlines() if line.startswith("|")]
    header = rows[0].strip("|").split("|")
    enh = dict(zip(header, next(r for r in rows if r.startswith("|enh|")).strip("|").split("|")))
    assert enh["wer"] == "85.185" and enh["n"] == "3" and enh["failed"] == "0"
    assert "<td>42.857</td>" in (page / "index.html").read_text()  # utt1's WER on the listening page


def test_empty_reference_is_listed_not_averaged(tmp_path, signals):
    data = write_set(tmp_path / "test", {"utt1": signals["clean"]["utt1"]}, text=False)
    (data / "text").write_text("utt1 [noise]\n")  # nothing left after normalisation
    plugin = ["--recognizer", "asr_data:FixedRecognizer", "--recognizer-conf", "{text: 'hello'}"]
    out = tmp_path / "out"
    assert main(["--est-scp", str(data / "wav.scp"), "--text", str(data / "text"), "--out-dir", str(out), *plugin]) == 0
    assert (out / "wer").read_text() == ""
    assert (out / "wer.counts").read_text() == "utt1 1 0\n"
    assert (out / "asr.failed").read_text().startswith("utt1 wer empty reference")


def test_missing_text_names_the_set(tmp_path, signals, capsys):
    data = write_set(tmp_path / "test_ood", {"utt1": signals["clean"]["utt1"]}, text=False)
    out = tmp_path / "out"
    assert main(["--est-scp", str(data / "wav.scp"), "--text", str(data / "text"), "--out-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "test set 'test_ood' has no transcripts" in err and str(data / "text") in err
    assert not out.exists()


def test_key_without_transcript_and_bad_options_are_clear_errors(tmp_path, signals, capsys):
    data = write_set(tmp_path / "test", {"utt1": signals["clean"]["utt1"], "utt2": signals["clean"]["utt2"]})
    (data / "text").write_text("utt1 hello\n")
    argv = ["--est-scp", str(data / "wav.scp"), "--text", str(data / "text"), "--out-dir", str(tmp_path / "o")]
    plugin = ["--recognizer", "asr_data:FixedRecognizer", "--recognizer-conf", "{text: 'hello'}"]
    assert main([*argv, *plugin]) == 1
    assert f"{data / 'text'}: no transcript for utterance 'utt2'" in capsys.readouterr().err
    assert main([*argv, "--recognizer", "nope"]) == 1
    assert "unknown recognizer 'nope'" in capsys.readouterr().err
    assert main([*argv, *plugin[:2], "--recognizer-conf", "[1, 2]"]) == 1
    assert "expected a YAML mapping" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
