#!/usr/bin/env python
"""Model-as-Loss ablation: fine-tune one warm-up many ways, score every branch, pick on valid.

    python bench/mal_ablation.py --sweep egs/mini_offline/conf/sweep.yaml \\
        --exp egs/mini_offline/exp/warmup --data egs/mini_offline/data \\
        --out egs/mini_offline/exp/warmup/ablation [--branches a,b] [--steps N] \\
        [--eval-utts 40] [--dnsmos-utts 20] [--threads 1] [--grad-ratio] [--report-only] [--list]

Every branch is fine-tuned in-process with ``mal.train.trainer.train`` from the recipe's
warm-up (``EXP/warmup/model.pth``) for the same number of optimiser steps with the same seed
and data, then enhances the evaluation sets with ``mal.enhance`` and is scored with
``mal.score.metrics`` (PESQ-WB, ESTOI, SI-SDR; DNSMOS OVRL on a subset). Rows ``noisy`` (the
input) and ``warmup`` (no fine-tuning) are scored too, and the reference branches
``continued`` (the warm-up loss continued) and ``deep_feature`` (GE2E + the warm-up loss) are
always part of the sweep. Deltas are paired (same utterances) against each row's reference.

The sweep YAML::

    base: mal.yaml        # fine-tuning config (a mal-train YAML; path or inline mapping)
    base_overrides: []    # optional ``key.sub=value`` changes of base for every branch
    steps: 200            # optimiser steps of every branch (train.max_steps)
    seed: 1
    warmups:              # optional extra warm-ups, trained here (model family, warm-up length)
      short: {config: warmup.yaml, steps: 300, overrides: [...]}
    branches:
      - {name: frozen_fe, group: variant, overrides: ["criterions.0.conf.variant=frozen-fe"]}
      - {name: conv_eq, group: weight, conventional_weight: equal}
      - {name: adam_carried, group: optimizer, init: checkpoint.pth, overrides: [train.init_optimizer=true]}
      - {name: mal_short, group: warmup, warmup: short}

``--branches a,b`` runs the named rows in that order, then their references. ``--jobs N`` starts
N worker processes that share the rows (a worker takes the next warm-up or row nobody holds;
logs in ``OUT/worker_<i>.log``); separate bench processes may also share one ``--out`` (a row is
locked while it runs, the others wait for it).

Branch keys: ``name``, ``group``, ``overrides`` (``key.sub=value`` as ``mal-train --override``),
``criterions`` (replaces the list), ``config`` (another base), ``conventional_weight`` (a
factor on every non-MAL criterion weight, or ``equal``: the factor that makes the decoder
gradient norms of the MAL and the conventional terms equal at the warm-up point, see
``--grad-ratio``), ``init`` (a file of the branch's warm-up directory, e.g. ``checkpoint.pth``
for its optimiser state, or an absolute path), ``warmup`` (a name of ``warmups:`` or an inline
``{config, steps}``), ``reference`` (the row deltas are taken against; default ``continued``,
or ``continued_<warmup>``, added automatically, for a branch of another warm-up), ``note``.
Relative config paths are resolved against the sweep file's directory, then its parent.

Each branch trains for exactly ``steps`` steps in one epoch (one validation pass, on
``--trainer-valid-utts`` utterances) and its final weights are evaluated. Evaluation uses
``--eval-utts`` utterances per set spread evenly over the sorted wav.scp (the first N of a
sorted list would be one or two voices), DNSMOS on ``--dnsmos-utts`` of those, spread alike.

Selection is on ``valid`` only: the MAL branch (not a reference, warm-up, noisy or ``seed``-group row) with
the highest PESQ-WB gain over its reference, ties by the ESTOI gain. For branches of the
recipe's warm-up this is simply the highest valid PESQ-WB.

Outputs in ``--out``: ``branches/<name>/`` (training dir, ``result.json``), ``grad_ratio.yaml``,
``ablation.md``, ``ablation.csv``, ``ablation.png``. Results are cached per branch: a finished
branch is skipped on a rerun, an interrupted one resumes its training; every file is written
atomically. A branch whose configuration changed since it ran is an error (delete its dir).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import hashlib
import io
import json
import logging
import math
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import yaml

logger = logging.getLogger("mal.bench.ablation")

MAIN_WARMUP = "warmup"
CONTINUED, DEEP_FEATURE = "continued", "deep_feature"
MAL_LOSSES = ("mal",)
BRANCH_KEYS = {"name", "group", "overrides", "criterions", "config", "conventional_weight", "init", "warmup", "reference", "note"}
WARMUP_KEYS = {"config", "steps", "overrides"}
SWEEP_KEYS = {"base", "base_overrides", "steps", "seed", "warmups", "branches"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
METRICS = ("pesq_wb", "estoi", "sisdr")
DNSMOS_METRIC = "dnsmos_ovrl"
REPORT_METRICS = METRICS + (DNSMOS_METRIC,)
#: rows of this group repeat another branch with another seed: a noise estimate, never selected
SEED_GROUP = "seed"
DEEP_FEATURE_SPEC = {"name": "deep_feature", "weight": 1.0, "conf": {"network": "ge2e", "layers": "all", "distance": "l1"}}


class SweepError(ValueError):
    """A sweep file or cached state that cannot be used; the message names file and branch."""


# ---------------------------------------------------------------------------------------------
# The sweep: branches with their effective training configs
# ---------------------------------------------------------------------------------------------

@dataclass
class Warmup:
    """A warm-up the branches start from: the recipe's (given) or one trained here."""

    name: str
    dir: Path
    config: Optional[Dict[str, Any]] = None  # None: the recipe's, already trained
    steps: Optional[int] = None

    @property
    def model(self) -> Path:
        return self.dir / "model.pth"

    @property
    def row(self) -> str:
        return MAIN_WARMUP if self.name == MAIN_WARMUP else f"warmup_{self.name}"

    @property
    def continued(self) -> str:
        return CONTINUED if self.name == MAIN_WARMUP else f"{CONTINUED}_{self.name}"


@dataclass
class Branch:
    """One row of the table. ``kind``: noisy | warmup | reference | branch."""

    name: str
    kind: str
    group: str
    warmup: Warmup
    reference: Optional[str] = None
    config: Optional[Dict[str, Any]] = None  # the training config (None: nothing to train)
    init: Optional[Path] = None
    conventional_weight: Any = None  # None | number | "equal"
    note: str = ""

    @property
    def trains(self) -> bool:
        return self.config is not None


@dataclass
class Sweep:
    path: Path
    steps: int
    seed: int
    base: Dict[str, Any]
    warmups: Dict[str, Warmup]
    out: Path
    rows: List[Branch] = field(default_factory=list)

    def row(self, name: str) -> Branch:
        for b in self.rows:
            if b.name == name:
                return b
        raise SweepError(f"{self.path}: no branch or row named '{name}'; known: {', '.join(b.name for b in self.rows)}")


