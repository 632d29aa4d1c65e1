"""utils/subset_data_dir.sh: N utterances of a data dir, every per-utterance table filtered."""
from __future__ import annotations

from pathlib import Path


def _speaker_sorted_dir(root: Path) -> Path:
    """12 utterances of 3 speakers, ids prefixed by speaker (so a sorted list is speaker-sorted)."""
    root.mkdir()
    utts = [f"spk{s}-u{i:02d}" for s in "ABC" for i in range(4)]
    (root / "wav.scp").write_text("".join(f"{u} /audio/{u}.wav\n" for u in utts))
    (root / "spk1.scp").write_text("".join(f"{u} /audio/{u}_clean.wav\n" for u in utts))
    (root / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    (root / "utt2category").write_text("".join(f"{u} kind{i % 2}\n" for i, u in enumerate(utts)))
    (root / "text").write_text("".join(f"{u} words of {u}\n" for u in utts))
    (root / "spk2gender").write_text("spkA f\nspkB m\nspkC f\n")
    (root / "notes.txt").write_text("not a table\n")
    return root


def _keys(path: Path) -> list:
    return [line.split()[0] for line in path.read_text().splitlines()]


def test_default_subset_is_evenly_spaced_over_speakers(tmp_path, run_tool):
    src = _speaker_sorted_dir(tmp_path / "data")
    before = {p.name: p.read_text() for p in src.iterdir()}
    res = run_tool(["subset_data_dir.sh", src, "6", tmp_path / "sub"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    sub = tmp_path / "sub"
    kept = _keys(sub / "utt2spk")
    assert len(kept) == 6
    assert {u.split("-")[0] for u in kept} == {"spkA", "spkB", "spkC"}  # two of each, not the first speaker's four
    for name in ("wav.scp", "spk1.scp", "utt2category", "text"):
        assert _keys(sub / name) == kept, name
    assert sorted((sub / "spk2utt").read_text().split()) == sorted(["spkA", "spkB", "spkC", *kept])
    assert _keys(sub / "spk2gender") == ["spkA", "spkB", "spkC"]
    assert not (sub / "notes.txt").exists()
    assert not list(sub.glob(".subset.*"))  # no temporary dir left behind
    assert {p.name: p.read_text() for p in src.iterdir()} == before  # the source is never written


def test_first_and_more_than_there_are(tmp_path, run_tool):
    src = _speaker_sorted_dir(tmp_path / "data")
    assert run_tool(["subset_data_dir.sh", "--first", src, "3", tmp_path / "first"], cwd=tmp_path).returncode == 0
    assert _keys(tmp_path / "first" / "wav.scp") == ["spkA-u00", "spkA-u01", "spkA-u02"]
    assert run_tool(["subset_data_dir.sh", src, "50", tmp_path / "all"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "all" / "wav.scp").read_text() == (src / "wav.scp").read_text()


def test_bad_arguments_are_one_line_errors(tmp_path, run_tool):
    src = _speaker_sorted_dir(tmp_path / "data")
    for args, says in (([src, "0", tmp_path / "x"], "positive whole number"),
                       ([tmp_path / "missing", "2", tmp_path / "x"], "utt2spk: file not found"),
                       ([src, "2", src], "the same dir")):
        res = run_tool(["subset_data_dir.sh", *args], cwd=tmp_path)
        assert res.returncode != 0
        assert says in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert sorted(p.name for p in src.iterdir()) == sorted(
        ["wav.scp", "spk1.scp", "utt2spk", "utt2category", "text", "spk2gender", "notes.txt"])
