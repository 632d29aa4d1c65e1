"""utils/fix_data_dir.sh on messy data dirs."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import soundfile as sf


def _make_dir(root: Path, tables: Dict[str, str]) -> Path:
    root.mkdir()
    for name, text in tables.items():
        (root / name).write_text(text)
    return root


def test_messy_dir_is_sorted_and_intersected(tmp_path, run_tool):
    # real (tiny) audio, so the entries point at files a reader could open
    wav_dir = tmp_path / "wav"
    wav_dir.mkdir()
    rng = np.random.default_rng(0)
    for name in ("u1", "u2", "u3", "u4"):
        for kind in ("mix", "clean", "noise"):
            sf.write(wav_dir / f"{name}_{kind}.wav", rng.standard_normal(8000).astype(np.float32) * 0.1, 16000)
    w = str(wav_dir)
    d = _make_dir(tmp_path / "data", {
        # unsorted, a repeated key, a blank line; u4 has no clean reference
        "wav.scp": f"u3 {w}/u3_mix.wav\nu1 {w}/u1_mix.wav\n\nu2 {w}/u2_mix.wav\nu4 {w}/u4_mix.wav\nu1 {w}/dup.wav\n",
        "spk1.scp": f"u2 {w}/u2_clean.wav\nu1 {w}/u1_clean.wav\nu3 {w}/u3_clean.wav\n",
        "noise1.scp": "".join(f"u{i} {w}/u{i}_noise.wav\n" for i in (4, 3, 2, 1)),
        # u5 only here
        "utt2spk": "u1 spkA\nu2 spkB\nu3 spkA\nu4 spkB\nu5 spkC\n",
        "text": "u3 hello   there world\nu1 one\nu2 two\nu4 four\n",
        "utt2num_samples": "u1 8000\nu2 8000\nu3 8000\nu4 8000\n",
        "spk2utt": "stale entries\n",
        "notes.txt": "left alone\n",
    })
    originals = {p.name: p.read_text() for p in d.iterdir()}
    res = run_tool(["fix_data_dir.sh", d], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"kept 3 of 5 utterances in {d} (removed 2)" in res.stdout
    assert "spk1.scp lacks 2 of the 5 utterances" in res.stdout
    assert "wav.scp: dropped 1 line(s) with a repeated key" in res.stdout
    assert (d / "wav.scp").read_text() == f"u1 {w}/u1_mix.wav\nu2 {w}/u2_mix.wav\nu3 {w}/u3_mix.wav\n"
    for name in ("spk1.scp", "noise1.scp", "utt2spk", "text", "utt2num_samples"):
        keys = [line.split()[0] for line in (d / name).read_text().splitlines()]
        assert keys == ["u1", "u2", "u3"], name
    assert (d / "text").read_text().splitlines()[2] == "u3 hello   there world"  # values kept verbatim
    assert (d / "spk2utt").read_text() == "spkA u1 u3\nspkB u2\n"
    assert (d / "notes.txt").read_text() == "left alone\n"
    backup = {p.name: p.read_text() for p in (d / ".backup").iterdir()}
    assert backup == {k: v for k, v in originals.items() if k != "notes.txt"}
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == [".backup"]  # no temp left
    # a second run finds nothing to remove
    res = run_tool(["fix_data_dir.sh", d], cwd=tmp_path)
    assert res.returncode == 0 and "kept 3 of 3 utterances" in res.stdout and "lacks" not in res.stdout


def test_segments_make_wav_scp_per_recording(tmp_path, run_tool):
    d = _make_dir(tmp_path / "data", {
        "wav.scp": "r2 r2.wav\nr1 r1.wav\nr3 r3.wav\n",
        "segments": "r1-b r1 1.0 2.0\nr1-a r1 0.0 1.0\nr4-a r4 0 1\nr2-a r2 0 1\n",
        "utt2spk": "r1-a s\nr1-b s\nr4-a s\nr2-a t\n",
        "utt2num_samples": "r1-a 16000\nr1-b 16000\nr4-a 16000\n",
    })
    res = run_tool(["fix_data_dir.sh", d], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "1 utterance(s) in segments name a recording missing from wav.scp" in res.stdout
    assert "kept 2 of 4 utterances" in res.stdout
    assert (d / "segments").read_text() == "r1-a r1 0.0 1.0\nr1-b r1 1.0 2.0\n"
    assert (d / "wav.scp").read_text() == "r1 r1.wav\n"
    assert (d / "spk2utt").read_text() == "s r1-a r1-b\n"


def test_nothing_in_common_changes_nothing(tmp_path, run_tool):
    d = _make_dir(tmp_path / "data", {"wav.scp": "a x\n", "spk1.scp": "b y\n"})
    res = run_tool(["fix_data_dir.sh", d], cwd=tmp_path)
    assert res.returncode == 1 and "no utterance is in every table" in res.stderr
    assert (d / "wav.scp").read_text() == "a x\n" and (d / "spk1.scp").read_text() == "b y\n"
    assert sorted(p.name for p in d.iterdir()) == ["spk1.scp", "wav.scp"]


def test_missing_dir_or_wav_scp(tmp_path, run_tool):
    res = run_tool(["fix_data_dir.sh", tmp_path / "nope"], cwd=tmp_path)
    assert res.returncode == 1 and "nope: no such directory" in res.stderr
    d = _make_dir(tmp_path / "data", {"utt2spk": "a s\n"})
    res = run_tool(["fix_data_dir.sh", d], cwd=tmp_path)
    assert res.returncode == 1 and "wav.scp: file not found" in res.stderr


def test_extra_files_options_as_espnet_calls_them(tmp_path, run_tool):
    """``--utt_extra_files "spk1.scp noise1.scp rt60"`` (as ESPnet's enh.sh calls it): accepted; a
    named file that is not a table already (*.scp, utt2*) is filtered to the kept utterances
    without limiting them; speaker extras likewise."""
    d = _make_dir(tmp_path / "data", {
        "wav.scp": "u2 /a/u2.wav\nu1 /a/u1.wav\nu3 /a/u3.wav\n",
        "spk1.scp": "u1 /c/u1.wav\nu2 /c/u2.wav\n",               # no u3: u3 goes
        "noise1.scp": "u1 /n/u1.wav\nu2 /n/u2.wav\nu3 /n/u3.wav\n",
        "utt2spk": "u1 sA\nu2 sB\nu3 sA\n",
        "rt60": "u3 0.3\nu1 0.5\n",                              # lacks u2: u2 stays, rt60 is an extra
        "spk2lang": "sB en\nsA de\nsC fr\n",
    })
    res = run_tool(["fix_data_dir.sh", "--utt_extra_files", "spk1.scp noise1.scp rt60 absent.txt",
                    "--spk_extra_files", "spk2lang", d], cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (d / "wav.scp").read_text() == "u1 /a/u1.wav\nu2 /a/u2.wav\n"
    assert (d / "noise1.scp").read_text() == "u1 /n/u1.wav\nu2 /n/u2.wav\n"
    assert (d / "rt60").read_text() == "u1 0.5\n"
    assert (d / "spk2lang").read_text() == "sA de\nsB en\n"
    assert (d / ".backup" / "rt60").read_text() == "u3 0.3\nu1 0.5\n"
    res = run_tool(["fix_data_dir.sh", "--utt-extra-files=rt60", d], cwd=tmp_path)  # the = form
    assert res.returncode == 0, res.stdout + res.stderr
    res = run_tool(["fix_data_dir.sh", "--bogus", "x", d], cwd=tmp_path)
    assert res.returncode == 1 and "unknown option --bogus" in res.stderr
