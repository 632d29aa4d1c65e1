"""Validation batches whose scores do not depend on how the utterances are grouped.

Zero-padding a batch to its longest utterance changes a model's output for the shorter rows
(DEMUCS normalises each row by its standard deviation, padding included, and a bidirectional
LSTM reads the padding backwards into every frame), so valid scores, and the checkpoint chosen
by them, would depend on the batch size and on which lengths happen to meet. Validation batches
therefore only group utterances of exactly the same length: nothing is ever padded.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence


def same_length_batches(lengths: Sequence[int], batch_size: int, max_samples: Optional[int] = None) -> List[List[int]]:
    """Indices in batches of equal-length utterances (longest first, then by index).

    A batch holds at most ``batch_size`` utterances and at most ``max_samples`` samples
    (always at least one utterance).
    """
    by_length: Dict[int, List[int]] = {}
    for index, length in enumerate(lengths):
        by_length.setdefault(int(length), []).append(index)
    batches: List[List[int]] = []
    for length in sorted(by_length, reverse=True):
        per_batch = max(1, min(batch_size, max_samples // length if max_samples else batch_size))
        indices = by_length[length]
        batches.extend(indices[i : i + per_batch] for i in range(0, len(indices), per_batch))
    return batches
