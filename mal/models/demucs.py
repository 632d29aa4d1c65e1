"""DEMUCS-style waveform U-Net (after facebookresearch/denoiser, written for mal)."""
from __future__ import annotations

import math
from typing import List, Optional

import torch
from torch import nn
from torch.nn import functional as F

from mal.models.abs_model import AbsSEModel
from mal.models.layers import SINC_ZEROS, RecurrentBlock, conv_valid_length, resample_by, rescale_conv_weights


class Demucs(AbsSEModel):
    """Waveform U-Net: strided Conv1d encoder, LSTM bottleneck, transposed-conv decoder.

    Each encoder layer is ``Conv1d(k=8, s=4) -> ReLU -> Conv1d(1x1, 2C) -> GLU``; each decoder
    layer mirrors it (``1x1 + GLU -> ConvTranspose1d(k=8, s=4) [-> ReLU]``). The input is divided
    by its scale and the output multiplied by it, so loudness follows the input: the std of the
    whole input (offline), or, when ``causal``, the running RMS up to each sample (so no output
    sample depends on later input). ``skips=False`` drops the U-Net skips: the decoder then sees
    only the bottleneck.

    ``encode`` returns ``[encoder layer 1, ..., encoder layer depth, LSTM output]``, each
    [B, C, frames]. ``resample`` (1, 2 or 4) runs the net at that multiple of the input rate, as
    denoiser does; 1 keeps the CPU cost low.

    Sizes (parameters), all with ``lstm_layers=2``:

    - default (hidden 24, depth 4): 2.14 M; with ``causal: true``: 1.18 M
    - ~1 M configs: ``{hidden: 16}`` (0.95 M), ``{causal: true}`` (1.18 M),
      ``{lstm_layers: 1}`` (1.25 M; 0.88 M causal)
    - denoiser's dns48 (``{hidden: 48, depth: 5, resample: 4, causal: true}``): 18.9 M

    Causal lookahead (``algorithmic_latency``): 595 samples (37 ms at 16 kHz) for the default
    depth 4 at ``resample: 1``; such a model streams (``streamer()``) with exactly that lag.
    """

    def __init__(
        self,
        hidden: int = 24,
        depth: int = 4,
        kernel_size: int = 8,
        stride: int = 4,
        growth: float = 2.0,
        max_hidden: int = 10_000,
        lstm_layers: int = 2,
        causal: bool = False,
        skips: bool = True,
        resample: int = 1,
        normalize: bool = True,
        floor: float = 1e-3,
        rescale: float = 0.1,
        sample_rate: int = 16000,
    ):
        super().__init__()
        if resample not in (1, 2, 4):
            raise ValueError(f"Demucs: resample must be 1, 2 or 4, got {resample}")
        if kernel_size < stride or depth < 1:
            raise ValueError(f"Demucs: need depth >= 1 and kernel_size >= stride, got depth={depth}, kernel={kernel_size}, stride={stride}")
        self.sample_rate = sample_rate
        self.depth, self.kernel_size, self.stride = depth, kernel_size, stride
        self.resample, self.normalize, self.floor = resample, normalize, floor
        self.skips = skips
        self._causal = causal

        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        ch_in, ch_out, width = 1, 1, hidden
        for index in range(depth):
            self.encoder.append(
                nn.Sequential(
                    nn.Conv1d(ch_in, width, kernel_size, stride),
                    nn.ReLU(),
                    nn.Conv1d(width, 2 * width, 1),
                    nn.GLU(1),
                )
            )
            decode: List[nn.Module] = [nn.Conv1d(width, 2 * width, 1), nn.GLU(1), nn.ConvTranspose1d(width, ch_out, kernel_size, stride)]
            if index > 0:
                decode.append(nn.ReLU())
            self.decoder.insert(0, nn.Sequential(*decode))
            ch_in = ch_out = width
            width = min(int(growth * width), max_hidden)
        self.lstm = RecurrentBlock(ch_in, ch_in, num_layers=lstm_layers, kind="lstm", bidirectional=not causal)
        if rescale:
            rescale_conv_weights(self, reference=rescale)

    # --- geometry -------------------------------------------------------------------------

    def valid_length(self, length: int) -> int:
        """Smallest input length >= ``length`` whose convolutions leave no sample out."""
        return conv_valid_length(length, self.depth, self.kernel_size, self.stride, self.resample)

    @property
    def total_stride(self) -> int:
        """Input samples per bottleneck frame."""
        return self.stride**self.depth // self.resample

    @property
    def algorithmic_latency(self) -> Optional[int]:
        """Lookahead in input samples when causal (None otherwise): the receptive field of a
        bottleneck frame minus one, plus the sinc resamplers' lookahead when ``resample > 1``."""
        if not self.causal:
            return None
        receptive = self.kernel_size
        for level in range(1, self.depth):
            receptive += (self.kernel_size - 1) * self.stride**level
        lookahead = (receptive - 1) / self.resample
        rate = 1
        while rate < self.resample:  # upsample2 looks SINC_ZEROS ahead at its input rate,
            lookahead += SINC_ZEROS / rate + (2 * SINC_ZEROS - 1) / (2 * rate)  # downsample2 ~2x that at its own
            rate *= 2
        return int(math.ceil(lookahead))

    @property
    def supports_streaming(self) -> bool:
        return self.causal and self.resample == 1

    def streamer(self) -> "DemucsStreamer":
        if not self.supports_streaming:
            raise RuntimeError("Demucs: only a causal model with resample: 1 can stream")
        return DemucsStreamer(self)

    def encoder_modules(self) -> List[nn.Module]:
        return [self.encoder, self.lstm]

    # --- scale ----------------------------------------------------------------------------

    def input_scale(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, T] -> the divisor applied to the input: [B, 1] (offline) or [B, T] (causal)."""
        if not self.normalize:
            return wav.new_ones(wav.shape[0], 1)
        if self.causal:
            power = torch.cumsum(wav.double().square(), dim=-1)
            count = torch.arange(1, wav.shape[-1] + 1, device=wav.device, dtype=torch.float64)
            # clamp: d sqrt(x)/dx is inf at 0 (digital silence); the clamped value is far below the floor
            return (power / count).clamp_min(1e-30).sqrt().to(wav.dtype) + self.floor
        return wav.std(dim=-1, keepdim=True, unbiased=True if wav.shape[-1] > 1 else False) + self.floor

    # --- encoder / decoder ----------------------------------------------------------------

    def encode(self, wav: torch.Tensor) -> List[torch.Tensor]:
        length = wav.shape[-1]
        x = (wav / self.input_scale(wav)).unsqueeze(1)
        x = F.pad(x, (0, self.valid_length(length) - length))
        if self.resample > 1:
            x = resample_by(x, self.resample, up=True)
        features = []
        for layer in self.encoder:
            x = layer(x)
            features.append(x)
        y, _ = self.lstm(x.transpose(1, 2))
        features.append(y.transpose(1, 2))
        return features

    def decode(self, features: List[torch.Tensor], noisy: torch.Tensor) -> torch.Tensor:
        if len(features) != self.depth + 1:
            raise ValueError(f"Demucs.decode: expected {self.depth + 1} feature tensors, got {len(features)}")
        x = features[-1]
        for index, layer in enumerate(self.decoder):
            if self.skips:
                skip = features[self.depth - 1 - index]
                x = x + skip[..., : x.shape[-1]]
            x = layer(x)
        if self.resample > 1:
            x = resample_by(x, self.resample, up=False)
        x = x[:, 0, : noisy.shape[-1]]
        return x * self.input_scale(noisy)


class DemucsStreamer:
    """Sample-block enhancement with a causal Demucs (resample 1); output equals ``model(wav)``.

    ``feed(chunk)`` returns the output samples that are final, ``flush()`` zero-pads to
    ``valid_length`` (as offline) and returns the rest. Every strided conv runs as soon as its
    window is complete; each transposed conv overlap-adds into a tail that is released (bias and
    ReLU applied) once no later frame can reach it; the LSTM carries its state; the input scale
    is the running RMS. The output lags the input by at most ``model.algorithmic_latency`` samples.
    Runs without autograd.
    """

    def __init__(self, model: Demucs):
        self.model = model
        widths = [layer[2].out_channels // 2 for layer in model.encoder]  # GLU halves the 1x1 output
        self._start(widths, [layer[2].out_channels for layer in model.decoder], next(model.parameters()))

    def _start(self, widths: List[int], decoder_outs: List[int], ref: torch.Tensor) -> None:
        """Empty buffers for encoder output ``widths`` and decoder output channels (dtype/device of ``ref``)."""
        self.enc_in = [ref.new_zeros(1, c, 0) for c in [1] + widths[:-1]]  # unconsumed input per level
        self.skips = [ref.new_zeros(1, c, 0) for c in widths]  # encoder frames the decoder has not used
        self.tails = [ref.new_zeros(1, c, 0) for c in decoder_outs]  # open overlap-add
        self.lstm_state = None
        self.power = 0.0  # running sum of squares (float64 on the Python side)
        self.received = 0
        self.scales = ref.new_zeros(0)  # input scale of the samples not output yet
        self.emitted = 0
        self.finished = False

    @torch.no_grad()
    def feed(self, chunk: torch.Tensor) -> torch.Tensor:
        if self.finished:
            raise RuntimeError("DemucsStreamer: feed() after flush(); start a new streamer")
        chunk = chunk.detach().reshape(-1).to(self.scales)
        if chunk.numel() == 0:
            return self.scales.new_zeros(0)
        power = self.power + torch.cumsum(chunk.double().square(), 0)
        count = torch.arange(self.received + 1, self.received + chunk.numel() + 1, dtype=torch.float64, device=chunk.device)
        scale = (power / count).sqrt().to(chunk.dtype) + self.model.floor if self.model.normalize else torch.ones_like(chunk)
        self.power = float(power[-1])
        self.received += chunk.numel()
        self.scales = torch.cat([self.scales, scale])
        return self._run((chunk / scale).view(1, 1, -1), final=False)

    @torch.no_grad()
    def flush(self) -> torch.Tensor:
        if self.finished:
            return self.scales.new_zeros(0)
        self.finished = True
        padding = self.model.valid_length(self.received) - self.received if self.received else 0
        return self._run(self.scales.new_zeros(1, 1, padding), final=True)

    def _run(self, x: torch.Tensor, final: bool) -> torch.Tensor:
        model = self.model
        for level in range(model.depth):
            buf = torch.cat([self.enc_in[level], x], dim=-1)
            frames = max(0, (buf.shape[-1] - model.kernel_size) // model.stride + 1)
            x = self.encode_level(level, buf[..., : (frames - 1) * model.stride + model.kernel_size]) if frames else self.skips[level][..., :0]
            self.enc_in[level] = buf[..., frames * model.stride :]
            self.skips[level] = torch.cat([self.skips[level], x], dim=-1)
        if x.shape[-1]:
            x = self.recurrent(x)
        for index in range(model.depth):
            level = model.depth - 1 - index
            n = x.shape[-1]
            if model.skips:
                x = x + self.skips[level][..., :n]
            self.skips[level] = self.skips[level][..., n:]
            x = self._transposed(index, x, final)
        out = x[0, 0, : max(0, min(x.shape[-1], self.received - self.emitted))]
        out = out * self.scales[: out.numel()]
        self.scales = self.scales[out.numel() :]
        self.emitted += out.numel()
        return out

    # --- the network's steps (an exported streamer replaces these) ---------------------------

    def encode_level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        """Encoder layer ``level`` on the input of whole frames [1, C, n]."""
        return self.model.encoder[level](x)

    def recurrent(self, x: torch.Tensor) -> torch.Tensor:
        """Bottleneck frames [1, C, frames] through the LSTM, its state carried across calls."""
        y, self.lstm_state = self.model.lstm(x.transpose(1, 2), self.lstm_state)
        return y.transpose(1, 2)

    def upsample(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Decoder layer ``index`` up to its transposed conv, without the bias (added once a sample is final)."""
        layer = self.model.decoder[index]
        return F.conv_transpose1d(layer[1](layer[0](x)), layer[2].weight, None, stride=layer[2].stride[0])

    def release(self, index: int, y: torch.Tensor) -> torch.Tensor:
        """Final samples of decoder layer ``index``: its bias, and ReLU on all but the last layer."""
        layer = self.model.decoder[index]
        y = y + layer[2].bias.view(1, -1, 1)
        return F.relu(y) if len(layer) > 3 else y

    def _transposed(self, index: int, x: torch.Tensor, final: bool) -> torch.Tensor:
        """1x1 + GLU, then the transposed conv with overlap-add across calls; returns final samples."""
        n = x.shape[-1]
        tail = self.tails[index]
        if n:
            y = self.upsample(index, x)
            y[..., : tail.shape[-1]] += tail
        else:
            y = tail
        ready = y.shape[-1] if final else n * self.model.stride
        self.tails[index] = y[..., ready:]
        return self.release(index, y[..., :ready])
