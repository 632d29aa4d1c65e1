"""Model-as-Loss ablation: fine-tune one warm-up many ways, score every branch, pick on valid.

    python -m bench.ablation --sweep egs/mini_offline/conf/sweep.yaml \\
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
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch

from bench.ablation.configs import SweepError, finish_config, with_steps
from bench.ablation.grad_ratio import equalising_factor, grad_ratio_applies
from bench.ablation.report import write_report
from bench.ablation.runner import Context, prepare_eval, run_row, run_row_unlocked, train_warmup
from bench.ablation.sweep import MAIN_WARMUP, Branch, describe, load_sweep, selected_rows
from mal.io.atomic import dir_lock
from mal.io.audio import AudioError
from mal.io.datadir import DataDirError
from mal.io.scp import ScpError
from mal.models.checkpoint import CheckpointError
from mal.train.config import ConfigError
from mal.train.trainer import TrainingError

logger = logging.getLogger("mal.bench.ablation")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.ablation", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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


def worker_env() -> Dict[str, str]:
    """The environment of a worker: this one, with the repository root importable (``bench``)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=root if not path else os.pathsep.join([root, path]))


def run_workers(args: argparse.Namespace, argv: List[str], out: Path) -> int:
    """``--jobs N``: N worker processes share the rows; logs in OUT/worker_<i>.log."""
    out.mkdir(parents=True, exist_ok=True)
    workers = []
    for i in range(1, args.jobs + 1):
        log = out / f"worker_{i}.log"
        with open(log, "w") as handle:
            cmd = [sys.executable, "-m", "bench.ablation", *argv, "--jobs", "1", "--claim"]
            workers.append((log, subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=worker_env())))
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
    torch.set_num_threads(max(1, args.threads))

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
