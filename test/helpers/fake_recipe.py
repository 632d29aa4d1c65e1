"""A recipe dir that runs the real mal.sh with fake programs (mal-train, torchrun, ...) first on PATH."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Mapping, Sequence

import yaml

REPO = Path(__file__).resolve().parents[2]


def fake_recipe(root: Path, fakes: Mapping[str, str], configs: Sequence[str]) -> Path:
    """``root/recipe`` linking mal.sh and utils/, with ``fakes`` (name -> bash body) in
    ``root/fakebin`` on PATH, 2-step configs ``conf/<name>.yaml`` and 4-utterance data dirs."""
    recipe, fake = root / "recipe", root / "fakebin"
    (recipe / "conf").mkdir(parents=True)
    fake.mkdir()
    for name, body in fakes.items():
        (fake / name).write_text("#!/usr/bin/env bash\n" + body)
        (fake / name).chmod(stat.S_IRWXU)
    os.symlink(REPO / "egs/TEMPLATE/mal.sh", recipe / "mal.sh")
    os.symlink(REPO / "utils", recipe / "utils")
    (recipe / "path.sh").write_text(f". {REPO}/egs/TEMPLATE/path.sh\nexport PATH={fake}:$PATH\n")
    (recipe / "cmd.sh").write_text("export train_cmd=utils/run.pl cuda_cmd=utils/run.pl decode_cmd=utils/run.pl\n")
    for name in configs:
        (recipe / "conf" / f"{name}.yaml").write_text(yaml.safe_dump({"train": {"max_steps": 2}}))
    for dset in ("train", "valid", "test"):
        (recipe / "data" / dset).mkdir(parents=True)
        (recipe / "data" / dset / "wav.scp").write_text("".join(f"u{i} /dev/null\n" for i in range(4)))
    return recipe
