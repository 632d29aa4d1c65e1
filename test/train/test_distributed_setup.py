"""torchrun setup: device choice per rank and the host's cores shared among ranks and workers."""
from __future__ import annotations

import pytest
import torch

from mal.train import distributed
from mal.train.config import ConfigError


def test_an_explicit_gpu_index_under_torchrun_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ConfigError, match="--device cuda:0: under torchrun each of the 2 processes takes the GPU of its local rank"):
        distributed.init_distributed("cuda:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the path to CUDA's absence")
def test_an_explicit_gpu_index_alone_passes_the_check(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):  # past the torchrun check, to the device
        distributed.init_distributed("cuda:0")


@pytest.mark.parametrize("threads, workers, ranks, cores, expected", [
    (16, 4, 2, 16, (4, 4)),   # the job's 16 threads: 8 per rank, minus its 4 workers
    (16, 0, 1, 16, (16, 0)),  # one CPU process keeps every core
    (1, 6, 2, 16, (1, 6)),    # torchrun's OMP_NUM_THREADS=1 stays 1
    (8, 6, 4, 8, (1, 1)),     # 4 ranks on 8 cores: 2 each, one of them a worker
    (4, 2, 8, 4, (1, 0)),     # more ranks than cores: one thread, no workers
])
def test_share_host_cores(threads, workers, ranks, cores, expected):
    assert distributed.share_host_cores(threads, workers, ranks, cores) == expected


def test_shared_host_cores_sets_and_restores_threads(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(distributed, "host_cores", lambda: 4)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        with distributed.shared_host_cores(num_workers=3) as workers:
            assert (torch.get_num_threads(), workers) == (1, 1)
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)
