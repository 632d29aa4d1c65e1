"""mal-asr-score logs "k/N utterances, ETA" lines when stderr is not a terminal."""
from __future__ import annotations

import logging

from asr_data import write_set

from mal.bin.asr_score import main


def test_asr_score_logs_progress(tmp_path, signals, caplog, monkeypatch):
    monkeypatch.setenv("MAL_PROGRESS_SECONDS", "0")
    caplog.set_level(logging.INFO)
    data = write_set(tmp_path / "test", signals["clean"])
    plugin = ["--recognizer", "asr_data:FixedRecognizer", "--recognizer-conf", "{text: 'hello'}"]
    assert main(["--est-scp", str(data / "wav.scp"), "--text", str(data / "text"), "--out-dir", str(tmp_path / "o"), *plugin]) == 0
    n = len(signals["clean"])
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("mal-asr-score: ")]
    assert [m.split()[1] for m in lines] == [f"{k}/{n}" for k in range(1, n + 1)] and all("ETA" in m for m in lines)
