"""A dual-path CRN (DPCRN / GTCRN-style): TFMaskNet's conv encoder and decoder around recurrent
layers that keep the frequency axis, one across the bands of each frame and one across frames."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from mal.models.layers import RecurrentBlock
from mal.models.tfmask import ACTIVATION_SLOPE, FrameState, STFTMaskModel, TFMaskNet


INTRA_KINDS = ("gru", "mix")


class BandMixer(nn.Module):
    """Across the bands of one frame without recurrence: a linear map over the band axis (shared
    by the channels), then a linear map of the channels to ``hidden`` with a leaky ReLU; takes and
    returns [N, bands, C] -> [N, bands, hidden] as the intra GRU does, in one matrix product each."""

    def __init__(self, channels: int, bands: int, hidden: int):
        super().__init__()
        self.across = nn.Linear(bands, bands)
        self.channels = nn.Linear(channels, hidden)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, None]:
        mixed = self.across(x.transpose(1, 2)).transpose(1, 2)
        return F.leaky_relu(self.channels(mixed), ACTIVATION_SLOPE), None


class DualPathBlock(nn.Module):
    """One dual-path step over a [B, frames, bands, C] map.

    A bidirectional GRU (``intra: gru``) or a BandMixer (``intra: mix``, no sequential steps)
    runs across the bands of each frame (intra), then a GRU runs across the
    frames of each band (inter; one direction when ``causal``); each is followed by a linear
    layer back to C channels and a layer norm over (bands, C) of one frame, and added to its
    input. Every operation is per frame but the inter GRU, so the block streams with that
    GRU's state alone.
    """

    def __init__(self, channels: int, bands: int, hidden: int, causal: bool, intra: str = "gru"):
        super().__init__()
        if intra not in INTRA_KINDS:
            raise ValueError(f"DualPathBlock: intra must be one of {INTRA_KINDS}, got {intra!r}")
        if intra == "gru":
            self.intra = RecurrentBlock(channels, hidden, kind="gru", bidirectional=True)
        else:
            self.intra = BandMixer(channels, bands, hidden)
        self.intra_out = nn.Linear(hidden, channels)
        self.intra_norm = nn.LayerNorm([bands, channels])
        self.inter = RecurrentBlock(channels, hidden, kind="gru", bidirectional=not causal)
        self.inter_out = nn.Linear(hidden, channels)
        self.inter_norm = nn.LayerNorm([bands, channels])

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        b, t, f, c = x.shape
        across_bands, _ = self.intra(x.reshape(b * t, f, c))
        x = x + self.intra_norm(self.intra_out(across_bands).reshape(b, t, f, c))
        across_frames, state = self.inter(x.transpose(1, 2).reshape(b * f, t, c), state)
        x = x + self.inter_norm(self.inter_out(across_frames).reshape(b, f, t, c).transpose(1, 2))
        return x, state


class DualPathMaskNet(TFMaskNet):
    """TFMaskNet with ``blocks`` dual-path blocks (DualPathBlock, ``hidden`` units, ``intra``) in
    place of its flattened-frame GRU, so the recurrence sees each band of the encoder's last
    map rather than one vector per frame. Features, encoder, decoder, skips, mask kinds,
    streaming (``streamer()``, latency ``n_fft - 1`` when causal) and ONNX export are
    TFMaskNet's; see its docstring for the shared arguments.

    ``encode`` returns ``[conv 1 .. conv N, last dual-path block's output]``, each
    [B, C, frames, bands]; the state carries every block's inter-frame GRU state.
    """

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int = 128,
        window: str = "sqrt_hann",
        features: Sequence[str] = ("compressed",),
        compress_exponent: float = 0.3,
        log_floor: float = 1e-2,
        channels: Sequence[int] = (8, 16, 32),
        freq_kernel: int = 5,
        freq_stride: int = 2,
        up_kernel: int = 3,
        time_kernel: int = 1,
        hidden: int = 32,
        blocks: int = 2,
        intra: str = "gru",
        causal: bool = True,
        skips: bool = True,
        mask: str = "complex",
        mask_bound: float = 2.0,
        mask_floor: float = 0.0,
        sample_rate: int = 16000,
    ):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (hidden, blocks)) or hidden < 1 or blocks < 1:
            raise ValueError(f"DualPathMaskNet: need integers hidden >= 1 and blocks >= 1, got hidden={hidden!r}, blocks={blocks!r}")
        if intra not in INTRA_KINDS:
            raise ValueError(f"DualPathMaskNet: intra must be one of {INTRA_KINDS}, got {intra!r}")
        self._intra = intra  # read by _build_bottleneck, which TFMaskNet.__init__ calls
        super().__init__(
            n_fft=n_fft, hop_length=hop_length, window=window, features=features, compress_exponent=compress_exponent,
            log_floor=log_floor, channels=channels, freq_kernel=freq_kernel, freq_stride=freq_stride, up_kernel=up_kernel,
            time_kernel=time_kernel, rnn_type="gru", rnn_hidden=hidden, rnn_layers=blocks, causal=causal, skips=skips,
            mask=mask, mask_bound=mask_bound, mask_floor=mask_floor, sample_rate=sample_rate,
        )

    def _build_bottleneck(self, channels: int, bins: int, rnn_type: str, rnn_hidden: int, rnn_layers: int) -> None:
        self.blocks = nn.ModuleList(DualPathBlock(channels, bins, rnn_hidden, self._causal, self._intra) for _ in range(rnn_layers))

    def encoder_modules(self) -> List[nn.Module]:
        return [self.encoder, self.blocks]

    def _bottleneck_forward(self, x: torch.Tensor, state: Any) -> Tuple[torch.Tensor, torch.Tensor]:
        """The last conv's map [B, C, frames, bands] -> (the blocks' output, same shape; their
        inter-frame GRU states stacked, [blocks * directions, B * bands, hidden])."""
        directions = 1 if self._causal else 2
        y = x.permute(0, 2, 3, 1)
        states = []
        for index, block in enumerate(self.blocks):
            block_state = None if state is None else state[index * directions : (index + 1) * directions].contiguous()
            y, block_state = block(y, block_state)
            states.append(block_state)
        return y.permute(0, 3, 1, 2), torch.cat(states, dim=0)

    def _bottleneck_map(self, bottleneck: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return bottleneck

    def stream_frames(self, spec: torch.Tensor, state: Optional[FrameState]) -> Tuple[torch.Tensor, FrameState]:
        """The generic frame step (TFMaskNet's packed fast path is for its own bottleneck)."""
        return STFTMaskModel.stream_frames(self, spec, state)
