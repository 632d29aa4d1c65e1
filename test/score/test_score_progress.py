"""mal-score logs "k/N utterances, ETA" as it goes and leaves only the metric files at the end."""
from __future__ import annotations

import logging


from helpers.audio import add_noise
from mal.bin.score import main
from score_helpers import write_scp_dir


def test_score_cli_logs_progress_and_removes_the_partial_file(speech, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("MAL_PROGRESS_SECONDS", "0")
    caplog.set_level(logging.INFO)
    ref = write_scp_dir(tmp_path, "clean", dict(speech))
    est = write_scp_dir(tmp_path, "est", {k: add_noise(v, 5.0, seed=i) for i, (k, v) in enumerate(speech.items())})
    out = tmp_path / "scores"
    assert main(["--ref-scp", str(ref), "--est-scp", str(est), "--out-dir", str(out), "--metrics", "sisdr"]) == 0
    n = len(speech)
    progress = [r.getMessage() for r in caplog.records if "utterances (" in r.getMessage()]
    assert [m.split(": ")[1].split(" ")[0] for m in progress] == [f"{k}/{n}" for k in range(1, n + 1)]
    assert all("ETA" in m for m in progress)
    assert sorted(p.name for p in out.iterdir()) == ["failed", "sisdr"]
