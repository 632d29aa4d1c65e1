"""batch.normalize_rms: every example is scaled so its noisy RMS is the same, in training and validation."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import soundfile as sf

from helpers.configs import run_args, write_config
from mal.bin.train import main
from mal.io.scp import read_scp
from mal.train.config import ConfigError, build_config
from helpers.configs import tiny_config


def scaled_copy(src: Path, dst: Path, gain: float) -> Path:
    """``src`` with every noisy and clean file multiplied by ``gain``."""
    dst.mkdir(parents=True)
    for table in ("wav.scp", "spk1.scp"):
        lines = []
        for key, path in read_scp(src / table).items():
            wav, rate = sf.read(path, dtype="float32")
            out = dst / f"{key}_{table.split('.')[0]}.wav"
            sf.write(out, wav * gain, rate, subtype="FLOAT")
            lines.append(f"{key} {out}\n")
        (dst / table).write_text("".join(lines))
    for table in ("utt2spk", "spk2utt", "utt2num_samples"):
        (dst / table).write_text((src / table).read_text())
    return dst


def losses(tmp_path: Path, data_dirs: tuple, name: str, normalize_rms) -> list:
    config = write_config(tmp_path / f"{name}.yaml", batch={"batch_size": 4, "segment_seconds": 0.5, "num_workers": 0, "normalize_rms": normalize_rms},
                          train={"max_epochs": 1, "steps_per_epoch": 3, "seed": 0, "keep_nbest": 1, "amp": False})
    assert main(run_args(config, data_dirs, tmp_path / name)) == 0
    with open(tmp_path / name / "log.csv") as f:
        row = next(csv.DictReader(f))
    return [float(row["train_loss"]), float(row["valid_loss"])]


def test_normalized_training_does_not_depend_on_the_input_level(tmp_path, data_dirs):
    quiet = tuple(scaled_copy(d, tmp_path / f"quiet_{i}", 0.1) for i, d in enumerate(data_dirs))
    assert losses(tmp_path, data_dirs, "a", 0.05) == pytest.approx(losses(tmp_path, quiet, "b", 0.05), rel=1e-3)
    # without it the same model and seed see other numbers (the L1 loss scales with the level)
    plain, plain_quiet = losses(tmp_path, data_dirs, "c", None), losses(tmp_path, quiet, "d", None)
    assert plain[1] > 1.5 * plain_quiet[1]


@pytest.mark.parametrize("value", [0, -0.05, "loud"])
def test_bad_normalize_rms_is_refused_naming_the_key(value):
    with pytest.raises(ConfigError, match="batch.normalize_rms"):
        build_config(tiny_config(batch={"normalize_rms": value}))
