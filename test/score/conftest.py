"""Fixtures of the scoring tests."""
from __future__ import annotations

from typing import Dict

import numpy as np
import pytest
from score_helpers import make_speech


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> Dict[str, np.ndarray]:
    """Three clean 16 kHz flite utterances (about 2-3 s each)."""
    return make_speech(tmp_path_factory.mktemp("speech"))
