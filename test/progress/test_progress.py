"""Progress as log lines when stderr is not a terminal: the helper, mal-enhance and mal-score."""
from __future__ import annotations

import io
import logging
import re

import numpy as np
import soundfile as sf

from mal.enhance.inference import enhance_scp
from mal.progress import ProgressLog, format_duration, progress
from mal.score.partial import PARTIAL, PartialScores

LINE = re.compile(r"(\w[\w-]*): (\d+)/(\d+) utterances \((\d+)%\), elapsed [\d.hms]+, ETA ([\d.hms]+|\?)")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress_lines(caplog):
    return [m.groups() for m in (LINE.search(r.getMessage()) for r in caplog.records) if m]


def test_logs_every_item_with_eta_when_the_interval_is_zero(caplog, monkeypatch):
    monkeypatch.setenv("MAL_PROGRESS_SECONDS", "0")
    caplog.set_level(logging.INFO)
    assert list(progress(range(4), desc="job", stream=io.StringIO())) == [0, 1, 2, 3]
    lines = progress_lines(caplog)
    assert [(d, int(k), int(n)) for d, k, n, _, _ in lines] == [("job", k, 4) for k in (1, 2, 3, 4)]
    assert lines[-1][3] == "100" and lines[-1][4] == "0.0s"


def test_a_long_interval_logs_only_the_first_and_the_last_item(caplog, monkeypatch):
    monkeypatch.setenv("MAL_PROGRESS_SECONDS", "3600")
    caplog.set_level(logging.INFO)
    list(progress(list("abcdefgh"), desc="job", stream=io.StringIO()))
    assert [int(k) for _, k, _, _, _ in progress_lines(caplog)] == [1, 8]


def test_a_terminal_gets_a_bar_and_no_log_lines(caplog, monkeypatch):
    monkeypatch.setenv("MAL_PROGRESS_SECONDS", "0")
    caplog.set_level(logging.INFO)
    tty = Tty()
    assert list(progress(range(3), desc="job", stream=tty)) == [0, 1, 2]
    assert progress_lines(caplog) == [] and "3/3" in tty.getvalue()


def test_eta_extrapolates_the_rate_so_far():
    log = ProgressLog(total=10, desc="x", interval=3600)
    log.started -= 20.0  # 20 s for the first 4 items -> 30 s for the other 6
    log.done = 4
    assert log.line().endswith("ETA 30.0s")
    assert format_duration(75) == "1m15s" and format_duration(3700) == "1h01m"


def test_enhance_scp_logs_progress(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("MAL_PROGRESS_SECONDS", "0")
    caplog.set_level(logging.INFO)
    lines = []
    for k in range(3):
        path = tmp_path / f"u{k}.wav"
        sf.write(path, np.full(800, 0.1 * (k + 1), dtype=np.float32), 16000)
        lines.append(f"u{k} {path}\n")
    (tmp_path / "wav.scp").write_text("".join(lines))

    class Halve:
        def enhance(self, wav, rate):
            return wav * 0.5

    enhance_scp(Halve(), tmp_path / "wav.scp", tmp_path / "out")
    assert [(d, int(k), int(n)) for d, k, n, _, _ in progress_lines(caplog)] == [("enhance", k, 3) for k in (1, 2, 3)]


def test_partial_scores_are_on_disk_before_the_job_ends(tmp_path):
    partial = PartialScores(tmp_path)
    partial.add("utt1", {"pesq_wb": 2.5, "stoi": 0.9}, {})
    partial.add("utt2", {"stoi": 0.8}, {"pesq_wb": "silent"})
    assert (tmp_path / PARTIAL).read_text().splitlines() == [
        "utt1 pesq_wb=2.500000 stoi=0.900000",
        "utt2 stoi=0.800000 pesq_wb=FAILED",
    ]
    partial.close(remove=True)
    assert not (tmp_path / PARTIAL).exists()
