"""mal-train: train (or fine-tune, or resume) one enhancement system from a YAML config.

Single process: ``mal-train --config conf/train.yaml --train-dir data/train --valid-dir
data/valid --out-dir exp/warmup``; data-parallel: ``torchrun --nproc_per_node 2 -m
mal.bin.train ...`` (gloo on CPU, nccl on GPU; batch.batch_size is the global batch).
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from mal.bin import add_device_option
from mal.bin.interrupt import exit_interrupted, reliable_interrupt
from mal.io.audio import AudioError
from mal.io.datadir import DataDirError
from mal.io.paths import PathError, check_dir_path
from mal.io.scp import ScpError
from mal.models.checkpoint import CheckpointError
from mal.train.config import ConfigError, dump_config, expand_config, load_config


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mal-train",
        description="Train a speech-enhancement model (warm-up or Model-as-Loss fine-tuning).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="training YAML")
    parser.add_argument("--train-dir", help="training data dir (wav.scp noisy, spk1.scp clean)")
    parser.add_argument("--valid-dir", help="validation data dir (wav.scp noisy, spk1.scp clean)")
    parser.add_argument("--out-dir", help="experiment dir for config.yaml, checkpoint.pth, epoch<N>.pth, model.pth, log.csv, train.log")
    parser.add_argument("--init", default=None, help="initialise the model weights from this checkpoint/model.pth/model.tar.gz "
                        "(the optimiser only with train.init_optimizer: true)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint.pth when it exists")
    parser.add_argument("--seed", type=int, default=None, help="overrides train.seed")
    add_device_option(parser)
    parser.add_argument("--override", nargs="+", action="extend", default=[], metavar="KEY.SUB=VALUE",
                        help="change a config value, e.g. optim.lr=1e-4 train.max_steps=500 criterions.0.weight=2")
    parser.add_argument("--num-threads", type=int, default=0,
                        help="torch intra-op threads for CPU work (0: torch's default, from OMP_NUM_THREADS)")
    parser.add_argument("--print-config", action="store_true", help="print the effective config as YAML and exit")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also log to OUT_DIR/tensorboard/ (needs the tensorboard extra: pip install 'mal[tensorboard]')")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    if args.num_threads > 0:
        import torch

        torch.set_num_threads(args.num_threads)
    from mal.train.tensorboard import TensorBoardUnavailable
    from mal.train.trainer import TrainingError, train

    try:
        overrides = list(args.override) + ([f"train.seed={args.seed}"] if args.seed is not None else [])
        config = load_config(args.config, overrides, model_from=args.init)
        if args.print_config:
            sys.stdout.write(dump_config(expand_config(config)))
            return 0
        missing = [flag for flag, value in (("--train-dir", args.train_dir), ("--valid-dir", args.valid_dir), ("--out-dir", args.out_dir)) if not value]
        if missing:
            get_parser().error(f"the following arguments are required: {', '.join(missing)}")
        check_dir_path(args.out_dir, "--out-dir")
        with reliable_interrupt():
            path = train(config, args.train_dir, args.valid_dir, args.out_dir, init=args.init, resume=args.resume,
                         device=args.device, tensorboard=args.tensorboard)
    except (ConfigError, DataDirError, AudioError, ScpError, CheckpointError, TrainingError, TensorBoardUnavailable, PathError) as e:
        print(f"mal-train: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # checkpoints are written whole at epoch ends: nothing to save here
        exit_interrupted("mal-train: interrupted; resume with --resume (it continues from the last finished epoch "
                         f"in {args.out_dir}/checkpoint.pth)")
    print(f"mal-train: wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