def read_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise SweepError(f"{path}: file not found") from None
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: not valid YAML: {e}") from None


def resolve_config_path(value: str, sweep_path: Path) -> Path:
    """A config path: absolute, or relative to the sweep file's directory, then its parent."""
    path = Path(value)
    if path.is_absolute():
        return path
    for root in (sweep_path.parent, sweep_path.parent.parent):
        if (root / path).is_file():
            return root / path
    raise SweepError(f"{sweep_path}: config '{value}' not found next to the sweep file or in {sweep_path.parent.parent}")


def config_mapping(value: Any, sweep_path: Path, where: str) -> Dict[str, Any]:
    """A training config given as a path or inline; always a fresh copy."""
    if isinstance(value, str):
        path = resolve_config_path(value, sweep_path)
        data = read_yaml(path)
        if not isinstance(data, dict):
            raise SweepError(f"{path}: expected a YAML mapping (a mal-train config) for {where}")
        return data
    if isinstance(value, dict):
        return copy.deepcopy(value)
    raise SweepError(f"{sweep_path}: {where} must be a config path or mapping, got {value!r}")


def model_config_of(checkpoint: Path) -> Dict[str, Any]:
    """The training config stored in a checkpoint (the warm-up's loss is continued from it)."""
    from mal.models.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    if not isinstance(state.get("config"), dict):
        raise SweepError(f"{checkpoint}: holds no training config")
    return state["config"]


def is_mal(spec: Mapping[str, Any]) -> bool:
    return spec.get("name") in MAL_LOSSES


def with_steps(config: Dict[str, Any], steps: int, seed: int) -> Dict[str, Any]:
    """Exactly ``steps`` optimiser steps in one epoch; the final weights become model.pth."""
    config = copy.deepcopy(config)
    train = config.setdefault("train", {})
    train.update({"max_steps": int(steps), "steps_per_epoch": int(steps), "max_epochs": 1, "seed": int(seed), "keep_nbest": 1})
    return config


def finish_config(given: Dict[str, Any], init: Path, where: str) -> Dict[str, Any]:
    """Validate with mal.train.config; the model comes from ``init`` when the config names none."""
    from mal.models.pretrained import model_spec
    from mal.train.config import ConfigError, build_config

    given = copy.deepcopy(given)
    if "model" not in given:
        if not init.is_file():
            raise SweepError(f"{where}: --init {init} not found (train the warm-up first)")
        given["model"] = model_spec(init)
    try:
        return build_config(given, source=where)
    except ConfigError as e:
        raise SweepError(str(e)) from None


def parse_warmups(raw: Any, sweep: Path, out: Path, exp: Path) -> Dict[str, Warmup]:
    warmups = {MAIN_WARMUP: Warmup(MAIN_WARMUP, exp / "warmup")}
    if raw is None:
        return warmups
    if not isinstance(raw, dict):
        raise SweepError(f"{sweep}: 'warmups' must map names to {{config, steps}}")
    for name, spec in raw.items():
        warmups[name] = parse_warmup(name, spec, sweep, out)
    return warmups


def parse_warmup(name: str, spec: Any, sweep: Path, out: Path) -> Warmup:
    from mal.train.config import ConfigError, apply_override

    where = f"{sweep}: warmup '{name}'"
    if not NAME_RE.match(str(name)) or name == MAIN_WARMUP:
        raise SweepError(f"{where}: invalid name (letters, digits, _.+-; not '{MAIN_WARMUP}')")
    if not isinstance(spec, dict) or "config" not in spec or "steps" not in spec:
        raise SweepError(f"{where}: expected {{config: PATH|mapping, steps: N, overrides: [...]}}")
    unknown = set(spec) - WARMUP_KEYS
    if unknown:
        raise SweepError(f"{where}: unknown key '{sorted(unknown)[0]}'; valid: {', '.join(sorted(WARMUP_KEYS))}")
    config = config_mapping(spec["config"], sweep, f"warmup '{name}'")
    try:
        for text in spec.get("overrides") or []:
            apply_override(config, text)
    except ConfigError as e:
        raise SweepError(f"{where}: {e}") from None
    steps = int(spec["steps"])
    if steps < 1:
        raise SweepError(f"{where}: steps must be >= 1")
    return Warmup(str(name), out / "warmups" / str(name), config, steps)


