"""Fixtures for the enhancement tests."""
import pytest
import torch


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """The CLIs set torch's global thread count (--num-threads); undo it after each test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
