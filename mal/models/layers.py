"""Building blocks shared by the enhancement models."""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import ContextManager, Optional, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

RecurrentState = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor], None]


class RecurrentBlock(nn.Module):
    """GRU or LSTM over [B, T, C] (batch first), optionally bidirectional.

    A bidirectional block projects its 2 x ``hidden_size`` output back to ``hidden_size`` with a
    linear layer (as facebookresearch/denoiser's BLSTM), so the output width never depends on
    ``bidirectional``. ``forward`` returns (output, state) so a streamer can carry the state.
    The block always runs in its weights' dtype (float32 in training), also inside a bf16 or
    fp16 autocast region, so gradients through the recurrence cannot underflow.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, kind: str = "gru", bidirectional: bool = False):
        super().__init__()
        kinds = {"gru": nn.GRU, "lstm": nn.LSTM}
        if kind not in kinds:
            raise ValueError(f"rnn type must be one of {sorted(kinds)}, got {kind!r}")
        self.rnn = kinds[kind](input_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)
        self.proj = nn.Linear(2 * hidden_size, hidden_size) if bidirectional else None
        self._dtype_checked = False

    def forward(self, x: torch.Tensor, state: RecurrentState = None) -> Tuple[torch.Tensor, RecurrentState]:
        """Run in the weights' dtype with autocast off (autocast would put a cuDNN RNN in fp16)."""
        dtype = self.rnn.weight_ih_l0.dtype
        with autocast_off(x.device.type):
            y, state = self.rnn(x.to(dtype), _state_to(state, dtype))
            if not getattr(self, "_dtype_checked", False):
                if y.dtype != dtype:
                    raise RuntimeError(f"RecurrentBlock: the {self.rnn.__class__.__name__} ran in {y.dtype}, expected {dtype}")
                self._dtype_checked = True
            if self.proj is not None:
                y = self.proj(y)
        return y, state

    def infer(self, x: torch.Tensor, state: RecurrentState = None) -> Tuple[torch.Tensor, RecurrentState]:
        """``forward`` for inference on a few frames (a streamer's step): the same recurrent op
        called directly, without the module and autocast overhead; ``forward`` where that differs
        (training, bidirectional, autocast)."""
        rnn = self.rnn
        if self.training or self.proj is not None or torch.is_autocast_enabled(x.device.type):
            return self.forward(x, state)
        if state is None:
            zeros = x.new_zeros(rnn.num_layers, x.shape[0], rnn.hidden_size)
            state = (zeros, zeros) if isinstance(rnn, nn.LSTM) else zeros
        if isinstance(rnn, nn.LSTM):
            y, h, c = torch.lstm(x, state, rnn._flat_weights, rnn.bias, rnn.num_layers, 0.0, False, False, True)
            return y, (h, c)
        return torch.gru(x, state, rnn._flat_weights, rnn.bias, rnn.num_layers, 0.0, False, False, True)


def conv_valid_length(length: int, depth: int, kernel_size: int, stride: int, resample: int = 1) -> int:
    """Smallest length >= ``length`` that ``depth`` strided convolutions (and their transposes,
    run at ``resample`` times the rate) cover without leaving a sample out."""
    length = math.ceil(length * resample)
    for _ in range(depth):
        length = max(math.ceil((length - kernel_size) / stride) + 1, 1)
    for _ in range(depth):
        length = (length - 1) * stride + kernel_size
    return int(math.ceil(length / resample))


def autocast_off(device_type: str) -> ContextManager:
    """A context with autocast disabled on ``device_type`` (a no-op where autocast does not exist)."""
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return nullcontext()


def _state_to(state: RecurrentState, dtype: torch.dtype) -> RecurrentState:
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.to(dtype) for s in state)
    return state.to(dtype)


