"""utils/split_scp.pl, filter_scp.pl, utt2spk_to_spk2utt.pl, spk2utt_to_utt2spk.pl."""
from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _lines(path: Path) -> List[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@pytest.mark.parametrize("num_lines,num_parts,sizes", [
    (10, 3, [4, 3, 3]), (10, 4, [3, 3, 2, 2]), (7, 7, [1] * 7), (5, 1, [5]),
])
def test_split_is_contiguous_and_balanced(tmp_path, run_tool, num_lines, num_parts, sizes):
    lines = [f"utt{i:03d} /data/utt{i:03d}.wav" for i in range(num_lines)]
    scp = _write(tmp_path / "wav.scp", lines)
    outs = [tmp_path / f"keys.{j}.scp" for j in range(1, num_parts + 1)]
    res = run_tool(["split_scp.pl", scp] + outs, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    parts = [_lines(o) for o in outs]
    assert [len(p) for p in parts] == sizes
    assert sum(parts, []) == lines  # concatenated in order: contiguous, nothing lost


def test_split_more_parts_than_lines_fails(tmp_path, run_tool):
    scp = _write(tmp_path / "wav.scp", ["a x", "b y", "c z"])
    outs = [tmp_path / f"o.{j}" for j in range(1, 5)]
    res = run_tool(["split_scp.pl", scp] + outs, cwd=tmp_path)
    assert res.returncode != 0
    assert "cannot split" in res.stderr and "3 lines" in res.stderr and "4 parts" in res.stderr
    assert not any(o.exists() for o in outs)


def test_split_keeps_lines_of_one_key_together(tmp_path, run_tool):
    scp = _write(tmp_path / "in.scp", ["a 1", "b 1", "b 2", "b 3", "c 1", "d 1"])
    outs = [tmp_path / "o.1", tmp_path / "o.2"]
    assert run_tool(["split_scp.pl", scp] + outs, cwd=tmp_path).returncode == 0
    assert _lines(outs[0]) == ["a 1", "b 1", "b 2", "b 3"] and _lines(outs[1]) == ["c 1", "d 1"]
    _write(scp, ["a 1", "b 1", "a 2"])
    res = run_tool(["split_scp.pl", scp] + outs, cwd=tmp_path)
    assert res.returncode != 0 and "line 3: key 'a' also appears earlier" in res.stderr


def test_split_with_utt2spk_keeps_speakers_together(tmp_path, run_tool):
    spk_sizes = {"spkA": 3, "spkB": 1, "spkC": 4, "spkD": 1}
    utts = [(f"{spk}-u{i}", spk) for spk, n in spk_sizes.items() for i in range(n)]
    utt2spk = _write(tmp_path / "utt2spk", [f"{u} {s}" for u, s in utts])
    scp = _write(tmp_path / "wav.scp", [f"{u} {u}.wav" for u, _ in utts])
    outs = [tmp_path / f"o.{j}" for j in range(1, 4)]
    res = run_tool(["split_scp.pl", f"--utt2spk={utt2spk}", scp] + outs, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    speakers = [{line.split("-")[0] for line in _lines(o)} for o in outs]
    assert all(speakers) and all(not (a & b) for i, a in enumerate(speakers) for b in speakers[i + 1:])
    assert [len(_lines(o)) for o in outs] == [4, 4, 1]  # the most even split that keeps speakers whole
    res = run_tool(["split_scp.pl", "--utt2spk", utt2spk, scp] + [tmp_path / f"p.{j}" for j in range(5)],
                   cwd=tmp_path)
    assert res.returncode != 0 and "4 speakers" in res.stderr
    _write(utt2spk, [f"{u} {s}" for u, s in utts[1:]])
    res = run_tool(["split_scp.pl", f"--utt2spk={utt2spk}", scp] + outs, cwd=tmp_path)
    assert res.returncode != 0 and "key 'spkA-u0' is not in" in res.stderr


def test_split_one_part_to_stdout(tmp_path, run_tool):
    scp = _write(tmp_path / "wav.scp", [f"u{i} x" for i in range(5)])
    res = run_tool(["split_scp.pl", "--one-based", "-j", "2", "2", scp], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "u3 x\nu4 x\n"


def test_filter_scp(tmp_path, run_tool):
    scp = _write(tmp_path / "utt2spk", ["u1 s1", "u2 s2", "u3 s1", "u4 s3"])
    ids = _write(tmp_path / "ids", ["u3 anything else", "u1", "u9"])
    res = run_tool(["filter_scp.pl", ids, scp], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "u1 s1\nu3 s1\n"  # in.scp order
    res = run_tool(["filter_scp.pl", "--exclude", ids], cwd=tmp_path, stdin=scp.read_text())
    assert res.stdout == "u2 s2\nu4 s3\n"
    spk = _write(tmp_path / "spk", ["s1"])
    assert run_tool(["filter_scp.pl", "-f", "2", spk, scp], cwd=tmp_path).stdout == "u1 s1\nu3 s1\n"
    assert run_tool(["filter_scp.pl", "--exclude", "-f", "-1", spk, scp], cwd=tmp_path).stdout == "u2 s2\nu4 s3\n"
    res = run_tool(["filter_scp.pl", "-f", "3", spk, scp], cwd=tmp_path)
    assert res.returncode != 0 and "utt2spk line 1: no field 3" in res.stderr
    res = run_tool(["filter_scp.pl", tmp_path / "missing", scp], cwd=tmp_path)
    assert res.returncode != 0 and "cannot read" in res.stderr and "missing" in res.stderr


def test_utt2spk_spk2utt_round_trip(tmp_path, run_tool):
    utt2spk = _write(tmp_path / "utt2spk", ["a1 a", "b1 b", "a2 a", "c1 c", "b2 b"])
    res = run_tool(["utt2spk_to_spk2utt.pl", utt2spk], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "a a1 a2\nb b1 b2\nc c1\n"
    back = run_tool(["spk2utt_to_utt2spk.pl"], cwd=tmp_path, stdin=res.stdout)
    assert back.returncode == 0 and back.stdout == "a1 a\na2 a\nb1 b\nb2 b\nc1 c\n"
    _write(utt2spk, ["a1 a", "b1"])
    res = run_tool(["utt2spk_to_spk2utt.pl", utt2spk], cwd=tmp_path)
    assert res.returncode != 0 and "line 2: expected '<utt> <spk>'" in res.stderr
    res = run_tool(["spk2utt_to_utt2spk.pl"], cwd=tmp_path, stdin="a a1\nb\n")
    assert res.returncode != 0 and "line 2: speaker 'b' has no utterances" in res.stderr


def _best_max_part(sizes: List[int], parts: int) -> int:
    """Smallest possible largest part of a contiguous split into non-empty parts (brute force DP)."""
    from functools import lru_cache

    @lru_cache(None)
    def best(i: int, k: int) -> float:
        if k == 1:
            return sum(sizes[i:])
        return min(max(sum(sizes[i:j]), best(j, k - 1)) for j in range(i + 1, len(sizes) - k + 2))
    return int(best(0, parts))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=9), data=st.data())
def test_split_by_speaker_properties(tmp_path, run_tool, sizes, data):
    parts = data.draw(st.integers(1, len(sizes)))
    utts = [(f"s{g}-u{i}", f"s{g}") for g, n in enumerate(sizes) for i in range(n)]
    utt2spk = _write(tmp_path / "utt2spk", [f"{u} {s}" for u, s in utts])
    scp = _write(tmp_path / "wav.scp", [f"{u} x" for u, _ in utts])
    outs = [tmp_path / f"o.{j}" for j in range(parts)]
    res = run_tool(["split_scp.pl", f"--utt2spk={utt2spk}", scp] + outs, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    split = [_lines(o) for o in outs]
    assert sum(split, []) == [f"{u} x" for u, _ in utts]            # contiguous, complete
    assert all(split)                                                # no empty part
    owners = {}
    for j, lines in enumerate(split):
        for line in lines:
            assert owners.setdefault(line.split("-")[0], j) == j     # a speaker in one part only
    assert max(len(s) for s in split) == _best_max_part(sizes, parts)
