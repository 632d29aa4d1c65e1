"""Loss curves from log.csv on the listening page (mal-report --exp-dir)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.image import imread
from score_helpers import build_experiment

from mal.bin.report import main
from mal.score.curves import CurveError, plot_training_curves, read_log_csv

LOG_CSV = "epoch,step,lr,train_loss,valid_loss,valid_sisdri\n1,100,0.001,0.9,0.8,1.5\n2,200,0.001,0.6,0.7,2.5\n3,300,0.0005,0.5,0.65,3.0\n"


def test_curves_png_is_drawn_from_the_log(tmp_path):
    (tmp_path / "log.csv").write_text(LOG_CSV)
    assert read_log_csv(tmp_path / "log.csv")["valid_sisdri"] == [1.5, 2.5, 3.0]
    out = plot_training_curves(tmp_path / "log.csv", tmp_path / "curves.png", title="warmup")
    image = imread(out)
    assert image.shape[1] > image.shape[0] > 100  # two panels side by side
    assert np.std(image[..., :3]) > 0.05  # something is drawn


def test_a_log_without_a_loss_column_is_a_clear_error(tmp_path):
    (tmp_path / "log.csv").write_text("epoch,lr\n1,0.1\n")
    with pytest.raises(CurveError, match="log.csv: no train_loss or valid_loss"):
        plot_training_curves(tmp_path / "log.csv", tmp_path / "x.png")


def test_report_shows_a_curve_per_trained_system(speech, tmp_path):
    experiment = build_experiment(tmp_path, speech)
    exp_dir = tmp_path / "exp"
    (exp_dir / "sys_a").mkdir()
    (exp_dir / "sys_a" / "log.csv").write_text(LOG_CSV)  # sys_b and the peers have no log.csv
    page = tmp_path / "report"
    assert main([
        "--results-md", str(tmp_path / "RESULTS.md"), "--scores-root", str(experiment["scores_root"]),
        "--page-dir", str(page), "--num-utts", "1", "--exp-dir", str(exp_dir),
    ]) == 0
    index = (page / "index.html").read_text()
    curves = re.findall(r'<img class="curve" src="([^"]+)"', index)
    assert curves == ["img/training/sys_a.png"]
    assert (page / curves[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
