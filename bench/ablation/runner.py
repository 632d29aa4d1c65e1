"""Running the rows: extra warm-ups, fine-tuning, enhancement and scoring, each cached on disk."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from bench.ablation.configs import SweepError, finish_config, scale_conventional, with_steps
from bench.ablation.grad_ratio import equalising_factor
from bench.ablation.sweep import DNSMOS_METRIC, METRICS, REPORT_METRICS, Branch, Sweep, Warmup
from mal.enhance import Enhancer, enhance_scp
from mal.io.atomic import atomic_open, dir_lock, write_json
from mal.io.datadir import subset_data_dir
from mal.io.scp import read_scp
from mal.score.metrics import score_tables
from mal.train.config import ConfigError, build_config
from mal.train.trainer import train

logger = logging.getLogger("mal.bench.ablation")


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


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def prepare_eval(ctx: Context) -> None:
    for name in ctx.sets:
        table = ctx.data / name / "wav.scp"
        if not table.is_file():
            raise SweepError(f"{table}: not found (evaluation set '{name}')")
        keys = sorted(read_scp(table))
        ctx.eval_keys[name] = spread(keys, ctx.args.eval_utts)
        ctx.dnsmos_keys[name] = spread(ctx.eval_keys[name], ctx.args.dnsmos_utts) if ctx.args.dnsmos_utts > 0 else []


def trainer_valid_dir(ctx: Context) -> Path:
    """The trainer's validation data: the valid set or an evenly spread subset of it."""
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
        config = scale_conventional(config, equalising_factor(dataclasses.replace(branch, config=config), ctx))
    return config


def fine_tune(branch: Branch, ctx: Context) -> Tuple[Path, Dict[str, Any]]:
    """Train the branch (or resume it); returns (model.pth, train record). Cached."""
    root = ctx.out / "branches" / branch.name
    if not branch.init.is_file():
        raise SweepError(f"branch '{branch.name}': init {branch.init} not found")
    config = effective_config(branch, ctx)
    train_dir = ctx.data / (branch.train_set or ctx.args.train_set)
    spec = {"config": config, "init": str(branch.init), "init_stamp": file_stamp(branch.init)}
    if branch.train_set:  # only then: the fingerprints of rows trained on --train-set stay as they were
        spec["train_set"] = branch.train_set
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
    model = train(config, train_dir, trainer_valid_dir(ctx), root / "train", init=branch.init,
                  resume=True, device=ctx.args.device)
    record = {"fingerprint": key, "seconds": round(time.time() - started, 3), "steps": config["train"]["max_steps"], "resumed": resumed,
              "threads": ctx.args.threads}
    write_json(root / "train.json", record)
    return Path(model), record


def score_set(estimates: Mapping[str, str], ctx: Context, name: str) -> Dict[str, Any]:
    """Per-utterance scores of one evaluation set: METRICS on the eval keys, DNSMOS on its subset."""
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
    keys_file = work / f"{name}.keys"
    with atomic_open(keys_file, "w") as f:
        f.writelines(f"{k}\n" for k in ctx.eval_keys[name])
    enhancer = Enhancer.from_checkpoint(model_path, device=ctx.args.device)
    return enhance_scp(enhancer, ctx.data / name / "wav.scp", work / name, key_file=keys_file, skip_existing=True)


def run_row(branch: Branch, ctx: Context) -> Dict[str, Any]:
    """Train (if it is a branch), enhance and score one row; cached in branches/<name>/result.json."""
    with dir_lock(ctx.out / "branches" / branch.name):
        return run_row_unlocked(branch, ctx)


def run_row_unlocked(branch: Branch, ctx: Context) -> Dict[str, Any]:
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
