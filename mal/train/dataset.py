"""Training and validation data from a Kaldi data dir (``wav.scp`` noisy, ``spk1.scp`` clean).

Training draws one random fixed-length segment per utterance and epoch (the same offset in
noisy and clean; shorter utterances are zero-padded). The offset depends only on
``(seed, epoch, index)``, so a resumed run sees exactly the segments an uninterrupted run sees,
whatever the number of loader workers. Validation uses full utterances, each batched only with
others of the same length.
Unusable data stops training with an error naming the utterance; nothing is skipped silently.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from mal.io.datadir import DataDir, DataDirError
from mal.io.lengths import compute_num_samples
from mal.train.validation import same_length_batches

PathLike = Union[str, os.PathLike]

NOISY_SCP = "wav.scp"
CLEAN_SCP = "spk1.scp"


def check_paired_keys(data: DataDir) -> List[str]:
    """Utterance keys, after checking that spk1.scp covers them (first missing key named).

    ``DataDir`` already checks key agreement between its tables at construction; this adds
    that the clean reference exists at all, with a message aimed at training.
    """
    keys = data.keys
    if not keys:
        raise DataDirError(f"{data.path}/{NOISY_SCP}: no utterances")
    if not data.has(CLEAN_SCP):
        raise DataDirError(f"{data.path}/{CLEAN_SCP}: file not found (training needs the clean reference of every utterance)")
    clean = data.table(CLEAN_SCP)
    if data.segments is not None:  # audio tables are keyed by recording
        needed = {u: data.segments[u].recording for u in keys}
        missing = [u for u, rec in needed.items() if rec not in clean]
        if missing:
            raise DataDirError(f"{data.path}/{CLEAN_SCP}: recording '{needed[missing[0]]}' of utterance '{missing[0]}' is missing")
        return keys
    missing = [k for k in keys if k not in clean]
    if missing:
        raise DataDirError(
            f"{data.path}/{CLEAN_SCP}: utterance '{missing[0]}' of {NOISY_SCP} is missing "
            f"({len(missing)} of {len(keys)} keys missing); run utils/fix_data_dir.sh or regenerate the data dir"
        )
    known = set(keys)
    extra = [k for k in clean if k not in known]
    if extra:
        raise DataDirError(
            f"{data.path}/{CLEAN_SCP}: utterance '{extra[0]}' is not in {NOISY_SCP} "
            f"({len(extra)} extra keys); run utils/fix_data_dir.sh or regenerate the data dir"
        )
    return keys


def utterance_lengths(data: DataDir, keys: Sequence[str]) -> Dict[str, int]:
    """Samples per utterance: ``utt2num_samples`` when present (must cover every key), else
    measured from the audio headers (pipes and ark entries are decoded)."""
    table, source = data.num_samples(), "utt2num_samples"
    if table is None:
        table, source = compute_num_samples(data.path, data.sample_rate), NOISY_SCP  # measured from the audio
    missing = [k for k in keys if k not in table]
    if missing:
        raise DataDirError(f"{data.path}/utt2num_samples: utterance '{missing[0]}' is missing; rerun mal-compute-lengths {data.path}")
    bad = [k for k in keys if table[k] <= 0]
    if bad:
        raise DataDirError(f"{data.path}/{source}: utterance '{bad[0]}' has {table[bad[0]]} samples (empty audio)")
    return {k: table[k] for k in keys}


class PairedUtterances:
    """The noisy/clean pairs of one data dir, checked at construction."""

    def __init__(self, data_dir: PathLike, sample_rate: int):
        self.data = DataDir(data_dir, sample_rate=sample_rate)
        self.sample_rate = sample_rate
        self.keys = check_paired_keys(self.data)
        self.lengths = utterance_lengths(self.data, self.keys)

    def load(self, key: str) -> Tuple[np.ndarray, np.ndarray]:
        """(noisy, clean) float32 arrays of equal length; AudioError/DataDirError name ``key`` otherwise."""
        noisy, clean = self.data.read_aligned(key, (NOISY_SCP, CLEAN_SCP))
        return noisy, clean

    def __len__(self) -> int:
        return len(self.keys)


class SegmentDataset(Dataset):
    """Random fixed-length (noisy, clean) segments; call ``set_epoch`` before each epoch."""

    def __init__(self, data_dir: PathLike, sample_rate: int, segment_seconds: float, seed: int = 0):
        self.pairs = PairedUtterances(data_dir, sample_rate)
        self.segment = max(1, int(round(segment_seconds * sample_rate)))
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def offset(self, index: int, length: int) -> int:
        """Segment start for utterance ``index`` this epoch (0 when it is not longer than a segment)."""
        if length <= self.segment:
            return 0
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return int(rng.integers(0, length - self.segment + 1))

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        noisy, clean = self.pairs.load(self.pairs.keys[index])
        start = self.offset(index, noisy.shape[0])
        noisy, clean = noisy[start : start + self.segment], clean[start : start + self.segment]
        pad = self.segment - noisy.shape[0]
        if pad > 0:
            noisy, clean = np.pad(noisy, (0, pad)), np.pad(clean, (0, pad))
        return torch.from_numpy(np.ascontiguousarray(noisy)), torch.from_numpy(np.ascontiguousarray(clean))


class UtteranceDataset(Dataset):
    """Full (key, noisy, clean) utterances, for validation."""

    def __init__(self, data_dir: PathLike, sample_rate: int):
        self.pairs = PairedUtterances(data_dir, sample_rate)

    @property
    def lengths(self) -> List[int]:
        return [self.pairs.lengths[k] for k in self.pairs.keys]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Tuple[str, torch.Tensor, torch.Tensor]:
        key = self.pairs.keys[index]
        noisy, clean = self.pairs.load(key)
        return key, torch.from_numpy(noisy), torch.from_numpy(clean)


def length_buckets(lengths: Sequence[int], batch_size: int, max_samples: Optional[int] = None) -> List[List[int]]:
    """Indices grouped into batches of similar length (longest first), so padding stays small.

    A batch holds at most ``batch_size`` utterances and at most ``max_samples`` padded samples
    (always at least one utterance).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: List[List[int]] = []
    current: List[int] = []
    for i in order:
        longest = lengths[current[0]] if current else lengths[i]
        if current and (len(current) >= batch_size or (max_samples and longest * (len(current) + 1) > max_samples)):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def collate_padded(items: List[Tuple[str, torch.Tensor, torch.Tensor]]) -> Dict[str, object]:
    """Zero-pad utterances to the longest: ``{"keys", "noisy" [B,T], "clean" [B,T], "lengths" [B]}``."""
    lengths = torch.tensor([noisy.shape[0] for _, noisy, _ in items], dtype=torch.long)
    longest = int(lengths.max())
    noisy = torch.zeros(len(items), longest)
    clean = torch.zeros(len(items), longest)
    for b, (_, n, c) in enumerate(items):
        noisy[b, : n.shape[0]] = n
        clean[b, : c.shape[0]] = c
    return {"keys": [k for k, _, _ in items], "noisy": noisy, "clean": clean, "lengths": lengths}


