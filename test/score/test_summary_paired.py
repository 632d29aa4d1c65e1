"""mal.score.summary.mean_of / paired_delta: per-utterance scores of two systems, compared pairwise."""
from __future__ import annotations

import math

import pytest

from mal.score.summary import mean_of, paired_delta


def result(scores):
    return {"sets": {"valid": {"scores": {"pesq_wb": scores}}}}


def test_mean_and_paired_delta_over_common_utterances():
    a = result({"u1": 2.0, "u2": 3.0, "u3": 4.0})
    b = result({"u1": 1.5, "u2": 2.0, "u4": 9.0})
    assert mean_of(a, "valid", "pesq_wb") == pytest.approx(3.0)
    mean, se, n = paired_delta(a, b, "valid", "pesq_wb")
    assert n == 2 and mean == pytest.approx(0.75)
    assert se == pytest.approx(0.25)  # std(ddof=1) of [0.5, 1.0] / sqrt(2)


def test_missing_sets_metrics_and_single_pairs():
    a, b = result({"u1": 2.0}), result({"u1": 1.0})
    assert mean_of(a, "test", "pesq_wb") is None and mean_of(a, "valid", "estoi") is None
    assert paired_delta(a, b, "test", "pesq_wb") == (None, None, 0)
    mean, se, n = paired_delta(a, b, "valid", "pesq_wb")
    assert (mean, n) == (1.0, 1) and math.isnan(se)
