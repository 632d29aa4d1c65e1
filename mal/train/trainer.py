"""The training loop: warm-up and Model-as-Loss fine-tuning are the same loop with other criteria.

Order of construction (it matters for MAL): model -> ``--init`` weights -> ``criterion.attach``
(MAL snapshots the warm-up encoder here) -> optimiser over the parameters that still require
grad (MAL ``frozen-fe`` freezes the encoder in attach). The trainer never looks at loss names.

Crash safety: every epoch ends with an atomic ``checkpoint.pth`` holding everything needed to
continue (weights, optimiser, schedule, RNG states, best list, history, and the weights the
criterion was attached to); ``--resume`` replays the interrupted epoch. Data order and segment
offsets are pure functions of (seed, epoch), so on CPU a resumed run ends with the same
weights as an uninterrupted one.
"""
from __future__ import annotations

import logging
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import nn
from tqdm import tqdm

from mal.io.atomic import atomic_open
from mal.losses import CombinedLoss
from mal.losses.time import si_sdr
from mal.models import AbsSEModel, build_model
from mal.models.checkpoint import CheckpointError, load_checkpoint, model_record, save_checkpoint
from mal.models.pretrained import load_model
from mal.progress import ProgressLog
from mal.train import distributed as dist_utils
from mal.train.average import average_state_dicts
from mal.train.config import ConfigError, config_differences, dump_config, expand_config
from mal.train.dataset import UtteranceDataset, cycle_epoch_batches, train_loader, valid_loader
from mal.train.dynamic_mixing import make_train_dataset
from mal.train.expdir import ExpDir, metric_mode, update_best, write_log_csv
from mal.train.optim import AMP_DTYPES, LRSchedule, build_optimizer
from mal.train.precision import MixedPrecision, StepOutcome, cudnn_benchmark
from mal.train.rng import capture_rng, deterministic, restore_rng, seed_everything
from mal.train.tensorboard import TensorBoardLog

