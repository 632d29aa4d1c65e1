"""Training/validation data: paired keys, deterministic segments, length buckets, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.audio import SR
from helpers.bad_inputs import BAD_CASES, TARGET, make_bad_data_dir
from helpers.configs import write_config
from helpers.datadir import make_data_dir
from mal.bin.train import main
from mal.io import AudioError, DataDirError, ScpError
from mal.train.dataset import SegmentDataset, UtteranceDataset, collate_padded, cycle_epoch_batches, length_buckets, train_loader

#: Faults in files the trainer never reads; mal-validate-data-dir (recipe stage 2) reports them.
NOT_READ_BY_TRAINER = {"multi_channel": "noise1.scp audio"}


@pytest.mark.parametrize("case", [c for c in BAD_CASES if c not in NOT_READ_BY_TRAINER])
def test_training_loader_rejects_bad_input_naming_the_key(case, tmp_path):
    data_dir = make_bad_data_dir(case, tmp_path)
    expected = BAD_CASES[case].key or BAD_CASES[case].file
    with pytest.raises((AudioError, DataDirError, ScpError)) as err:
        dataset = SegmentDataset(data_dir, SR, segment_seconds=0.25)
        for i in range(len(dataset)):
            dataset[i]
    assert expected in str(err.value)


@pytest.mark.parametrize("case", sorted(NOT_READ_BY_TRAINER))
def test_faults_outside_the_training_files_do_not_block_training(case, tmp_path):
    dataset = SegmentDataset(make_bad_data_dir(case, tmp_path), SR, segment_seconds=0.25)
    assert all(dataset[i][0].shape == (4000,) for i in range(len(dataset)))


def test_segments_are_aligned_deterministic_and_padded(tmp_path):
    data_dir = make_data_dir(tmp_path / "d", num=4, seconds=1.0, seed=3)
    ds = SegmentDataset(data_dir, SR, segment_seconds=0.5, seed=11)
    noisy_full, clean_full = ds.pairs.load(ds.pairs.keys[1])
    ds.set_epoch(0)
    noisy, clean = ds[1]
    assert noisy.shape == clean.shape == (8000,)
    # the same offset in noisy and clean: find it in the full clean signal
    start = ds.offset(1, len(clean_full))
    np.testing.assert_array_equal(clean.numpy(), clean_full[start : start + 8000])
    np.testing.assert_array_equal(noisy.numpy(), noisy_full[start : start + 8000])
    again = SegmentDataset(data_dir, SR, segment_seconds=0.5, seed=11)
    again.set_epoch(0)
    torch.testing.assert_close(again[1][0], noisy)  # a fresh dataset (a resumed run) replays it
    offsets = {ds.offset(1, len(clean_full)) for ds.epoch in range(8)}
    assert len(offsets) > 4  # other epochs draw other segments
    long = SegmentDataset(data_dir, SR, segment_seconds=3.0)
    noisy, clean = long[0]
    assert noisy.shape == (48000,) and torch.all(noisy[16000:] == 0) and torch.all(clean[16000:] == 0)


def test_lengths_from_headers_when_utt2num_samples_is_absent(tmp_path):
    data_dir = make_data_dir(tmp_path / "d", num=3, lengths=False)
    valid = UtteranceDataset(data_dir, SR)
    assert valid.lengths == [16000, 20000, 24000]


def test_length_buckets_and_padding():
    lengths = [100, 500, 300, 480, 90, 310]
    batches = length_buckets(lengths, batch_size=2)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert batches == [[1, 3], [5, 2], [0, 4]]  # similar lengths together, longest first
    assert length_buckets(lengths, batch_size=8, max_samples=1000) == [[1, 3], [5, 2, 0], [4]]
    items = [("a", torch.ones(3), torch.ones(3)), ("b", torch.ones(5), 2 * torch.ones(5))]
    batch = collate_padded(items)
    assert batch["keys"] == ["a", "b"] and batch["lengths"].tolist() == [3, 5]
    assert batch["noisy"].shape == (2, 5) and batch["noisy"][0, 3:].abs().sum() == 0


def test_epoch_stream_is_a_function_of_seed_and_epoch(tmp_path):
    data_dir = make_data_dir(tmp_path / "d", num=6, seconds=0.5)

    def stream(epoch, steps, rank=0, world=1, workers=0):
        ds = SegmentDataset(data_dir, SR, segment_seconds=0.25, seed=5)
        loader, sampler = train_loader(ds, 2, num_workers=workers, rank=rank, world_size=world)
        return [n for n, _ in cycle_epoch_batches(loader, sampler, ds, epoch, steps)]

    first = stream(2, None)
    assert len(first) == 3
    for a, b in zip(first, stream(2, None)):
        torch.testing.assert_close(a, b)
    assert not torch.equal(first[0], stream(3, None)[0])
    assert all(torch.equal(a, b) for a, b in zip(first, stream(2, None, workers=1)))  # loader workers change nothing
    longer = stream(2, 7)  # more steps than one pass: passes are chained, reshuffled
    assert len(longer) == 7 and all(torch.equal(a, b) for a, b in zip(first, longer))
    # two data-parallel ranks split one pass between them
    # two data-parallel ranks split the same pass between them (same segments, 3 utterances each)
    rank0, rank1 = stream(2, None, 0, 2), stream(2, None, 1, 2)
    assert [len(b) for b in rank0] == [len(b) for b in rank1] == [2, 1]

    def rows(batches):
        return sorted(tuple(r.tolist()) for b in batches for r in b)

    assert rows(rank0 + rank1) == rows(first)


@pytest.mark.parametrize("where, workers", [("train", 0), ("train", 1), ("valid", 0)])
def test_bad_audio_stops_training_naming_the_utterance(where, workers, tmp_path, data_dirs, capsys):
    bad = make_bad_data_dir("nan_samples", tmp_path / "bad")  # found only when decoded
    dirs = (bad, data_dirs[1]) if where == "train" else (data_dirs[0], bad)
    config = write_config(tmp_path / "c.yaml", batch={"batch_size": 2, "segment_seconds": 0.25, "num_workers": workers})
    rc = main(["--config", str(config), "--train-dir", str(dirs[0]), "--valid-dir", str(dirs[1]),
               "--out-dir", str(tmp_path / "exp"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "mal-train: error:" in err and f"'{TARGET}'" in err and "NaN" in err
    assert not (tmp_path / "exp" / "model.pth").exists()


def test_missing_clean_file_is_reported_at_start(tmp_path, data_dirs, capsys):
    data_dir = make_data_dir(tmp_path / "d", num=3)
    (data_dir / "spk1.scp").unlink()
    config = write_config(tmp_path / "c.yaml")
    rc = main(["--config", str(config), "--train-dir", str(data_dir), "--valid-dir", str(data_dirs[1]), "--out-dir", str(tmp_path / "exp")])
    assert rc == 1 and "spk1.scp: file not found" in capsys.readouterr().err


def test_loader_workers_quiet_only_a_broken_off_batch_hand_over(monkeypatch, capsys):
    """A worker's hand-over thread reports through sys.excepthook; after Ctrl-C in the main process
    the connection breaks (EOFError, ConnectionError): no traceback then, any other error still shows."""
    import multiprocessing
    import sys

    from mal.train.dataset import quiet_lost_handoffs

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    quiet_lost_handoffs(0)
    for lost in (EOFError(), ConnectionResetError(), multiprocessing.AuthenticationError("digest received was wrong")):
        sys.excepthook(type(lost), lost, None)
    assert capsys.readouterr().err == ""
    sys.excepthook(ValueError, ValueError("a real bug"), None)
    assert "ValueError: a real bug" in capsys.readouterr().err