def load_sweep(path: Path, exp: Path, out: Path, steps: Optional[int] = None) -> Sweep:
    """Read and check a sweep file; every branch's training config is built (not yet the
    ``equal`` weight, which needs the gradient ratio)."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise SweepError(f"{path}: expected a mapping with base, steps, seed, branches")
    unknown = set(raw) - SWEEP_KEYS
    if unknown:
        raise SweepError(f"{path}: unknown key '{sorted(unknown)[0]}'; valid: {', '.join(sorted(SWEEP_KEYS))}")
    if "base" not in raw or not isinstance(raw.get("branches"), list):
        raise SweepError(f"{path}: needs 'base' (a fine-tuning config) and a 'branches' list")
    from mal.train.config import ConfigError, apply_override

    base = config_mapping(raw["base"], path, "base")
    try:
        for text in raw.get("base_overrides") or []:
            apply_override(base, text)
    except ConfigError as e:
        raise SweepError(f"{path}: base_overrides: {e}") from None
    sweep = Sweep(path, int(steps or raw.get("steps") or 200), int(raw.get("seed", 1)), base,
                  parse_warmups(raw.get("warmups"), path, out, exp), out)
    sweep.rows.append(Branch("noisy", "noisy", "input", sweep.warmups[MAIN_WARMUP], reference=CONTINUED))
    given = {b.get("name"): b for b in raw["branches"] if isinstance(b, dict)}
    for ref in (CONTINUED, DEEP_FEATURE):  # reference branches are always part of the sweep
        spec = dict(given.get(ref) or {"name": ref})
        spec.setdefault("group", "reference")
        sweep.rows.append(parse_branch(spec, sweep, kind="reference"))
    used_warmups = {MAIN_WARMUP}
    for i, spec in enumerate(raw["branches"]):
        if not isinstance(spec, dict) or "name" not in spec:
            raise SweepError(f"{path}: branches[{i}] must be a mapping with a 'name'")
        if spec["name"] in (CONTINUED, DEEP_FEATURE):
            continue
        branch = parse_branch(spec, sweep, kind="reference" if str(spec["name"]).startswith(CONTINUED + "_") else "branch")
        used_warmups.add(branch.warmup.name)
        sweep.rows.append(branch)
    for name in sorted(used_warmups - {MAIN_WARMUP}):  # each extra warm-up: its own continued + warmup rows
        w = sweep.warmups[name]
        if not any(b.name == w.continued for b in sweep.rows):
            sweep.rows.append(parse_branch({"name": w.continued, "group": "reference", "warmup": name}, sweep, kind="reference"))
    warmup_rows = [Branch(w.row, "warmup", "warmup", w, reference=w.continued)
                   for w in sweep.warmups.values() if w.name in used_warmups]
    sweep.rows[1:1] = warmup_rows
    names = [b.name for b in sweep.rows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SweepError(f"{path}: duplicate branch name '{dupes[0]}' (names noisy, warmup, warmup_<name> are reserved)")
    for b in sweep.rows:
        if b.reference is not None and b.reference not in names:
            raise SweepError(f"{path}: branch '{b.name}': reference '{b.reference}' is not a branch of the sweep")
    return sweep


def parse_branch(spec: Dict[str, Any], sweep: Sweep, kind: str) -> Branch:
    from mal.train.config import ConfigError, apply_override

    name = str(spec["name"])
    where = f"{sweep.path}: branch '{name}'"
    if not NAME_RE.match(name) or name in ("noisy", MAIN_WARMUP) or name.startswith("warmup_"):
        raise SweepError(f"{where}: invalid name (letters, digits, _.+-; noisy/warmup/warmup_* are reserved)")
    unknown = set(spec) - BRANCH_KEYS
    if unknown:
        raise SweepError(f"{where}: unknown key '{sorted(unknown)[0]}'; valid: {', '.join(sorted(BRANCH_KEYS))}")
    warmup = resolve_branch_warmup(spec.get("warmup"), sweep, name)
    init = Path(spec["init"]) if spec.get("init") else Path("model.pth")
    init = init if init.is_absolute() else warmup.dir / init
    config = config_mapping(spec["config"], sweep.path, f"branch '{name}' config") if "config" in spec else copy.deepcopy(sweep.base)
    if name.startswith(CONTINUED) and "criterions" not in spec and "config" not in spec:
        config["criterions"] = warmup_criterions(warmup, where)
    elif name == DEEP_FEATURE and "criterions" not in spec and "config" not in spec:
        config["criterions"] = [copy.deepcopy(DEEP_FEATURE_SPEC)] + warmup_criterions(warmup, where)
    if "criterions" in spec:
        config["criterions"] = copy.deepcopy(spec["criterions"])
    config = with_steps(config, sweep.steps, sweep.seed)  # before the overrides: a branch may change its seed
    try:
        for text in spec.get("overrides") or []:
            apply_override(config, text)
    except ConfigError as e:
        raise SweepError(f"{where}: {e}") from None
    weight = spec.get("conventional_weight")
    if weight is not None and weight != "equal" and (isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0):
        raise SweepError(f"{where}: conventional_weight must be a number >= 0 or 'equal', got {weight!r}")
    if weight is not None and not any(is_mal(c) for c in config.get("criterions") or []):
        raise SweepError(f"{where}: conventional_weight needs a MAL criterion in the branch's criterions")
    if weight not in (None, "equal"):
        config = scale_conventional(config, float(weight))
    if warmup.config is None or warmup.model.is_file():  # extra warm-ups are checked once trained
        config = finish_config(config, init, where)
    reference = spec.get("reference") or (None if name == warmup.continued else warmup.continued)
    return Branch(name, kind, str(spec.get("group") or "other"), warmup, reference, config, init, weight, str(spec.get("note") or ""))


def resolve_branch_warmup(value: Any, sweep: Sweep, branch: str) -> Warmup:
    if value is None:
        return sweep.warmups[MAIN_WARMUP]
    if isinstance(value, dict):  # inline: named after its content
        digest = hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]
        name = f"inline{digest}"
        if name not in sweep.warmups:
            sweep.warmups[name] = parse_warmup(name, value, sweep.path, sweep.out)
        return sweep.warmups[name]
    if value not in sweep.warmups:
        raise SweepError(f"{sweep.path}: branch '{branch}': warmup '{value}' is not defined under 'warmups'")
    return sweep.warmups[value]


def warmup_criterions(warmup: Warmup, where: str) -> List[Dict[str, Any]]:
    """The loss the warm-up was trained with (from its config, or its model.pth)."""
    if warmup.config is not None:
        crits = warmup.config.get("criterions")
    elif warmup.model.is_file():
        crits = model_config_of(warmup.model).get("criterions")
    else:
        raise SweepError(f"{where}: {warmup.model} not found: the reference branches continue the warm-up's loss (train the warm-up first)")
    if not crits:
        raise SweepError(f"{where}: the warm-up config has no criterions")
    return copy.deepcopy(crits)


def scale_conventional(config: Dict[str, Any], factor: float) -> Dict[str, Any]:
    """Every non-MAL criterion weight times ``factor``."""
    config = copy.deepcopy(config)
    for spec in config["criterions"]:
        if not is_mal(spec):
            spec["weight"] = float(spec.get("weight", 1.0)) * factor
    return config


# ---------------------------------------------------------------------------------------------
# Gradient-norm ratio of the MAL and conventional terms on the decoder, at the warm-up point
# ---------------------------------------------------------------------------------------------

def gradient_norms(model_path: Path, criterions: Sequence[Mapping[str, Any]], train_dir: Path, sample_rate: int,
                   segment_seconds: float, batch_size: int, batches: int, seed: int, device: str = "cpu") -> Dict[str, Any]:
    """Decoder gradient norms of the MAL terms and of the weighted conventional terms, per batch.

    Returns ``{"mal": [...], "conventional": [...], "ratio": mean(mal) / mean(conventional)}``:
    multiplying the conventional weights by ``ratio`` makes the two norms equal on average.
    """
    import torch

    from mal.losses import CombinedLoss
    from mal.models.pretrained import load_model
    from mal.train.dataset import SegmentDataset, cycle_epoch_batches, train_loader

    mal_specs = [dict(c) for c in criterions if is_mal(c)]
    conv_specs = [dict(c) for c in criterions if not is_mal(c) and c.get("name") != "deep_feature"]
    if not mal_specs or not conv_specs:
        raise SweepError("--grad-ratio needs both a MAL criterion and a conventional one in the config")
    model, _ = load_model(model_path, device=device)
    model.train()
    mal_loss, conv_loss = CombinedLoss(mal_specs), CombinedLoss(conv_specs)
    mal_loss.attach(model)
    mal_loss.to(device)
    conv_loss.to(device)
    decoder = [p for p in model.decoder_parameters() if p.requires_grad]
    torch.manual_seed(seed)
    dataset = SegmentDataset(train_dir, sample_rate, segment_seconds, seed=seed)
    loader, sampler = train_loader(dataset, batch_size)
    norms: Dict[str, List[float]] = {"mal": [], "conventional": []}
    for noisy, clean in cycle_epoch_batches(loader, sampler, dataset, 1, batches):
        noisy, clean = noisy.to(device), clean.to(device)
        enhanced = model(noisy)
        for key, loss in (("mal", mal_loss), ("conventional", conv_loss)):
            total, _ = loss(enhanced, clean, noisy)
            grads = torch.autograd.grad(total, decoder, retain_graph=True, allow_unused=True)
            norms[key].append(float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None))))
    ratio = float(np.mean(norms["mal"]) / max(np.mean(norms["conventional"]), 1e-12))
    if not math.isfinite(ratio) or ratio <= 0:
        raise SweepError(f"{model_path}: the MAL gradient on the decoder is {np.mean(norms['mal']):.3g} at this point "
                         "(dead encoder features?); an equalising weight is undefined")
    return {**norms, "ratio": ratio}


def grad_ratio_applies(branch: Branch) -> bool:
    """A MAL term and a conventional term with a non-zero weight, from a warm-up that exists."""
    crits = branch.config.get("criterions") or []
    conventional = [c for c in crits if not is_mal(c) and c.get("name") != "deep_feature" and float(c.get("weight", 1.0)) > 0]
    return any(is_mal(c) for c in crits) and bool(conventional) and branch.init.is_file() and bool(branch.config.get("model", {}).get("name"))


def grad_ratio_key(init: Path, criterions: Sequence[Mapping[str, Any]]) -> str:
    text = json.dumps({"init": str(init), "criterions": list(criterions)}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def equalising_factor(branch: Branch, ctx: "Context") -> float:
    """Cached in OUT/grad_ratio.yaml per (init, criterions); computed on first use."""
    from mal.io.atomic import atomic_open

    crits = branch.config["criterions"]
    key = grad_ratio_key(branch.init, crits)
    path = ctx.out / "grad_ratio.yaml"
    table = (read_yaml(path) or {}) if path.is_file() else {}
    if key not in table:
        started = time.time()
        result = gradient_norms(branch.init, crits, ctx.data / ctx.args.train_set, branch.config["sample_rate"],
                                branch.config["batch"]["segment_seconds"], branch.config["batch"]["batch_size"],
                                ctx.args.grad_batches, ctx.sweep.seed, ctx.args.device)
        table = (read_yaml(path) or {}) if path.is_file() else {}
        table[key] = {
            "branch": branch.name, "init": str(branch.init), "criterions": crits, "batches": ctx.args.grad_batches,
            "mal_decoder_grad_norm": [round(v, 6) for v in result["mal"]],
            "conventional_decoder_grad_norm": [round(v, 6) for v in result["conventional"]],
            "conventional_over_mal": round(1.0 / result["ratio"], 4) if result["ratio"] > 0 else None,
            "equalising_conventional_weight": result["ratio"], "seconds": round(time.time() - started, 1),
        }
        with atomic_open(path, "w") as f:
            yaml.safe_dump(table, f, sort_keys=False)
    entry = table[key]
    logger.info("gradient norms on the decoder at %s: MAL %.4g, conventional %.4g (mean of %d batches): "
                "conventional/MAL = %.1f; equalising conventional weight factor %.4g",
                branch.init, np.mean(entry["mal_decoder_grad_norm"]), np.mean(entry["conventional_decoder_grad_norm"]),
                entry["batches"], entry["conventional_over_mal"] or float("nan"), entry["equalising_conventional_weight"])
    return float(entry["equalising_conventional_weight"])


# ---------------------------------------------------------------------------------------------
# Running: warm-ups, fine-tuning, enhancement, scoring (all cached)
# ---------------------------------------------------------------------------------------------

@dataclass
class Context:
    args: argparse.Namespace
    sweep: Sweep
    data: Path
    out: Path
    sets: List[str]
    eval_keys: Dict[str, List[str]] = field(default_factory=dict)
    dnsmos_keys: Dict[str, List[str]] = field(default_factory=dict)


def spread(keys: Sequence[str], n: int) -> List[str]:
    """``n`` keys evenly spaced over ``keys`` (all when n <= 0 or n >= len)."""
    if n <= 0 or n >= len(keys):
        return list(keys)
    return [keys[int(i * len(keys) / n)] for i in range(n)]


def fingerprint(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_stamp(path: Path) -> Optional[List[int]]:
    """Size and mtime of a file, so a retrained warm-up invalidates what was fine-tuned from it."""
    if not path.is_file():
        return None
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def write_json(path: Path, value: Any) -> None:
    from mal.io.atomic import atomic_open

    with atomic_open(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=False)


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def subset_data_dir(src: Path, dst: Path, keys: Sequence[str]) -> Path:
    """A data dir holding only ``keys`` (every per-utterance table filtered; spk2utt rebuilt)."""
    from mal.io.datadir import write_data_dir
    from mal.io.scp import read_scp

    wanted = set(keys)
    tables = {}
    for table in sorted(src.iterdir()):
        if table.is_file() and table.name != "spk2utt" and not table.name.startswith("."):
            tables[table.name] = {k: v for k, v in read_scp(table).items() if k in wanted}
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_data_dir(tmp, tables)
    tmp.replace(dst)  # the whole dir appears at once
    return dst


def prepare_eval(ctx: Context) -> None:
    from mal.io.scp import read_scp

    for name in ctx.sets:
        table = ctx.data / name / "wav.scp"
        if not table.is_file():
            raise SweepError(f"{table}: not found (evaluation set '{name}')")
        keys = sorted(read_scp(table))
        ctx.eval_keys[name] = spread(keys, ctx.args.eval_utts)
        ctx.dnsmos_keys[name] = spread(ctx.eval_keys[name], ctx.args.dnsmos_utts) if ctx.args.dnsmos_utts > 0 else []


def trainer_valid_dir(ctx: Context) -> Path:
    """The trainer's validation data: the valid set or an evenly spread subset of it."""
    from mal.io.scp import read_scp

    src = ctx.data / ctx.args.valid_set
    n = ctx.args.trainer_valid_utts
    keys = sorted(read_scp(src / "wav.scp"))
    if n <= 0 or n >= len(keys):
        return src
    dst = ctx.out / "data" / f"{ctx.args.valid_set}_{n}"
    if not (dst / "wav.scp").is_file():
        subset_data_dir(src, dst, spread(keys, n))
    return dst


