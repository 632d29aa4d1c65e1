"""mal.io.atomic (write_json, dir_lock) and mal.io.datadir.subset_data_dir."""
from __future__ import annotations

import json
import multiprocessing
import time

from mal.io.atomic import dir_lock, write_json
from mal.io.datadir import subset_data_dir
from mal.io.scp import read_scp


def test_write_json_replaces_the_file_whole(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_json(path, {"a": [1, 2]})
    write_json(path, {"b": 3})
    assert json.loads(path.read_text()) == {"b": 3}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary left


def _hold(root, seconds, started):
    with dir_lock(root) as mine:
        assert mine
        started.set()
        time.sleep(seconds)
        (root / "done").write_text("x")  # still holding the lock


def test_dir_lock_excludes_other_processes(tmp_path):
    started = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(tmp_path / "row", 1.0, started))
    holder.start()
    try:
        assert started.wait(30)
        with dir_lock(tmp_path / "row", wait=False) as mine:
            assert mine is False  # busy: told at once
        with dir_lock(tmp_path / "row") as mine:  # waits for the holder to finish
            assert mine is True and (tmp_path / "row" / "done").is_file()
    finally:
        holder.join(30)
    with dir_lock(tmp_path / "row", wait=False) as mine:
        assert mine is True


def test_subset_data_dir_filters_every_table_and_rebuilds_spk2utt(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "wav.scp").write_text("a /x/a.wav\nb /x/b.wav\nc /x/c.wav\n")
    (src / "spk1.scp").write_text("a /y/a.wav\nb /y/b.wav\nc /y/c.wav\n")
    (src / "utt2spk").write_text("a s1\nb s2\nc s1\n")
    (src / "spk2utt").write_text("s1 a c\ns2 b\n")
    (src / ".hidden").write_text("ignored\n")
    dst = subset_data_dir(src, tmp_path / "dst", ["c", "a"])
    assert read_scp(dst / "wav.scp") == {"a": "/x/a.wav", "c": "/x/c.wav"}
    assert read_scp(dst / "spk1.scp") == {"a": "/y/a.wav", "c": "/y/c.wav"}
    assert (dst / "spk2utt").read_text() == "s1 a c\n"
    assert not (dst / ".hidden").exists() and not (tmp_path / ".dst.tmp").exists()
