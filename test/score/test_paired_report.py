"""mal-report --paired: differences of systems trained in pairs (one per seed), mean +- s.e. over pairs."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from mal.bin.report import main as report_main
from mal.score.paired import paired_differences, parse_pairs
from mal.score.results_md import collect_results


def write_system(root: Path, test_set: str, system: str, pesq: dict, wer_counts: dict = None) -> None:
    out = root / test_set / system
    out.mkdir(parents=True)
    (out / "pesq_wb").write_text("".join(f"{k} {v}\n" for k, v in sorted(pesq.items())))
    if wer_counts is not None:
        (out / "wer").write_text("".join(f"{k} {100.0 * e / n}\n" for k, (e, n) in sorted(wer_counts.items())))
        (out / "wer.counts").write_text("".join(f"{k} {e} {n}\n" for k, (e, n) in sorted(wer_counts.items())))


@pytest.fixture
def scores_root(tmp_path: Path) -> Path:
    root = tmp_path / "scores"
    write_system(root, "test", "noisy", {"u1": 1.0, "u2": 1.0})
    # pair 1: +0.5 and +0.1 -> +0.3; pair 2: -0.1 on the one common utterance (u3 only in mal_seed2)
    write_system(root, "test", "mal", {"u1": 2.0, "u2": 1.5}, {"u1": (1, 10), "u2": (3, 10)})
    write_system(root, "test", "continued", {"u1": 1.5, "u2": 1.4}, {"u1": (2, 10), "u2": (4, 10)})
    write_system(root, "test", "mal_seed2", {"u1": 1.4, "u3": 9.0}, {"u1": (2, 10), "u2": (2, 10)})
    write_system(root, "test", "continued_seed2", {"u1": 1.5, "u2": 1.0}, {"u1": (2, 10), "u2": (2, 10)})
    return root


def test_differences_are_paired_per_utterance_then_summarised_over_pairs(scores_root):
    pairs = parse_pairs("mal=continued, mal_seed2=continued_seed2")
    diffs = {d.metric: d for d in paired_differences(collect_results(scores_root), pairs)}
    pesq = diffs["pesq_wb"]
    assert pesq.per_pair == pytest.approx([0.3, -0.1])
    assert pesq.mean == pytest.approx(0.1)
    assert pesq.standard_error == pytest.approx(math.sqrt(((0.2 ** 2) * 2) / 1 / 2))  # std(ddof=1) / sqrt(2)
    assert pesq.utterances == 1  # pair 2 shares one utterance
    wer = diffs["wer"]  # set-level rates: (4/20 - 6/20) and (4/20 - 4/20), in points
    assert wer.per_pair == pytest.approx([-10.0, 0.0])


def test_report_writes_the_section(scores_root, tmp_path):
    md = tmp_path / "RESULTS.md"
    assert report_main(["--results-md", str(md), "--scores-root", str(scores_root),
                        "--paired", "mal=continued mal_seed2=continued_seed2"]) == 0
    text = md.read_text()
    section = text[text.index("## Paired differences"):]
    row = next(line for line in section.splitlines() if line.startswith("|test|"))
    assert "+0.100 +- 0.200 (+0.300, -0.100)" in row
    assert "-5.000 +- 5.000 (-10.000, +0.000)" in row


def test_bad_pairs_are_one_line_errors(scores_root, tmp_path, capsys):
    md = tmp_path / "RESULTS.md"
    assert report_main(["--results-md", str(md), "--scores-root", str(scores_root), "--paired", "mal"]) == 1
    assert "'mal' is not 'system=reference'" in capsys.readouterr().err
    assert report_main(["--results-md", str(md), "--scores-root", str(scores_root), "--paired", "mal=nope"]) == 1
    err = capsys.readouterr().err
    assert "no scores of 'nope' for test set 'test'" in err and len(err.strip().splitlines()) == 1
    assert not md.exists()
