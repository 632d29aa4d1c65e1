"""Causal per-bin mean normalisation of frame features (NSNet / DeepFilterNet style)."""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import nn

from mal.models.layers import autocast_off

#: (running weighted sum, running weight): the normaliser's state between blocks of frames.
MeanState = Tuple[torch.Tensor, torch.Tensor]


@torch.jit.script
def _frame_loop(x: torch.Tensor, decay: float, total: torch.Tensor, weight: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The recurrence one frame at a time (scripted: an exported graph keeps it as a loop over
    however many frames it gets); the weight runs at the sum's shape, as ONNX wants."""
    weight = weight.expand_as(total)
    outs: List[torch.Tensor] = []
    for t in range(x.shape[2]):
        frame = x[:, :, t : t + 1]
        total = decay * total + (1.0 - decay) * frame
        weight = decay * weight + (1.0 - decay)
        outs.append(frame - total / weight)
    return torch.cat(outs, 2), total, weight[:, :1, :, :1]


class CausalMeanNorm(nn.Module):
    """Subtract from each feature its exponentially weighted mean over the frames so far.

    With ``a = exp(-1 / frames_per_time_constant)`` the recurrence is ``m_t = a m_{t-1} + (1 - a) x_t``
    and ``w_t = a w_{t-1} + (1 - a)``; the output is ``x_t - m_t / w_t`` (the mean of the frames
    seen, bias-corrected, so the first frames are normalised too). Over log magnitudes this is
    each bin's level relative to its recent average: stationary noise sits near zero whatever
    its colour. The recurrence runs in closed form over blocks of ``block`` frames (a triangular
    matrix product), so training pays a few matrix products, and a streamer continuing from
    ``state`` gets the same numbers as one pass over the whole signal. With ``frame_loop`` set
    it runs frame by frame instead (same numbers), the form an exported offline graph holds.
    """

    def __init__(self, frames_per_time_constant: float, block: int = 64):
        super().__init__()
        if frames_per_time_constant <= 0 or block < 1:
            raise ValueError(f"CausalMeanNorm: need a time constant > 0 frames and block >= 1, got {frames_per_time_constant}, {block}")
        self.decay = math.exp(-1.0 / frames_per_time_constant)
        steps = torch.arange(block, dtype=torch.float64)
        lag = steps[:, None] - steps[None, :]
        kernel = torch.where(lag >= 0, (1 - self.decay) * self.decay ** lag.clamp(min=0), torch.zeros(()))
        self.register_buffer("kernel", kernel.float(), persistent=False)  # [i, j]: x_j's weight in m_i
        self.register_buffer("carry", (self.decay ** (steps + 1)).float(), persistent=False)  # m_{-1}'s weight in m_i
        self.frame_loop = False

    def forward(self, x: torch.Tensor, state: Optional[MeanState] = None) -> Tuple[torch.Tensor, MeanState]:
        """x [B, C, frames, F] -> (normalised x, state after the last frame); ``state`` None = start.
        Runs in float32 with autocast off (a bf16 running mean would blur the levels it subtracts)."""
        with autocast_off(x.device.type):
            return self._normalise(x.float(), state)

    def _normalise(self, x: torch.Tensor, state: Optional[MeanState]) -> Tuple[torch.Tensor, MeanState]:
        b, c, t, f = x.shape
        if state is None:
            total, weight = x.new_zeros(b, c, 1, f), x.new_zeros(b, 1, 1, 1)
        else:
            total, weight = state
        if t == 0:
            return x, (total, weight)
        if self.frame_loop:
            out, total, weight = _frame_loop(x, self.decay, total, weight)
            return out, (total, weight)
        block = self.kernel.shape[0]
        outs = []
        for start in range(0, t, block):
            chunk = x[:, :, start : start + block]
            n = chunk.shape[2]
            carry = self.carry[:n].view(1, 1, n, 1)
            sums = torch.matmul(self.kernel[:n, :n], chunk) + carry * total
            weights = carry * weight + (1 - carry)
            outs.append(chunk - sums / weights)
            total, weight = sums[:, :, -1:], weights[:, :, -1:]
        out = torch.cat(outs, dim=2) if len(outs) != 1 else outs[0]
        return out, (total, weight)