def warmup_fingerprint(warmup: Warmup, seed: int) -> str:
    return fingerprint({"config": warmup.config, "steps": warmup.steps, "seed": seed})


def train_warmup(warmup: Warmup, ctx: Context, wait: bool = True) -> bool:
    """Train an extra warm-up (cached: skipped once its model.pth exists, if its spec is unchanged).
    False, without training, when ``wait`` is off and another process is training it."""
    if warmup.config is None:
        return True
    if not warmup.model.is_file():
        with dir_lock(warmup.dir, wait) as mine:
            if not mine:
                return False
            if not warmup.model.is_file():  # another process may have trained it meanwhile
                _train_warmup(warmup, ctx)
    done = read_json(warmup.dir / "bench_warmup.json") or {}
    if done.get("fingerprint") != warmup_fingerprint(warmup, ctx.sweep.seed):
        raise SweepError(f"warm-up '{warmup.name}': {warmup.dir} was trained with another config, steps or seed; "
                         f"delete it (and the branches fine-tuned from it) to retrain")
    return True


def _train_warmup(warmup: Warmup, ctx: Context) -> None:
    from mal.train.config import ConfigError, build_config
    from mal.train.trainer import train

    config = with_steps(warmup.config, warmup.steps, ctx.sweep.seed)
    try:
        config = build_config(config, source=f"{ctx.sweep.path}: warmup '{warmup.name}'")
    except ConfigError as e:
        raise SweepError(str(e)) from None
    logger.info("warm-up '%s': training %d steps into %s", warmup.name, warmup.steps, warmup.dir)
    started = time.time()
    train(config, ctx.data / ctx.args.train_set, trainer_valid_dir(ctx), warmup.dir, resume=True, device=ctx.args.device)
    write_json(warmup.dir / "bench_warmup.json", {"fingerprint": warmup_fingerprint(warmup, ctx.sweep.seed), "steps": warmup.steps,
                                                  "seconds": round(time.time() - started, 1)})


