"""The core (`pip install .`) needs nothing beyond setup.py's install_requires: with every installed
package outside their dependency closure hidden, mal.load(...).enhance, the scores and every
console script's parser work, and a CLI of an extra says which extra in one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Iterable, Set

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

#: Runs in a fresh interpreter: hide every distribution outside ALLOWED, then use the core.
SCRIPT = textwrap.dedent(
    """
    import importlib, importlib.abc, json, sys
    from importlib import metadata
    from packaging.utils import canonicalize_name

    allowed = set(json.loads(sys.argv[1]))
    owners = {top: {canonicalize_name(d) for d in dists} for top, dists in metadata.packages_distributions().items()}

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            if top in owners and not owners[top] & allowed and top not in sys.stdlib_module_names:
                raise ModuleNotFoundError(f"No module named {name!r} (outside the core requirements)", name=name)

    sys.meta_path.insert(0, Hide())
    import numpy as np
    import mal
    from mal.models import build_model
    from mal.models.checkpoint import model_record, save_checkpoint

    model = build_model("tiny", channels=4, depth=2)
    save_checkpoint("m.pth", {"model": model_record(model, "tiny", {"channels": 4, "depth": 2})})
    x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    y = mal.load("m.pth", device="cpu").enhance(x, 16000)
    assert y.shape == x.shape
    from mal.score.metrics import score_pair
    scores = score_pair(x, y, 16000, ["pesq_wb", "stoi", "sisdr"])
    import mal.score.page, mal.train.trainer  # report and training
    for cli in sys.argv[2].split():
        importlib.import_module(cli.split(":")[0]).get_parser()
    from mal.bin import asr_score
    assert asr_score.main(["--est-scp", "x", "--text", "y", "--out-dir", "z"]) == 1
    print("ok", sorted(scores))
    """
)


def closure(requirements: Iterable[str]) -> Set[str]:
    """The installed distributions ``requirements`` bring, recursively (markers evaluated, no extras)."""
    seen: Set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [r for r in map(Requirement, needs) if r.marker is None or r.marker.evaluate({"extra": ""})]
    return seen


def setup_values():
    """CORE and ENTRY_POINTS of setup.py (without running setuptools)."""
    import setuptools

    captured = {}
    original, cwd = setuptools.setup, os.getcwd()
    setuptools.setup = lambda **kw: captured.update(kw)
    try:
        os.chdir(ROOT)
        exec(compile((ROOT / "setup.py").read_text(), "setup.py", "exec"), {"__name__": "__main__"})
    finally:
        setuptools.setup = original
        os.chdir(cwd)
    return captured["install_requires"], [s.split("=", 1)[1] for s in captured["entry_points"]["console_scripts"]]


def test_the_core_runs_with_only_its_requirements(tmp_path):
    core, scripts = setup_values()
    allowed = sorted(closure(core) | {"mal"})
    assert "jiwer" not in allowed and "onnxruntime" not in allowed  # the extras are really hidden
    out = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(allowed), " ".join(scripts)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-3000:]
    assert out.stderr.count("mal-asr-score: error: needs the 'asr' extra") == 1
