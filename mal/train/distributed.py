"""Data-parallel training under ``torchrun``: process group, device choice, reductions.

One process per device. ``torchrun --nproc_per_node N -m mal.bin.train ...`` sets RANK,
WORLD_SIZE and LOCAL_RANK; without them the trainer runs as a single process. The backend
is nccl on CUDA and gloo on CPU. Only rank 0 writes files.
"""
from __future__ import annotations

import contextlib
import datetime
import logging
import os
from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple

import torch
import torch.distributed as dist

from mal.models.pretrained import resolve_device
from mal.train.config import ConfigError

logger = logging.getLogger("mal.train")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank, the world size and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the torchrun process group when launched by torchrun; otherwise a 1-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size > 1 and device.startswith("cuda:"):
        raise ConfigError(f"--device {device}: under torchrun each of the {world_size} processes takes the GPU of its "
                          "local rank; pass --device cuda (and choose GPUs with CUDA_VISIBLE_DEVICES)")
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def shutdown(ctx: DistributedContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistributedContext) -> None:
    if ctx.enabled:
        dist.barrier()


def all_reduce_sum(ctx: DistributedContext, values: Dict[str, float]) -> Dict[str, float]:
    """Sum a dict of floats over all processes (same keys in every process)."""
    if not ctx.enabled:
        return dict(values)
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_reduce_device(ctx))
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return {k: float(v) for k, v in zip(keys, tensor.tolist())}


def any_process(ctx: DistributedContext, flag: bool) -> bool:
    """True when ``flag`` is true in at least one process (so all take the same branch)."""
    if not ctx.enabled:
        return bool(flag)
    tensor = torch.tensor([1.0 if flag else 0.0], device=_reduce_device(ctx))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def broadcast_error(ctx: DistributedContext, message: Optional[str]) -> Optional[str]:
    """Share the first process's error message (or None) with every process."""
    if not ctx.enabled:
        return message
    holder = [message]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def max_over_processes(ctx: DistributedContext, value: int) -> int:
    """The largest of every process's ``value`` (so all take the same branch)."""
    if not ctx.enabled:
        return int(value)
    tensor = torch.tensor([float(value)], device=_reduce_device(ctx))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def host_cores() -> int:
    """CPU cores this process may use (its affinity mask: a Slurm allocation or taskset, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def share_host_cores(threads: int, workers: int, local_world_size: int, cores: int) -> Tuple[int, int]:
    """(torch threads, loader workers) of one of ``local_world_size`` processes on a host.

    The job's ``threads`` are divided among its processes, and each process's threads plus
    its loader workers stay within its share of the ``cores``.
    """
    procs = max(1, local_world_size)
    share = max(1, cores // procs)
    workers = max(0, min(workers, share - 1))
    threads = max(1, min(threads // procs, share - workers))
    return threads, workers


@contextlib.contextmanager
def shared_host_cores(num_workers: int) -> Iterator[int]:
    """Set this process's torch threads to its share of the host (restored on exit); yields
    the loader workers it may start."""
    previous = torch.get_num_threads()
    local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    threads, workers = share_host_cores(previous, num_workers, local, host_cores())
    if (threads, workers) != (previous, num_workers):
        logger.info("%d process(es) on %d core(s): %d torch thread(s) and %d loader worker(s) per process",
                    local, host_cores(), threads, workers)
    torch.set_num_threads(threads)
    try:
        yield workers
    finally:
        torch.set_num_threads(previous)


def _reduce_device(ctx: DistributedContext) -> torch.device:
    return ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