def effective_config(branch: Branch, ctx: Context) -> Dict[str, Any]:
    """The branch's final training config (the ``equal`` weight resolved, the model filled in)."""
    config = branch.config
    if "model" not in config or not isinstance(config.get("model"), dict) or not config["model"].get("name"):
        config = finish_config({k: v for k, v in config.items() if k != "model"}, branch.init, f"{ctx.sweep.path}: branch '{branch.name}'")
    if branch.conventional_weight == "equal":
        config = scale_conventional(config, equalising_factor(dataclass_replace(branch, config=config), ctx))
    return config


def dataclass_replace(branch: Branch, **changes: Any) -> Branch:
    import dataclasses

    return dataclasses.replace(branch, **changes)


def fine_tune(branch: Branch, ctx: Context) -> Tuple[Path, Dict[str, Any]]:
    """Train the branch (or resume it); returns (model.pth, train record). Cached."""
    from mal.train.trainer import train

    root = ctx.out / "branches" / branch.name
    if not branch.init.is_file():
        raise SweepError(f"branch '{branch.name}': init {branch.init} not found")
    config = effective_config(branch, ctx)
    spec = {"config": config, "init": str(branch.init), "init_stamp": file_stamp(branch.init)}
    key = fingerprint(spec)
    done = read_json(root / "train.json")
    if done is not None:
        if done.get("fingerprint") != key:
            raise SweepError(f"branch '{branch.name}': {root} was trained with another config or warm-up; "
                             f"delete {root} to rerun it (or give the branch a new name)")
        return root / "train" / "model.pth", done
    started_spec = read_json(root / "spec.json")
    if started_spec is not None and started_spec.get("fingerprint") != key:
        raise SweepError(f"branch '{branch.name}': an interrupted run in {root} used another config; delete {root} to restart it")
    write_json(root / "spec.json", {"fingerprint": key, **spec})
    logger.info("branch '%s': fine-tuning %d steps from %s", branch.name, config["train"]["max_steps"], branch.init)
    started = time.time()
    resumed = (root / "train" / "checkpoint.pth").is_file()
    model = train(config, ctx.data / ctx.args.train_set, trainer_valid_dir(ctx), root / "train", init=branch.init,
                  resume=True, device=ctx.args.device)
    record = {"fingerprint": key, "seconds": round(time.time() - started, 3), "steps": config["train"]["max_steps"], "resumed": resumed,
              "threads": ctx.args.threads}
    write_json(root / "train.json", record)
    return Path(model), record


def score_set(estimates: Mapping[str, str], ctx: Context, name: str) -> Dict[str, Any]:
    """Per-utterance scores of one evaluation set: METRICS on the eval keys, DNSMOS on its subset."""
    from mal.io.scp import read_scp
    from mal.score.metrics import score_tables

    refs = read_scp(ctx.data / name / "spk1.scp")
    scores: Dict[str, Dict[str, float]] = {m: {} for m in REPORT_METRICS}
    failed: Dict[str, Dict[str, str]] = {m: {} for m in REPORT_METRICS}
    runs = [(list(METRICS), refs, ctx.eval_keys[name])]
    if ctx.dnsmos_keys[name]:
        runs.append(([DNSMOS_METRIC], None, ctx.dnsmos_keys[name]))
    for metrics, references, keys in runs:
        for key, values, failures in score_tables(estimates, metrics, references, keys, est_name=f"{name} estimates",
                                                  ref_name=f"{ctx.data / name / 'spk1.scp'}"):
            for m, v in values.items():
                scores[m][key] = v
            for m, reason in failures.items():
                failed[m][key] = reason
    return {"scores": scores, "failed": {m: f for m, f in failed.items() if f}}


def enhance_set(model_path: Path, name: str, work: Path, ctx: Context) -> Dict[str, str]:
    from mal.enhance import Enhancer, enhance_scp

    keys_file = work / f"{name}.keys"
    from mal.io.atomic import atomic_open

    with atomic_open(keys_file, "w") as f:
        f.writelines(f"{k}\n" for k in ctx.eval_keys[name])
    enhancer = Enhancer.from_checkpoint(model_path, device=ctx.args.device)
    return enhance_scp(enhancer, ctx.data / name / "wav.scp", work / name, key_file=keys_file, skip_existing=True)


