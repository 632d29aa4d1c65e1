"""utils/combine_data.sh: data dirs joined, tables only some sources have left out, clashes refused."""
from __future__ import annotations

from pathlib import Path


def _dir(root: Path, prefix: str, speakers: str, extra: bool) -> Path:
    root.mkdir()
    utts = [f"{prefix}{s}-{i}" for s in speakers for i in range(2)]
    (root / "wav.scp").write_text("".join(f"{u} /a/{u}.wav\n" for u in reversed(utts)))
    (root / "spk1.scp").write_text("".join(f"{u} /a/{u}_clean.wav\n" for u in utts))
    (root / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    if extra:
        (root / "utt2category").write_text("".join(f"{u} music\n" for u in utts))
    return root


def test_tables_all_sources_have_are_joined_and_sorted(tmp_path, run_tool):
    a, b = _dir(tmp_path / "a", "x", "AB", extra=True), _dir(tmp_path / "b", "y", "C", extra=False)
    before = {p: p.read_text() for d in (a, b) for p in d.iterdir()}
    res = run_tool(["combine_data.sh", tmp_path / "ab", a, b], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "ab"
    keys = [line.split()[0] for line in (out / "wav.scp").read_text().splitlines()]
    assert keys == sorted(keys) and len(keys) == 6
    for name in ("spk1.scp", "utt2spk"):
        assert [line.split()[0] for line in (out / name).read_text().splitlines()] == keys
    assert sorted(line.split()[0] for line in (out / "spk2utt").read_text().splitlines()) == ["xA", "xB", "yC"]
    assert not (out / "utt2category").exists() and "utt2category left out" in res.stderr
    assert {p: p.read_text() for d in (a, b) for p in d.iterdir()} == before


def test_noise_dirs_without_speakers_and_clashing_ids(tmp_path, run_tool):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, keys in ((a, "n1 n2"), (b, "n3")):
        d.mkdir()
        (d / "wav.scp").write_text("".join(f"{k} /n/{k}.wav\n" for k in keys.split()))
        (d / "utt2category").write_text("".join(f"{k} rain\n" for k in keys.split()))
    assert run_tool(["combine_data.sh", tmp_path / "ab", a, b], cwd=tmp_path).returncode == 0
    assert (tmp_path / "ab" / "utt2category").read_text().split()[::2] == ["n1", "n2", "n3"]
    res = run_tool(["combine_data.sh", tmp_path / "aa", a, a], cwd=tmp_path)
    assert res.returncode != 0 and "'n1' is in more than one source" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = run_tool(["combine_data.sh", a, a, b], cwd=tmp_path)
    assert res.returncode != 0 and "is also a source" in res.stderr