class FreqUpConv(nn.Module):
    """Upsample the frequency axis of [B, C, T, F] by ``stride`` with a sub-pixel convolution.

    A Conv2d over frequency (kernel 1 x ``kernel_size``, same padding) makes ``stride`` output
    channels per input channel, which are interleaved along frequency and cut to ``out_bins``.
    As expressive as a transposed convolution and faster on a CPU (bench/README.md, "Numbers the
    code refers to").
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, out_bins: int, kernel_size: int = 3):
        super().__init__()
        self.out_channels, self.stride, self.out_bins = out_channels, stride, out_bins
        self.conv = nn.Conv2d(in_channels, out_channels * stride, (1, kernel_size), padding=(0, kernel_size // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        b, _, t, f = y.shape
        if f * self.stride < self.out_bins:
            raise ValueError(f"FreqUpConv: {f} bins x stride {self.stride} cannot make {self.out_bins} bins")
        y = y.view(b, self.stride, self.out_channels, t, f).permute(0, 2, 3, 4, 1).reshape(b, self.out_channels, t, f * self.stride)
        return y[..., : self.out_bins].contiguous()


def bounded_complex_mask(delta_real: torch.Tensor, delta_imag: torch.Tensor, bound: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Complex mask ``1 + delta`` with its magnitude softly limited to ``bound``.

    Exactly ``1 + delta`` while ``|1 + delta| <= 1`` (so a zero-initialised head passes the
    input through unchanged and attenuation is linear in the output); above 1 the magnitude
    is compressed smoothly (continuous first derivative) towards ``bound``, phase unchanged.
    """
    if bound <= 1.0:
        raise ValueError(f"mask bound must be > 1, got {bound}")
    real, imag = 1.0 + delta_real, delta_imag
    mag = torch.sqrt(real.square() + imag.square() + 1e-12)
    excess = torch.clamp(mag - 1.0, min=0.0)
    limited = 1.0 + (bound - 1.0) * torch.tanh(excess / (bound - 1.0))
    scale = torch.where(mag > 1.0, limited / mag, torch.ones_like(mag))
    return real * scale, imag * scale


def rescale_conv_weights(module: nn.Module, reference: float) -> None:
    """Scale every conv's initial weights so their std moves towards ``reference`` (denoiser)."""
    for sub in module.modules():
        if isinstance(sub, (nn.Conv1d, nn.ConvTranspose1d)):
            std = sub.weight.std().detach()
            scale = (std / reference) ** 0.5
            sub.weight.data /= scale
            if sub.bias is not None:
                sub.bias.data /= scale


# --- band-limited resampling by 2 (windowed sinc, as in facebookresearch/denoiser) -----------

SINC_ZEROS = 56


def _sinc_kernel(zeros: int = SINC_ZEROS, dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None) -> torch.Tensor:
    win = torch.hann_window(4 * zeros + 1, periodic=False, dtype=torch.float64)
    t = torch.linspace(-zeros + 0.5, zeros - 0.5, 2 * zeros, dtype=torch.float64) * math.pi
    kernel = torch.sin(t) / t * win[1::2]
    return kernel.view(1, 1, -1).to(dtype=dtype, device=device)


def upsample2(x: torch.Tensor, zeros: int = SINC_ZEROS) -> torch.Tensor:
    """[..., T] -> [..., 2T]: keep the samples, interpolate the midpoints (looks ``zeros`` ahead)."""
    *other, time = x.shape
    kernel = _sinc_kernel(zeros, x.dtype, x.device)
    mid = F.conv1d(x.reshape(-1, 1, time), kernel, padding=zeros)[..., 1:].reshape(*other, time)
    return torch.stack([x, mid], dim=-1).reshape(*other, 2 * time)


def downsample2(x: torch.Tensor, zeros: int = SINC_ZEROS) -> torch.Tensor:
    """[..., T] -> [..., ceil(T/2)]: low-pass then decimate."""
    if x.shape[-1] % 2:
        x = F.pad(x, (0, 1))
    even, odd = x[..., ::2], x[..., 1::2]
    *other, time = odd.shape
    kernel = _sinc_kernel(zeros, x.dtype, x.device)
    filtered = F.conv1d(odd.reshape(-1, 1, time), kernel, padding=zeros)[..., :-1].reshape(*other, time)
    return (even + filtered).mul(0.5)


def resample_by(x: torch.Tensor, factor: int, up: bool) -> torch.Tensor:
    """Resample by a power-of-two ``factor`` (1, 2, 4, ...) up or down."""
    steps = int(round(math.log2(factor)))
    if 2**steps != factor:
        raise ValueError(f"resample factor must be a power of two, got {factor}")
    for _ in range(steps):
        x = upsample2(x) if up else downsample2(x)
    return x