@contextlib.contextmanager
def dir_lock(root: Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock on a row's or warm-up's directory, released when the process dies. Two
    bench processes run a row once: with ``wait`` the second waits for the first (then finds the
    row cached); without it, it gets False at once and can take another row."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            logger.info("'%s' is being run by another process; waiting for it", root.name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_row(branch: Branch, ctx: Context) -> Dict[str, Any]:
    """Train (if it is a branch), enhance and score one row; cached in branches/<name>/result.json."""
    with dir_lock(ctx.out / "branches" / branch.name):
        return run_row_unlocked(branch, ctx)


def run_row_unlocked(branch: Branch, ctx: Context) -> Dict[str, Any]:
    from mal.io.scp import read_scp

    root = ctx.out / "branches" / branch.name
    record: Dict[str, Any] = {}
    model: Optional[Path] = None
    if branch.trains:
        model, record = fine_tune(branch, ctx)
    elif branch.kind == "warmup":
        train_warmup(branch.warmup, ctx)
        model = branch.warmup.model
        if not model.is_file():
            raise SweepError(f"row '{branch.name}': {model} not found (train the warm-up first)")
        record = read_json(branch.warmup.dir / "bench_warmup.json") or {}
    eval_spec = {"train": record.get("fingerprint") or str(file_stamp(model) if model else None), "metrics": REPORT_METRICS,
                 "keys": ctx.eval_keys, "dnsmos": ctx.dnsmos_keys, "sets": ctx.sets}
    key = fingerprint(eval_spec)
    cached = read_json(root / "result.json")
    if cached is not None and cached.get("eval_fingerprint") == key:
        logger.info("row '%s': cached", branch.name)
        return dict(cached, cached=True)
    started = time.time()
    sets: Dict[str, Any] = {}
    for name in ctx.sets:
        if model is None:  # the noisy input
            table = read_scp(ctx.data / name / "wav.scp")
            estimates = {k: table[k] for k in ctx.eval_keys[name]}
        else:
            estimates = enhance_set(model, name, root / "enhanced", ctx)
        sets[name] = score_set(estimates, ctx, name)
        logger.info("row '%s' %s: %s", branch.name, name, " ".join(
            f"{m}={np.mean(list(v.values())):.3f}" for m, v in sets[name]["scores"].items() if v))
    result = {"name": branch.name, "kind": branch.kind, "group": branch.group, "reference": branch.reference,
              "init": str(branch.init) if branch.init else None, "train_seconds": record.get("seconds"),
              "steps": record.get("steps"), "eval_seconds": round(time.time() - started, 1), "eval_fingerprint": key,
              "sets": sets}
    if branch.trains:
        result["config"] = read_json(root / "spec.json")["config"]
    write_json(root / "result.json", result)
    if not ctx.args.keep_audio and (root / "enhanced").is_dir():
        shutil.rmtree(root / "enhanced")
    return result


# ---------------------------------------------------------------------------------------------
# Tables, selection, plot
# ---------------------------------------------------------------------------------------------

def mean_of(result: Mapping[str, Any], set_name: str, metric: str) -> Optional[float]:
    values = list(result["sets"].get(set_name, {}).get("scores", {}).get(metric, {}).values())
    return float(np.mean(values)) if values else None


def paired_delta(result: Mapping[str, Any], reference: Mapping[str, Any], set_name: str, metric: str) -> Tuple[Optional[float], Optional[float], int]:
    """Mean and standard error of (result - reference) over the utterances both have; n."""
    a = result["sets"].get(set_name, {}).get("scores", {}).get(metric, {})
    b = reference["sets"].get(set_name, {}).get("scores", {}).get(metric, {})
    common = [k for k in a if k in b]
    if not common:
        return None, None, 0
    diffs = np.array([a[k] - b[k] for k in common])
    se = float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
    return float(diffs.mean()), se, len(diffs)


def select_branch(results: Mapping[str, Mapping[str, Any]], candidates: Sequence[str], set_name: str = "valid") -> Optional[str]:
    """The candidate with the highest ``set_name`` PESQ-WB gain over its reference, ties by ESTOI gain.

    Only ``set_name`` scores are read: the selection never looks at a test set. A candidate is
    ranked only once its reference run has finished: gains are compared, never absolute scores.
    """
    def reference(name: str) -> Optional[Mapping[str, Any]]:
        return results.get(results[name].get("reference") or "")

    def score(name: str) -> Tuple[float, float]:
        ref = reference(name)
        assert ref is not None
        values = (paired_delta(results[name], ref, set_name, "pesq_wb")[0], paired_delta(results[name], ref, set_name, "estoi")[0])
        return tuple(-math.inf if v is None else round(v, 4) for v in values)  # type: ignore[return-value]

    ranked = [n for n in candidates if n in results and set_name in results[n]["sets"] and reference(n) is not None]
    return max(ranked, key=score) if ranked else None


def table_rows(sweep: Sweep, results: Mapping[str, Mapping[str, Any]], sets: Sequence[str]) -> List[Dict[str, Any]]:
    """Long format: one row per (system, set) with means and paired deltas vs the reference."""
    rows = []
    for b in sweep.rows:
        if b.name not in results:
            continue
        result = results[b.name]
        ref = results.get(b.reference or "")
        for s in sets:
            if s not in result["sets"]:
                continue
            row: Dict[str, Any] = {"system": b.name, "kind": b.kind, "group": b.group, "reference": b.reference or "", "set": s,
                                   "train_seconds": result.get("train_seconds")}
            for m in REPORT_METRICS:
                row[m] = mean_of(result, s, m)
                row[f"n_{m}"] = len(result["sets"][s]["scores"].get(m, {}))
                d, se, _ = paired_delta(result, ref, s, m) if ref is not None and b.name != b.reference else (None, None, 0)
                row[f"d_{m}"], row[f"se_d_{m}"] = d, se
            rows.append(row)
    return rows


def fmt(value: Optional[float], digits: int = 2, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


DIGITS = {"pesq_wb": 2, "estoi": 3, "sisdr": 1, DNSMOS_METRIC: 2}
LABELS = {"pesq_wb": "PESQ-WB", "estoi": "ESTOI", "sisdr": "SI-SDR", DNSMOS_METRIC: "DNSMOS"}


def markdown_table(sweep: Sweep, results: Mapping[str, Mapping[str, Any]], sets: Sequence[str], selected: Optional[str]) -> str:
    """Per set: PESQ-WB, ESTOI, SI-SDR, DNSMOS OVRL as ``value (delta vs reference)``."""
    by_key = {(r["system"], r["set"]): r for r in table_rows(sweep, results, sets)}
    head = ["group", "system", "vs"] + [f"{s} {LABELS[m]}" for s in sets for m in REPORT_METRICS] + ["fine-tune s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for b in sweep.rows:
        if b.name not in results:
            continue
        name = f"**{b.name}** (selected)" if b.name == selected else b.name
        cells = [b.group, name, b.reference if b.name != b.reference and b.reference else ""]
        for s in sets:
            row = by_key.get((b.name, s))
            for m in REPORT_METRICS:
                if row is None or row[m] is None:
                    cells.append("-")
                    continue
                cell = fmt(row[m], DIGITS[m])
                if row[f"d_{m}"] is not None:
                    cell += f" ({fmt(row[f'd_{m}'], DIGITS[m], signed=True)})"
                cells.append(cell)
        seconds = results[b.name].get("train_seconds")
        cells.append(f"{seconds:.0f}" if seconds else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: List[Dict[str, Any]]) -> None:
    from mal.io.atomic import atomic_open

    columns = list(rows[0]) if rows else ["system", "set"]
    with atomic_open(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v)) for k, v in row.items()})


