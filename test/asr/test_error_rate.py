"""Error counts per utterance, and the set-level rate (total errors / total words) through
mal.score.summary and RESULTS.md."""
from __future__ import annotations

import pytest

from mal.asr import char_errors, total, word_errors
from mal.score.results_md import collect_results, render_results_md, table_rows
from mal.score.summary import read_scores_dir, summarize, write_summary


def test_word_error_counts():
    counts = word_errors("A B C D", "A X C")
    assert (counts.substitutions, counts.deletions, counts.insertions, counts.length) == (1, 1, 0, 4)
    assert counts.errors == 2 and counts.rate == pytest.approx(50.0)
    assert word_errors("A B", "A B C D").rate == pytest.approx(100.0)  # two insertions
    assert word_errors("A B", "").deletions == 2
    empty = word_errors("", "A")
    assert empty.insertions == 1 and empty.length == 0 and empty.rate is None


def test_character_error_counts_include_word_boundaries():
    counts = char_errors("AB CD", "AB D")
    assert counts.length == 5 and counts.errors == 1
    assert char_errors("ABCD", "AB CD").errors == 1  # a split word costs one insertion


def test_set_level_rate_is_total_errors_over_total_words():
    utterances = [word_errors("A B", "X B"), word_errors("A B C D E F G H", "A B C D E F G H")]
    assert [u.rate for u in utterances] == [50.0, 0.0]
    assert total(utterances).rate == pytest.approx(100 * 1 / 10)  # not the mean, 25 %


def _write(directory, name, lines):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("".join(line + "\n" for line in lines))


def test_summary_and_results_md_show_the_set_level_wer(tmp_path):
    system = tmp_path / "test" / "enh"
    _write(system, "wer", ["u1 50.000000", "u2 0.000000"])
    _write(system, "wer.counts", ["u1 1 2", "u2 0 8"])
    _write(system, "pesq_wb", ["u1 2.0", "u2 3.0"])
    _write(system, "failed", [])
    _write(system, "asr.failed", ["u3 wer empty reference after text normalisation"])
    scores = read_scores_dir(system)
    assert scores.metrics == ["pesq_wb", "wer"]  # wer.counts and asr.failed are no columns
    summary = summarize(scores)
    assert summary["wer"]["value"] == pytest.approx(10.0)
    assert summary["wer"]["mean"] == pytest.approx(25.0)
    assert (summary["wer"]["errors"], summary["wer"]["length"], summary["wer"]["failed"]) == (1, 10, 1)
    assert summary["pesq_wb"]["value"] == pytest.approx(2.5) and summary["pesq_wb"]["aggregate"] == "mean"
    assert write_summary(system)["metrics"]["wer"]["value"] == pytest.approx(10.0)

    results = collect_results(tmp_path)
    header, rows = table_rows(results[0])
    assert rows[0][header.index("wer")] == "10.000 (n=2, 1 failed)"
    text = render_results_md(results, [("date", "now")])
    assert "`wer`: error rate of the whole set" in text


def test_a_malformed_counts_file_is_an_error_naming_it(tmp_path):
    _write(tmp_path, "wer", ["u1 50.0"])
    _write(tmp_path, "wer.counts", ["u1 1"])
    with pytest.raises(ValueError, match=r"wer\.counts:1: utterance 'u1'"):
        read_scores_dir(tmp_path)