logger = logging.getLogger("mal.train")


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children (loader workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite losses, unusable --init/--resume state, ...)."""


# ---------------------------------------------------------------------------------------------
# Numerics
# ---------------------------------------------------------------------------------------------

class NonFiniteGuard:
    """Counts skipped steps; raises after ``tolerance`` consecutive non-finite losses/gradients."""

    def __init__(self, tolerance: int):
        self.tolerance = tolerance
        self.consecutive = 0
        self.total = 0

    def good(self) -> None:
        self.consecutive = 0

    def bad(self, step: int, reason: str) -> None:
        self.consecutive += 1
        self.total += 1
        logger.warning("step %d: %s; update skipped (%d in a row, %d in total)", step + 1, reason, self.consecutive, self.total)
        if self.consecutive >= self.tolerance:
            raise TrainingError(
                f"{self.consecutive} consecutive training steps had a non-finite loss or gradient "
                f"(train.nan_tolerance={self.tolerance}); last: {reason}. Lower optim.lr, check "
                "train.grad_clip and the data, or resume from an earlier checkpoint"
            )

    def state_dict(self) -> Dict[str, int]:
        return {"consecutive": self.consecutive, "total": self.total}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        self.consecutive, self.total = int(state["consecutive"]), int(state["total"])


# ---------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------

#: What checkpoint.pth holds besides the model record (all needed by --resume).
RESUME_KEYS = ("model", "config", "epoch", "step", "optimizer", "scheduler", "guard", "rng", "best", "history", "attach_state")


class Trainer:
    """Train one system as described by ``config`` and write the experiment directory."""

    def __init__(
        self,
        config: Dict[str, Any],
        train_dir: Union[str, Path],
        valid_dir: Union[str, Path],
        out_dir: Union[str, Path],
        init: Optional[Union[str, Path]] = None,
        resume: bool = False,
        device: str = "auto",
        tensorboard: bool = False,
    ):
        self.config = expand_config(config)
        self.train_dir, self.valid_dir = Path(train_dir), Path(valid_dir)
        self.exp = ExpDir(out_dir)
        self.init = Path(init) if init else None
        self.resume = resume
        self.device_name = device
        self.tensorboard = tensorboard
        self.tb: Optional[TensorBoardLog] = None
        self.tc = self.config["train"]
        self._log_handlers: List[logging.Handler] = []

    # -- setup ----------------------------------------------------------------------------------

    def _setup_logging(self) -> None:
        logger.setLevel(logging.INFO if self.ctx.is_main else logging.WARNING)
        logger.propagate = False
        fmt = logging.Formatter("%(asctime)s (%(module)s) %(levelname)s: %(message)s")
        handlers: List[logging.Handler] = [logging.StreamHandler(sys.stderr)]
        if self.ctx.is_main:
            self.exp.path.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(self.exp.train_log, encoding="utf-8"))
        for h in handlers:
            h.setFormatter(fmt)
            logger.addHandler(h)
        self._log_handlers = handlers

    def _teardown_logging(self) -> None:
        for h in self._log_handlers:
            logger.removeHandler(h)
            h.close()
        self._log_handlers = []

    def _build_data(self) -> None:
        conf, sr = self.config["batch"], self.config["sample_rate"]
        if conf["batch_size"] % self.ctx.world_size:
            raise ConfigError(f"batch.batch_size={conf['batch_size']} must be divisible by the {self.ctx.world_size} processes")
        self.train_set = make_train_dataset(self.train_dir, sr, conf["segment_seconds"], self.config["dynamic_mixing"], self.tc["seed"])
        self.valid_set = UtteranceDataset(self.valid_dir, sr)
        per_process = conf["batch_size"] // self.ctx.world_size
        pin = self.ctx.device.type == "cuda"  # page-locked batches: the non_blocking copies overlap compute
        self.train_loader, self.sampler = train_loader(self.train_set, per_process, self.num_workers, self.ctx.rank, self.ctx.world_size, pin)
        self.valid_loader = valid_loader(self.valid_set, conf["valid_batch_size"], conf["valid_max_seconds"], sr,
                                         self.num_workers, self.ctx.rank, self.ctx.world_size, pin)
        self.steps_per_epoch = self.tc["steps_per_epoch"] or len(self.train_loader)
        logger.info("train: %s (%d utterances, %d batches of %d per process and epoch); valid: %s (%d utterances)",
                    self.train_dir, len(self.train_set), self.steps_per_epoch, per_process, self.valid_dir, len(self.valid_set))

    def _build_model_and_criterion(self) -> None:
        mconf = self.config["model"]
        try:
            self.model: AbsSEModel = build_model(mconf["name"], **mconf["conf"]).to(self.ctx.device)
            self.criterion = CombinedLoss(self.config["criterions"])
        except (KeyError, TypeError, ValueError, FileNotFoundError) as e:  # FileNotFoundError: a loss's weights
            raise ConfigError(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)) from None
        self.state: Optional[Dict[str, Any]] = None
        if self.resume and self.exp.checkpoint.is_file():
            self.state = load_checkpoint(self.exp.checkpoint)
            missing = [k for k in RESUME_KEYS if k not in self.state]
            if missing:
                raise TrainingError(f"{self.exp.checkpoint}: not a mal-train training checkpoint (no '{missing[0]}'); cannot --resume from it")
            self._check_same_model(self.state, self.exp.checkpoint)
            # Attach to the weights the interrupted run attached to (MAL's frozen copy), then continue.
            self._load_resumed_weights(self.state["attach_state"])
            self.criterion.attach(self.model)
            self.attach_state = self.state["attach_state"]
            self._load_resumed_weights(self.state["model"]["state_dict"])
            logger.info("resuming from %s (epoch %d, step %d)", self.exp.checkpoint, self.state["epoch"], self.state["step"])
        else:
            if self.exp.checkpoint.is_file():
                raise TrainingError(f"{self.exp.checkpoint} exists: pass --resume to continue that run, or choose another --out-dir")
            if self.resume:
                logger.warning("--resume: nothing to resume (no %s); training from the start", self.exp.checkpoint)
            if self.init is not None:
                self._load_init_weights()
            self.criterion.attach(self.model)
            self.attach_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        self.criterion.to(self.ctx.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if not self.params:
            raise TrainingError("no model parameter requires a gradient after criterion.attach(); nothing to train")
        n_all = sum(p.numel() for p in self.model.parameters())
        n_train = sum(p.numel() for p in self.params)
        logger.info("model %s: %d parameters, %d trained; criterions: %s", mconf["name"], n_all, n_train,
                    ", ".join(f"{n} (weight {w:g})" for n, w in zip(self.criterion.names, self.criterion.weights)))

    def _load_resumed_weights(self, weights: Dict[str, torch.Tensor]) -> None:
        """Load checkpoint.pth's weights; weights of another model size fail naming the conf keys."""
        try:
            self.model.load_state_dict(weights)
        except RuntimeError:
            keys = config_differences(self.state["model"].get("conf") or {}, self.config["model"]["conf"])
            differs = f" (model.conf differs in: {', '.join(keys)})" if keys else ""
            raise TrainingError(f"{self.exp.checkpoint}: its weights do not fit the configured model{differs}; resume "
                                f"with the run's own settings ({self.exp.config}), or choose another --out-dir") from None

    def _check_same_model(self, state: Dict[str, Any], where: Path) -> None:
        record = state.get("model") or {}
        if record.get("name") != self.config["model"]["name"]:
            raise TrainingError(f"{where}: holds a '{record.get('name')}' model but the config trains '{self.config['model']['name']}'")

    def _load_init_weights(self) -> None:
        try:
            init_model, init_state = load_model(self.init)
        except CheckpointError as e:
            raise TrainingError(f"--init: {e}") from None
        self._check_same_model(init_state, self.init)
        try:
            self.model.load_state_dict(init_model.state_dict())
        except RuntimeError as e:
            raise TrainingError(f"--init {self.init}: weights do not fit the configured model (model.conf differs?): {e}") from None
        if init_state["model"]["conf"] != self.config["model"]["conf"]:
            diff = config_differences(init_state["model"]["conf"], self.config["model"]["conf"])
            logger.warning("--init %s: model conf differs from the config in %s; weights loaded anyway", self.init, ", ".join(diff))
        self.init_state = init_state
        logger.info("initialised the model from %s", self.init)

    def _build_optimisation(self) -> None:
        self.optimizer = build_optimizer(self.params, self.config["optim"])
        total = self.tc["max_steps"] or self.tc["max_epochs"] * self.steps_per_epoch
        self.mode = metric_mode(self.tc["best_metric"])
        try:
            self.schedule = LRSchedule(self.config["scheduler"], self.config["optim"]["lr"], total, self.mode)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self.guard = NonFiniteGuard(self.tc["nan_tolerance"])
        self.precision = MixedPrecision(self.ctx.device, self.tc["amp"], AMP_DTYPES[self.tc["amp_dtype"]])
        self.scaler = self.precision.scaler
        self.scaler_skips = 0
        self.epoch, self.step = 0, 0
        self.best: List[List[float]] = []
        self.history: List[Dict[str, Any]] = []
        if self.state is not None:
            self._load_training_state(self.state)
        elif self.init is not None and self.tc["init_optimizer"]:
            if "optimizer" not in self.init_state:
                raise TrainingError(f"--init {self.init}: holds no optimiser state (only checkpoint.pth files do); set train.init_optimizer: false")
            try:
                self.optimizer.load_state_dict(self.init_state["optimizer"])
            except (ValueError, KeyError) as e:
                raise TrainingError(f"--init {self.init}: its optimiser state does not fit the trained parameters: {e}") from None
            logger.info("optimiser state loaded from %s (train.init_optimizer: true)", self.init)
        self.ddp_model: nn.Module = self.model
        if self.ctx.enabled:
            device_ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            self.ddp_model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)

    def _load_training_state(self, state: Dict[str, Any]) -> None:
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state["scheduler"])
            self.guard.load_state_dict(state["guard"])
            if state.get("scaler") and self.scaler.is_enabled():
                self.scaler.load_state_dict(state["scaler"])
        except (KeyError, ValueError) as e:
            raise TrainingError(f"{self.exp.checkpoint}: training state does not fit this run: {e}") from None
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best = [list(b) for b in state["best"]]
        self.history = list(state["history"])
        diffs = config_differences(state.get("config") or {}, self.config)
        if diffs:
            logger.warning("resumed with a config that differs from the checkpoint's in: %s", ", ".join(diffs))

    # -- training -------------------------------------------------------------------------------

    def _level(self, noisy: torch.Tensor, clean: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Both signals scaled per example so the noisy RMS (over ``lengths``) is ``batch.normalize_rms``."""
        target = self.config["batch"]["normalize_rms"]
        if not target:
            return noisy, clean
        energy = noisy.float().square().sum(-1)
        count = lengths.to(noisy.device).clamp_min(1) if lengths is not None else noisy.shape[-1]
        scale = (target / (energy / count).sqrt().clamp_min(1e-5)).unsqueeze(-1)
        return noisy * scale, clean * scale

    def _autocast(self):
        return self.precision.autocast()

    def _train_step(self, noisy: torch.Tensor, clean: torch.Tensor) -> Optional[Dict[str, float]]:
        """One update; None when it was skipped (non-finite loss or gradient, or a loss-scale overflow)."""
        noisy, clean = noisy.to(self.ctx.device, non_blocking=True), clean.to(self.ctx.device, non_blocking=True)
        noisy, clean = self._level(noisy, clean)
        with self._autocast():
            enhanced = self.ddp_model(noisy)
        loss, terms = self.criterion(enhanced.float(), clean, noisy)
        # Backward also for a non-finite loss (every process must join the gradient all-reduce);
        # loss, gradient norm and terms then reach the host in one copy.
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.tc["grad_clip"] or float("inf"))
        numbers = torch.stack([t.detach().float().to(loss.device) for t in (loss, grad_norm, *terms.values())]).tolist()
        out = {"loss": numbers[0], **dict(zip(terms, numbers[2:]))}
        loss_ok, grad_ok = math.isfinite(numbers[0]), math.isfinite(numbers[1])
        outcome = self.precision.outcome(loss_ok, grad_ok)
        order = list(StepOutcome)
        outcome = order[dist_utils.max_over_processes(self.ctx, order.index(outcome))]  # the worst of all processes
        if outcome is not StepOutcome.OK:
            self.optimizer.zero_grad(set_to_none=True)
            scale = self.scaler.get_scale() if self.scaler.is_enabled() else 1.0
            self.scaler.update()  # a no-op without a scaler; else halves the scale
            if outcome is StepOutcome.OVERFLOW:
                self.scaler_skips += 1
                logger.info("step %d: gradients overflowed at loss scale %g; update skipped and the scale halved "
                            "(the GradScaler's normal search, not counted toward train.nan_tolerance)", self.step + 1, scale)
                return None
            if not loss_ok:
                reason = "non-finite loss (" + ", ".join(f"{k}={v:.4g}" for k, v in out.items() if k != "loss") + ")"
            elif not grad_ok:
                reason = f"non-finite gradient norm (loss {numbers[0]:.4g})"
            else:
                reason = "non-finite loss or gradient in another process"
            self.guard.bad(self.step, reason)
            return None
        lr = self.schedule.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.guard.good()
        self.step += 1
        return out

    def _train_epoch(self, epoch: int) -> Dict[str, float]:
        self.ddp_model.train()
        self.criterion.train()
        sums: Dict[str, float] = {}
        good = 0
        max_steps = self.tc["max_steps"]
        batches = cycle_epoch_batches(self.train_loader, self.sampler, self.train_set, epoch, self.tc["steps_per_epoch"])
        show = self.ctx.is_main and sys.stderr.isatty()
        bar = tqdm(batches, total=self.steps_per_epoch, desc=f"epoch {epoch}", disable=not show, leave=False, dynamic_ncols=True)
        for noisy, clean in bar:
            if max_steps is not None and self.step >= max_steps:
                break
            values = self._train_step(noisy, clean)
            if values is None:
                continue
            good += 1
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v
            if show:
                bar.set_postfix(loss=f"{values['loss']:.4g}", step=self.step)
            if not show and self.ctx.is_main:
                self.step_progress.update_to(self.step)
            if self.tb is not None and self.step % self.tc["log_interval"] == 0:
                self.tb.step(self.step, values, self.optimizer.param_groups[0]["lr"])
            if self.step % self.tc["log_interval"] == 0:
                logger.info("epoch %d step %d: %s lr=%.3g", epoch, self.step,
                            " ".join(f"{k}={v:.4g}" for k, v in values.items()), self.optimizer.param_groups[0]["lr"])
        bar.close()
        sums["count"] = float(good)
        sums = dist_utils.all_reduce_sum(self.ctx, sums)
        count = max(sums.pop("count"), 1.0)
        return {f"train_{k}": v / count for k, v in sorted(sums.items(), key=lambda kv: (kv[0] != "loss", kv[0]))}

    @torch.no_grad()
    def validate(self) -> Dict[str, float]:
        """Mean criterion terms and SI-SDR (improvement) over full validation utterances."""
        self.model.eval()
        self.criterion.eval()
        sums: Dict[str, float] = {"loss": 0.0, **{n: 0.0 for n in self.criterion.names}, "sisdr": 0.0, "sisdri": 0.0, "count": 0.0}
        with cudnn_benchmark(False):  # utterances of many lengths: no autotuning for each
            self._validate_batches(sums)
        sums = dist_utils.all_reduce_sum(self.ctx, sums)
        count = max(sums.pop("count"), 1.0)
        self.model.train()
        self.criterion.train()
        return {f"valid_{k}": v / count for k, v in sums.items()}

    def _validate_batches(self, sums: Dict[str, float]) -> None:
        for batch in self.valid_loader:
            noisy, clean = self._level(batch["noisy"].to(self.ctx.device), batch["clean"].to(self.ctx.device), batch["lengths"])
            with self._autocast():
                enhanced = self.model(noisy)
            enhanced = enhanced.float()
            for b, length in enumerate(batch["lengths"].tolist()):
                e, c, n = enhanced[b : b + 1, :length], clean[b : b + 1, :length], noisy[b : b + 1, :length]
                loss, terms = self.criterion(e, c, n)
                sums["loss"] += float(loss)
                for name, value in terms.items():
                    sums[name] += float(value)
                sdr = float(si_sdr(e, c)[0])
                sums["sisdr"] += sdr
                sums["sisdri"] += sdr - float(si_sdr(n, c)[0])
                sums["count"] += 1

    # -- checkpoints ------------------------------------------------------------------------------

    def _record(self) -> Dict[str, Any]:
        return model_record(self.model, self.config["model"]["name"], self.config["model"]["conf"])

    def _save_epoch(self, epoch: int, row: Dict[str, Any]) -> None:
        """Epoch file (when among the best), then checkpoint.pth, then log.csv; all atomic."""
        metric_name = self.tc["best_metric"]
        if metric_name not in row:
            choices = ", ".join(k for k in row if k.startswith("valid_"))
            raise ConfigError(f"train.best_metric={metric_name!r} is not a validation metric of this run; choose one of: {choices}")
        self.schedule.epoch_end(float(row[metric_name]))
        self.best, kept = update_best(self.best, epoch, float(row[metric_name]), self.tc["keep_nbest"], self.mode)
        self.history.append(row)
        if not self.ctx.is_main:
            return
        record = self._record()
        if kept:
            save_checkpoint(self.exp.epoch(epoch), {"model": record, "config": self.config, "epoch": epoch, "step": self.step, "metrics": row})
        state = {
            "model": record,
            "config": self.config,
            "epoch": epoch,
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "guard": self.guard.state_dict(),
            "rng": capture_rng(),
            "best": self.best,
            "history": self.history,
            "attach_state": self.attach_state,
        }
        save_checkpoint(self.exp.checkpoint, state)
        write_log_csv(self.exp.log_csv, self.history)
        self.exp.remove_stale(int(b[0]) for b in self.best)

    def _finalize(self) -> Path:
        """model.pth: the best epoch, or the average of the kept ones (train.average_nbest)."""
        if not self.best:
            raise TrainingError("no epoch finished; nothing to write as model.pth")
        epochs = [int(b[0]) for b in self.best]
        paths = [self.exp.epoch(e) for e in epochs]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise TrainingError(f"{missing[0]}: kept epoch checkpoint is missing; cannot write model.pth")
        if self.tc["average_nbest"] and len(paths) > 1:
            states = [load_checkpoint(p)["model"]["state_dict"] for p in paths]
            record = dict(load_checkpoint(paths[0])["model"], state_dict=average_state_dicts(states, [str(p) for p in paths]))
            final = {"model": record, "config": self.config, "averaged_epochs": epochs, "step": self.step}
            logger.info("model.pth = average of epochs %s (by %s)", epochs, self.tc["best_metric"])
        else:
            best = load_checkpoint(paths[0])
            final = {"model": best["model"], "config": self.config, "epoch": epochs[0], "step": self.step, "metrics": best.get("metrics", {})}
            logger.info("model.pth = epoch %d (best %s = %.4g)", epochs[0], self.tc["best_metric"], self.best[0][1])
        save_checkpoint(self.exp.model, final)
        return self.exp.model

    # -- main loop ------------------------------------------------------------------------------

    def _finished(self) -> bool:
        max_steps = self.tc["max_steps"]
        return self.epoch >= self.tc["max_epochs"] or (max_steps is not None and self.step >= max_steps)

    def run(self) -> Path:
        """Train to the end (or continue a resumed run) and return the path of model.pth."""
        self.ctx = dist_utils.init_distributed(self.device_name)
        self._setup_logging()
        benchmark = self.ctx.device.type == "cuda" and not self.tc["deterministic"]  # fixed segment sizes: tune once
        try:
            # all restored when the run ends
            with deterministic(self.tc["deterministic"]), cudnn_benchmark(benchmark), \
                    dist_utils.shared_host_cores(self.config["batch"]["num_workers"]) as self.num_workers:
                return self._run()
        finally:
            if self.tb is not None:
                self.tb.close()
            self._teardown_logging()
            dist_utils.shutdown(self.ctx)

    def _run(self) -> Path:
        seed_everything(self.tc["seed"])
        logger.info("mal-train: out-dir %s, device %s, %d process(es)", self.exp.path, self.ctx.device, self.ctx.world_size)
        self._build_data()
        self._build_model_and_criterion()
        self._build_optimisation()
        total_steps = min(n for n in (self.tc["max_steps"], self.tc["max_epochs"] * self.steps_per_epoch) if n)
        self.step_progress = ProgressLog(total_steps, "train", unit="steps", logger=logger, start=self.step)
        if self.ctx.is_main and self.tensorboard:
            self.tb = TensorBoardLog(self.exp.path / "tensorboard")
            logger.info("TensorBoard: tensorboard --logdir %s", self.tb.log_dir)
        if self.ctx.is_main:
            with atomic_open(self.exp.config, "w") as f:
                f.write(dump_config(self.config))
            self.exp.remove_stale(int(b[0]) for b in self.best)
            if self.history:
                write_log_csv(self.exp.log_csv, self.history)
        if self.state is not None:
            restore_rng(self.state["rng"])
        while not self._finished():
            epoch = self.epoch + 1
            start, cpu_start = time.time(), cpu_seconds()
            row: Dict[str, Any] = {"epoch": epoch, "step": 0}
            row.update(self._train_epoch(epoch))
            row.update(self.validate())
            row.update({"step": self.step, "lr": self.optimizer.param_groups[0]["lr"], "bad_steps": self.guard.total,
                        "seconds": round(time.time() - start, 3), "cpu_seconds": round(cpu_seconds() - cpu_start, 3)})
            self.epoch = epoch
            self._save_epoch(epoch, row)
            if self.tb is not None:
                self.tb.epoch(row)
            logger.info("epoch %d done (step %d, %.1f s): %s", epoch, self.step, row["seconds"],
                        " ".join(f"{k}={v:.4g}" for k, v in row.items() if k.startswith(("train_", "valid_"))))
            dist_utils.barrier(self.ctx)
        path = self.exp.model
        if self.ctx.is_main:
            path = self._finalize()
        dist_utils.barrier(self.ctx)
        return path


def train(config: Dict[str, Any], train_dir, valid_dir, out_dir, init=None, resume: bool = False, device: str = "auto",
          tensorboard: bool = False) -> Path:
    """Library entry point of ``mal-train``; returns the path of the written model.pth."""
    return Trainer(config, train_dir, valid_dir, out_dir, init=init, resume=resume, device=device, tensorboard=tensorboard).run()