def write_plot(path: Path, sweep: Sweep, results: Mapping[str, Mapping[str, Any]], sets: Sequence[str], selected: Optional[str]) -> None:
    """Bars: PESQ-WB gain over the reference per system and set, with paired standard errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mal.io.atomic import atomic_path

    systems = [b for b in sweep.rows if b.name in results and b.kind != "noisy" and b.reference and b.name != b.reference]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(systems) * len(sets) / 2 + 2), 4.2))
    width = 0.8 / max(1, len(sets))
    x = np.arange(len(systems))
    for i, s in enumerate(sets):
        deltas, errors = [], []
        for b in systems:
            d, se, _ = paired_delta(results[b.name], results[b.reference], s, "pesq_wb") if b.reference in results else (None, None, 0)
            deltas.append(np.nan if d is None else d)
            errors.append(0.0 if se is None or not math.isfinite(se) else se)
        ax.bar(x + (i - (len(sets) - 1) / 2) * width, deltas, width, yerr=errors, capsize=2, label=s)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{b.name}*" if b.name == selected else b.name for b in systems], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("PESQ-WB minus reference (continued)\n± paired standard error")
    ax.set_title(f"MAL ablation: {sweep.steps} fine-tuning steps per branch (* = selected on valid)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def seed_summary(sweep: Sweep, results: Mapping[str, Mapping[str, Any]], sets: Sequence[str]) -> str:
    """The base branch's gain over its reference once per seed (the base and the ``seed`` rows),
    with the mean and the standard deviation over seeds: how much of a gain is run-to-run noise."""
    pairs = [(b.name, b.reference) for b in sweep.rows
             if b.kind == "branch" and b.group in ("base", SEED_GROUP) and b.name in results and b.reference in results]
    if len(pairs) < 2:
        return ""
    lines = [f"\nSeeds (fine-tuning data order): gain of each run over the reference run of the same seed; "
             f"mean ± standard deviation over the {len(pairs)} seeds.\n",
             "| run | vs | " + " | ".join(f"{s} {LABELS[m]}" for s in sets for m in ("pesq_wb", "estoi", "sisdr")) + " |",
             "|---|---|" + "---:|" * (3 * len(sets))]
    deltas: Dict[Tuple[str, str], List[float]] = {}
    for name, ref in pairs:
        cells = []
        for s in sets:
            for m in ("pesq_wb", "estoi", "sisdr"):
                d = paired_delta(results[name], results[ref], s, m)[0]
                cells.append(fmt(d, DIGITS[m] + 1, signed=True))
                if d is not None:
                    deltas.setdefault((s, m), []).append(d)
        lines.append(f"| {name} | {ref} | " + " | ".join(cells) + " |")
    cells = []
    for s in sets:
        for m in ("pesq_wb", "estoi", "sisdr"):
            values = deltas.get((s, m), [])
            sd = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
            cells.append(f"{fmt(float(np.mean(values)) if values else None, DIGITS[m] + 1, signed=True)} ± {fmt(sd, DIGITS[m] + 1)}")
    lines.append("| mean ± sd | | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(ctx: Context) -> Optional[str]:
    """ablation.md / .csv / .png from every cached row of the sweep; returns the selected branch."""
    from mal.io.atomic import atomic_open

    results = {b.name: r for b in ctx.sweep.rows if (r := read_json(ctx.out / "branches" / b.name / "result.json")) is not None}
    if not results:
        logger.warning("no finished rows in %s: nothing to report", ctx.out)
        return None
    candidates = [b.name for b in ctx.sweep.rows if b.kind == "branch" and b.group != SEED_GROUP]
    selected = select_branch(results, candidates, "valid")
    sets = [s for s in ctx.sets if any(s in r["sets"] for r in results.values())]
    write_csv(ctx.out / "ablation.csv", table_rows(ctx.sweep, results, sets))
    write_plot(ctx.out / "ablation.png", ctx.sweep, results, sets, selected)
    missing = [b.name for b in ctx.sweep.rows if b.name not in results]
    text = io.StringIO()
    text.write(f"# Model-as-Loss ablation\n\nSweep `{ctx.sweep.path}`; warm-up `{ctx.sweep.warmups[MAIN_WARMUP].model}`; "
               f"{ctx.sweep.steps} fine-tuning steps per branch, seed {ctx.sweep.seed}. Scores: mean over "
               f"{', '.join(f'{s} n={len(ctx.eval_keys.get(s, []))}' for s in sets)} utterances (DNSMOS OVRL on "
               f"{ctx.args.dnsmos_utts}); in brackets the paired difference to the row named in `vs`.\n\n")
    if selected:
        r = results[selected]
        ref = results.get(r.get("reference") or "")
        text.write(f"Selected on valid (PESQ-WB gain over its reference, ties by ESTOI): **{selected}**.\n")
        others = [r.get("reference"), DEEP_FEATURE] if ref is not None else [DEEP_FEATURE]
        for other in dict.fromkeys(o for o in others if o in results and o != selected):
            for metric in ("pesq_wb", "estoi"):
                parts = []
                for s in sets:
                    d, se, n = paired_delta(r, results[other], s, metric)
                    if d is not None:
                        k = 3 if metric == "pesq_wb" else 4
                        parts.append(f"{s} {d:+.{k}f} ± {se:.{k}f} (n={n})")
                text.write(f"- {LABELS[metric]} minus {other} (paired mean ± standard error): " + ", ".join(parts) + "\n")
        text.write("\n")
    text.write(markdown_table(ctx.sweep, results, sets, selected))
    branches = [b for b in ctx.sweep.rows if b.kind == "branch" and b.group != SEED_GROUP]
    base = [b.name for b in branches if b.group == "base"]  # the level every one-factor group varies from
    groups = sorted({b.group for b in branches if b.name in results} - {"base"})
    best = [(g, select_branch(results, base + [b.name for b in branches if b.group == g], "valid")) for g in groups]
    best = [(g, n) for g, n in best if n]
    if best:
        with_base = f" (each group with the base branch {', '.join(base)})" if base else ""
        text.write(f"\nBest of each group on valid{with_base}: " + ", ".join(f"{g}: {n}" for g, n in best) + ".\n")
    text.write(seed_summary(ctx.sweep, results, sets))
    if missing:
        text.write(f"\nNot run yet: {', '.join(missing)}.\n")
    with atomic_open(ctx.out / "ablation.md", "w") as f:
        f.write(text.getvalue())
    return selected


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", required=True, type=Path, help="sweep YAML (base, steps, seed, warmups, branches)")
    parser.add_argument("--exp", required=True, type=Path, help="recipe experiment dir holding warmup/model.pth")
    parser.add_argument("--data", required=True, type=Path, help="data root holding the train, valid and evaluation sets")
    parser.add_argument("--out", type=Path, default=None, help="output dir (default: EXP/ablation)")
    parser.add_argument("--branches", default=None, help="comma-separated rows to run (their references are added); default all")
    parser.add_argument("--steps", type=int, default=None, help="fine-tuning steps per branch (overrides the sweep's 'steps')")
    parser.add_argument("--eval-utts", type=int, default=40, help="utterances per evaluation set (0: all)")
    parser.add_argument("--dnsmos-utts", type=int, default=20, help="utterances per set for DNSMOS OVRL (0: none)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--sets", default="valid,test,test_ood", help="evaluation sets under --data (selection uses 'valid')")
    parser.add_argument("--train-set", default="train")
    parser.add_argument("--valid-set", default="valid", help="the trainer's validation set")
    parser.add_argument("--trainer-valid-utts", type=int, default=20, help="the trainer's validation pass uses this many valid utterances (0: all)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--grad-ratio", action="store_true", help="compute the decoder gradient-norm ratio MAL / conventional "
                        "at the warm-up point for the base config (or each of --branches), print it, store it in "
                        "OUT/grad_ratio.yaml and exit")
    parser.add_argument("--grad-batches", type=int, default=8, help="batches averaged by the gradient-norm ratio")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes sharing the rows (each with --threads threads)")
    parser.add_argument("--claim", action="store_true", help=argparse.SUPPRESS)  # a worker of --jobs N
    parser.add_argument("--report-only", action="store_true", help="only rewrite ablation.md/csv/png from cached rows")
    parser.add_argument("--list", action="store_true", help="print the rows and their configs' differences from base, then exit")
    parser.add_argument("--keep-audio", action="store_true", help="keep the enhanced wavs of each row (default: delete once scored)")
    return parser


def selected_rows(sweep: Sweep, names: Optional[str]) -> List[Branch]:
    """All rows in sweep order, or the named ones in the given order followed by their references."""
    if not names:
        return list(sweep.rows)
    wanted: List[str] = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        sweep.row(name)
        wanted.append(name)
    for name in list(wanted):  # deltas need the references
        ref = sweep.row(name).reference
        if ref and ref not in wanted:
            wanted.append(ref)
    return [sweep.row(name) for name in wanted]


def describe(branch: Branch, base: Dict[str, Any]) -> str:
    from mal.train.config import config_differences

    if not branch.trains:
        return f"{branch.kind}"
    diffs = config_differences(base, branch.config)
    parts = [f"{d}={json.dumps(_get(branch.config, d), default=str)}" for d in diffs if not d.startswith("model")]
    if branch.conventional_weight is not None:
        parts.append(f"conventional_weight={branch.conventional_weight}")
    parts.append(f"init={branch.init}")
    return "; ".join(parts)


def _get(config: Dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def run_claiming(args: argparse.Namespace, ctx: Context, out: Path) -> None:
    """Worker of ``--jobs N``: train the warm-ups and rows nobody else holds, skip the busy ones,
    then wait for a busy one and look again, until every selected row has its result."""
    while True:
        busy: List[Path] = []
        sweep = load_sweep(args.sweep, args.exp, out, args.steps)
        ctx.sweep = sweep
        rows = selected_rows(sweep, args.branches)
        for warmup in {id(b.warmup): b.warmup for b in rows}.values():
            if not train_warmup(warmup, ctx, wait=False):
                busy.append(warmup.dir)
        sweep = load_sweep(args.sweep, args.exp, out, args.steps)  # warm-ups trained above: configs complete
        ctx.sweep = sweep
        for branch in selected_rows(sweep, args.branches):
            if branch.warmup.config is not None and not branch.warmup.model.is_file():
                continue  # its warm-up is being trained by another worker (listed in busy)
            root = out / "branches" / branch.name
            with dir_lock(root, wait=False) as mine:
                if not mine:
                    busy.append(root)
                elif not run_row_unlocked(branch, ctx).get("cached"):
                    write_report(ctx)
        if not busy:
            return
        logger.info("waiting for %s, run by another worker", busy[0].name)
        with dir_lock(busy[0]):
            pass


def run_workers(args: argparse.Namespace, argv: List[str], out: Path) -> int:
    """``--jobs N``: N worker processes share the rows; logs in OUT/worker_<i>.log."""
    import subprocess

    out.mkdir(parents=True, exist_ok=True)
    workers = []
    for i in range(1, args.jobs + 1):
        log = out / f"worker_{i}.log"
        with open(log, "w") as handle:
            cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--jobs", "1", "--claim"]
            workers.append((log, subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT)))
    logger.info("%d workers started; their logs: %s", args.jobs, ", ".join(str(log) for log, _ in workers))
    failed = [(log, proc.wait()) for log, proc in workers]
    failed = [(log, code) for log, code in failed if code != 0]
    for log, code in failed:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-5:])
        print(f"mal_ablation: a worker failed (code {code}); {log} ends with:\n{tail}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (ablation) %(levelname)s: %(message)s", stream=sys.stderr)
    import torch

    torch.set_num_threads(max(1, args.threads))
    from mal.io.audio import AudioError
    from mal.io.datadir import DataDirError
    from mal.io.scp import ScpError
    from mal.models.checkpoint import CheckpointError
    from mal.train.config import ConfigError
    from mal.train.trainer import TrainingError

    out = args.out or args.exp / "ablation"
    try:
        sweep = load_sweep(args.sweep, args.exp, out, args.steps)
        ctx = Context(args, sweep, args.data, out, [s for s in args.sets.split(",") if s])
        main_warmup = sweep.warmups[MAIN_WARMUP].model
        base_config = finish_config(with_steps(sweep.base, sweep.steps, sweep.seed), main_warmup, f"{sweep.path}: base")
        if args.list:
            for b in sweep.rows:
                print(f"{b.group:10s} {b.name:22s} vs {b.reference or '-':14s} {describe(b, base_config)}")
            return 0
        if "valid" not in ctx.sets:
            raise SweepError("--sets must include 'valid': branches are selected on it")
        prepare_eval(ctx)
        out.mkdir(parents=True, exist_ok=True)
        if args.grad_ratio:
            warmup = sweep.warmups[MAIN_WARMUP]
            probes = [Branch("base", "branch", "base", warmup, config=base_config, init=warmup.model)]
            if args.branches:
                probes = [b for b in selected_rows(sweep, args.branches) if b.trains and grad_ratio_applies(b)]
            for probe in probes:
                factor = equalising_factor(probe, ctx)
                print(f"{probe.name}: decoder gradient norm ratio MAL/conventional = {factor:.4g} (conventional/MAL = "
                      f"{1 / factor:.1f}); equalising conventional weight factor = {factor:.4g}; stored in {out / 'grad_ratio.yaml'}")
            return 0
        if args.jobs > 1 and not args.report_only:
            code = run_workers(args, argv, out)
            selected = write_report(ctx)
            print(f"mal_ablation: wrote {out / 'ablation.md'} (selected on valid: {selected})", file=sys.stderr)
            return code
        if args.claim and not args.report_only:
            run_claiming(args, ctx, out)
        elif not args.report_only:
            for warmup in sweep.warmups.values():
                if any(b.warmup is warmup for b in selected_rows(sweep, args.branches)):
                    train_warmup(warmup, ctx)
            sweep = load_sweep(args.sweep, args.exp, out, args.steps)  # extra warm-ups now exist: configs complete
            ctx.sweep = sweep
            for branch in selected_rows(sweep, args.branches):
                if not run_row(branch, ctx).get("cached"):
                    write_report(ctx)  # progress of a long sweep
        selected = write_report(ctx)
    except (SweepError, ConfigError, TrainingError, CheckpointError, DataDirError, AudioError, ScpError) as e:
        print(f"mal_ablation: error: {e}", file=sys.stderr)
        return 1
    print(f"mal_ablation: wrote {out / 'ablation.md'} (selected on valid: {selected})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
