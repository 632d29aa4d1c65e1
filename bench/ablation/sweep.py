"""The sweep file: warm-ups and branches (rows) with their training configs."""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from bench.ablation.configs import (SweepError, config_mapping, finish_config, is_mal, model_config_of, read_yaml,
                                    scale_conventional, with_steps)
from mal.train.config import ConfigError, apply_override, config_differences

MAIN_WARMUP = "warmup"
CONTINUED, DEEP_FEATURE = "continued", "deep_feature"
BRANCH_KEYS = {"name", "group", "overrides", "criterions", "config", "conventional_weight", "init", "warmup", "reference", "note",
               "train_set"}
WARMUP_KEYS = {"config", "steps", "overrides"}
SWEEP_KEYS = {"base", "base_overrides", "steps", "seed", "warmups", "branches"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
METRICS = ("pesq_wb", "estoi", "sisdr")
DNSMOS_METRIC = "dnsmos_ovrl"
REPORT_METRICS = METRICS + (DNSMOS_METRIC,)
#: rows of this group repeat another branch with another seed: a noise estimate, never selected
SEED_GROUP = "seed"
DEEP_FEATURE_SPEC = {"name": "deep_feature", "weight": 1.0, "conf": {"network": "ge2e", "layers": "all", "distance": "l1"}}


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
    train_set: Optional[str] = None  # a training data dir under --data other than --train-set

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
    train_set = spec.get("train_set")
    if train_set is not None and (not isinstance(train_set, str) or not train_set or Path(train_set).is_absolute()):
        raise SweepError(f"{where}: train_set must be a data dir relative to --data, got {train_set!r}")
    return Branch(name, kind, str(spec.get("group") or "other"), warmup, reference, config, init, weight, str(spec.get("note") or ""),
                  train_set)


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
    """How a row's training config differs from the base config (for --list)."""
    if not branch.trains:
        return f"{branch.kind}"
    diffs = config_differences(base, branch.config)
    parts = [f"{d}={json.dumps(_get(branch.config, d), default=str)}" for d in diffs if not d.startswith("model")]
    if branch.conventional_weight is not None:
        parts.append(f"conventional_weight={branch.conventional_weight}")
    if branch.train_set:
        parts.append(f"train_set={branch.train_set}")
    parts.append(f"init={branch.init}")
    return "; ".join(parts)


def _get(config: Dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node