def _quiet_lost_handoff(kind: type, value: BaseException, trace: object) -> None:
    if not issubclass(kind, (EOFError, ConnectionError, multiprocessing.AuthenticationError)):
        sys.__excepthook__(kind, value, trace)


def quiet_lost_handoffs(worker_id: int) -> None:
    """Loader worker init: a batch hand-over that the main process broke off (Ctrl-C while it was
    receiving) is not reported as a traceback; the main process reports the interruption."""
    sys.excepthook = _quiet_lost_handoff


def train_loader(
    dataset: SegmentDataset, batch_size: int, num_workers: int = 0, rank: int = 0, world_size: int = 1, pin_memory: bool = False
) -> Tuple[DataLoader, DistributedSampler]:
    """Shuffled loader; ``batch_size`` is per process. The sampler is seeded by the dataset seed
    and reshuffles on ``sampler.set_epoch`` (call it together with ``dataset.set_epoch``)."""
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=dataset.seed, drop_last=False)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=False, pin_memory=pin_memory,
                        worker_init_fn=quiet_lost_handoffs)
    return loader, sampler


def valid_loader(
    dataset: UtteranceDataset, batch_size: int, max_seconds: Optional[float], sample_rate: int,
    num_workers: int = 0, rank: int = 0, world_size: int = 1, pin_memory: bool = False,
) -> DataLoader:
    """Batches of equal-length utterances (see mal.train.validation); with several processes
    each takes every world_size-th batch."""
    max_samples = int(max_seconds * sample_rate) if max_seconds else None
    batches = same_length_batches(dataset.lengths, batch_size, max_samples)[rank::world_size]
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate_padded, num_workers=num_workers, pin_memory=pin_memory,
                      worker_init_fn=quiet_lost_handoffs)


def cycle_epoch_batches(loader: DataLoader, sampler: DistributedSampler, dataset: SegmentDataset, epoch: int,
                        steps: Optional[int]) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """The batches of one epoch: one pass, or exactly ``steps`` batches (passes reshuffled as needed).

    Pass ``p`` of epoch ``e`` is shuffled with ``e * 100003 + p``, so the stream is a pure
    function of (seed, epoch): a resumed run replays it exactly.
    """
    produced, sub = 0, 0
    while True:
        shuffle_epoch = epoch * 100003 + sub
        sampler.set_epoch(shuffle_epoch)
        dataset.set_epoch(shuffle_epoch)
        for batch in loader:
            if steps is not None and produced >= steps:
                return
            produced += 1
            yield batch
        sub += 1
        if steps is None or produced >= steps or len(loader) == 0:
            return
