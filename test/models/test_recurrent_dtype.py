"""The recurrent block runs in float32 inside a bf16 autocast region (CPU autocast casts RNNs too)."""
import pytest
import torch

from mal.models.layers import RecurrentBlock


def bare_rnn_dtype_under_bf16_autocast(rnn: torch.nn.Module, x: torch.Tensor):
    """The output dtype of a bare ``rnn`` under CPU bf16 autocast, or None where this CPU's
    oneDNN has no bf16 LSTM ("could not create a primitive descriptor for the LSTM forward
    propagation primitive", e.g. an AMD EPYC without AVX512-BF16): found by trying it."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return rnn(x)[0].dtype
    except RuntimeError as e:
        if "primitive descriptor" not in str(e):
            raise
        return None


@pytest.mark.parametrize("kind,bidirectional", [("lstm", True), ("gru", False)])
def test_rnn_runs_in_float32_under_bf16_autocast(kind, bidirectional):
    torch.manual_seed(0)
    block = RecurrentBlock(6, 8, kind=kind, bidirectional=bidirectional)
    seen = []
    block.rnn.register_forward_hook(lambda _m, inputs, output: seen.append((inputs[0].dtype, output[0].dtype)))
    x = torch.randn(2, 5, 6, requires_grad=True)
    reference, _ = block(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mal's block: float32 on every CPU
        y, state = block(x.to(torch.bfloat16))
    assert seen[-1] == (torch.float32, torch.float32)
    assert y.dtype == torch.float32
    states = state if isinstance(state, tuple) else (state,)
    assert all(s.dtype == torch.float32 for s in states)
    torch.testing.assert_close(y, reference, atol=2e-2, rtol=0)
    y.sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32
    if kind == "lstm":
        # What the block guards against: CPU autocast casts a bare LSTM to bf16 (CUDA autocast any
        # cuDNN RNN). A CPU without bf16 LSTM support raises instead; nothing to compare there.
        plain = bare_rnn_dtype_under_bf16_autocast(block.rnn, x.detach())
        assert plain in (torch.bfloat16, None)


def test_a_carried_bf16_state_is_cast_back():
    block = RecurrentBlock(3, 4, kind="lstm")
    state = (torch.zeros(1, 2, 4, dtype=torch.bfloat16), torch.zeros(1, 2, 4, dtype=torch.bfloat16))
    y, (h, c) = block(torch.randn(2, 3, 3), state)
    assert y.dtype == h.dtype == c.dtype == torch.float32


def test_a_wrong_dtype_is_caught_on_the_first_call(monkeypatch):
    block = RecurrentBlock(3, 4, kind="gru")
    real = block.rnn.forward
    monkeypatch.setattr(block.rnn, "forward", lambda x, h=None: tuple(t.to(torch.bfloat16) for t in real(x, h)))
    with pytest.raises(RuntimeError, match="expected torch.float32"):
        block(torch.randn(1, 2, 3))
