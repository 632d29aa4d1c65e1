"""bench/oracle_mask.py: oracle masks built from a pair's own clean signal beat its noisy input,
the unclipped complex mask gives the clean signal back, and a set without references, a key
without a reference or an unreadable file is one error line naming it."""
from __future__ import annotations

import numpy as np

from bench.oracle_mask import main, oracle_masks
from helpers.audio import SR, add_noise, harmonic
from helpers.datadir import make_data_dir
from mal.score.metrics import sisdr


def test_unbounded_complex_mask_returns_the_clean_signal_and_the_irm_improves_on_noisy():
    clean = harmonic(1.0, 140, 0, SR)
    noisy = add_noise(clean, 0.0, np.random.default_rng(0))
    out = oracle_masks(noisy, clean, 512, 128, bound=1e6)
    assert sisdr(clean, out["cirm"]) > 60
    assert sisdr(clean, out["irm"]) > sisdr(clean, noisy) + 5
    bounded = oracle_masks(noisy, clean, 512, 128, bound=0.5)["cirm"]
    assert sisdr(clean, bounded) < sisdr(clean, out["cirm"])


def test_table_per_set_and_missing_references_name_the_dir(tmp_path, capsys):
    make_data_dir(tmp_path / "data" / "tones", num=2, seconds=0.5)
    assert main(["--data", str(tmp_path / "data"), "--sets", "tones"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ") and "system" not in line}
    assert set(rows) == {"noisy", "irm", "cirm"} and "### tones (n = 2)" in out
    spk1 = tmp_path / "data" / "tones" / "spk1.scp"
    first, second = spk1.read_text().splitlines()
    spk1.write_text(first + "\n")
    assert main(["--data", str(tmp_path / "data"), "--sets", "tones"]) == 1
    assert f"{spk1}: no clean reference for key '{second.split()[0]}' of wav.scp" in capsys.readouterr().err
    spk1.write_text(first.split()[0] + " /nonexistent.wav\n" + second + "\n")
    assert main(["--data", str(tmp_path / "data"), "--sets", "tones"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("oracle_mask: error:") and first.split()[0] in err[0]
    spk1.unlink()
    assert main(["--data", str(tmp_path / "data"), "--sets", "tones"]) == 1
    assert "tones: needs wav.scp and spk1.scp" in capsys.readouterr().err
