"""An RNNoise-style enhancer: GRUs on ERB-band log energies predict band gains."""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from mal.models.layers import RecurrentBlock
from mal.models.tfmask import ACTIVATION_SLOPE, FrameState, STFTMaskModel


def erb_band_matrix(num_bands: int, n_fft: int, sample_rate: int) -> torch.Tensor:
    """Triangular bands [num_bands, bins] centred on an ERB-rate grid from 0 Hz to Nyquist, the
    centres at least one bin apart; each bin's weights sum to one (linear interpolation between
    the two nearest centres), so per-band gains spread back to bins smoothly."""
    bins = n_fft // 2 + 1
    if not 2 <= num_bands <= bins:
        raise ValueError(f"BandGainGRU: need 2 <= num_bands <= {bins} (the bins of n_fft={n_fft}), got {num_bands}")
    nyquist, step = sample_rate / 2, sample_rate / n_fft
    top = 21.4 * math.log10(1 + 0.00437 * nyquist)  # ERB-rate (Glasberg & Moore)
    erb = torch.linspace(0, top, num_bands, dtype=torch.float64)
    centres = (10 ** (erb / 21.4) - 1) / 0.00437
    centres = torch.maximum(centres, torch.arange(num_bands, dtype=torch.float64) * step)  # no band without a bin
    centres[-1] = nyquist
    freqs = torch.arange(bins, dtype=torch.float64) * step
    right = torch.searchsorted(centres, freqs).clamp(1, num_bands - 1)  # each bin lies in [centres[right-1], centres[right]]
    frac = ((freqs - centres[right - 1]) / (centres[right] - centres[right - 1])).clamp(0, 1)
    matrix = torch.zeros(num_bands, bins, dtype=torch.float64)
    matrix[right - 1, torch.arange(bins)] = 1 - frac
    matrix[right, torch.arange(bins)] += frac
    return matrix.float()


def register_erb_bands(module: nn.Module, num_bands: int, n_fft: int, sample_rate: int) -> None:
    """Give ``module`` the buffers ``bands`` ([bands, bins]: band gains -> bins, ``gains @ bands``)
    and ``band_weights`` ([bins, bands]: bin powers -> band means, ``power @ band_weights``)."""
    bands = erb_band_matrix(num_bands, n_fft, sample_rate)
    module.register_buffer("bands", bands, persistent=False)
    module.register_buffer("band_weights", (bands / bands.sum(1, keepdim=True)).T.contiguous(), persistent=False)


class BandGainGRU(STFTMaskModel):
    """STFT -> ERB-band log energies -> dense + GRUs -> sigmoid band gains -> real mask.

    Per STFT frame (``n_fft``/``hop_length``, sqrt-Hann, the power scaled as in TFMaskNet), the
    features are ``log(E_b + log_floor)`` of ``num_bands`` triangular ERB bands (each band's
    energy a weighted mean of its bins' power). A linear layer (to ``hidden``, leaky ReLU) and
    ``rnn_layers`` GRU layers (unidirectional when ``causal``) feed a linear head whose
    ``mask_bound * sigmoid`` gives a gain per band; the gains are interpolated to bins with the
    band matrix and multiply the noisy STFT, inverted at the input's exact length. The head's
    weights start at zero with the gain at ``min(1, 0.98 * mask_bound)``, so an untrained
    model passes the input (nearly) through.

    ``encode`` returns ``[dense output, GRU 1 .. GRU N output]``, each [B, hidden, frames]. The
    default size (32 bands, hidden 128, 3 GRU layers) has 0.31 M parameters causal. A causal
    model streams (``streamer()``, TFMaskStreamer) with an algorithmic latency of ``n_fft - 1``
    samples and exports to ONNX in both forms, as TFMaskNet.
    """

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int = 128,
        window: str = "sqrt_hann",
        num_bands: int = 32,
        log_floor: float = 1e-4,
        hidden: int = 128,
        rnn_layers: int = 3,
        causal: bool = True,
        mask_bound: float = 1.0,
        sample_rate: int = 16000,
    ):
        super().__init__()
        if hidden < 1 or rnn_layers < 1 or mask_bound <= 0 or log_floor <= 0:
            raise ValueError(
                f"BandGainGRU: need hidden, rnn_layers, mask_bound, log_floor > 0, got {hidden}, {rnn_layers}, {mask_bound}, {log_floor}"
            )
        self.sample_rate = sample_rate
        self._init_stft(n_fft, hop_length, window)
        self.log_floor, self.mask_bound = log_floor, mask_bound
        self._causal = causal
        register_erb_bands(self, num_bands, n_fft, sample_rate)
        self.dense = nn.Linear(num_bands, hidden)
        self.rnn = nn.ModuleList(RecurrentBlock(hidden, hidden, kind="gru", bidirectional=not causal) for _ in range(rnn_layers))
        self.gain_head = nn.Linear(hidden, num_bands)
        start = min(1.0, 0.98 * mask_bound) / mask_bound  # sigmoid at the start: a gain of (nearly) one
        nn.init.zeros_(self.gain_head.weight)
        nn.init.constant_(self.gain_head.bias, math.log(start / (1 - start)))

    def encoder_modules(self) -> List[nn.Module]:
        return [self.dense, self.rnn]

    @property
    def num_features(self) -> int:
        return 1 + len(self.rnn)

    def features_from(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """The STFT's real and imaginary parts [B, frames, bins] -> band log energies [B, frames, bands]."""
        power = (real.square() + imag.square()) * self.feature_gain**2
        return torch.log(power @ self.band_weights + self.log_floor)

    def encode_frames(
        self, feats: torch.Tensor, state: Optional[FrameState] = None
    ) -> Tuple[List[torch.Tensor], torch.Tensor, FrameState]:
        """Dense layer and GRUs on a block of frames; the state holds every layer's h ([layers, B, hidden])."""
        h = (state or {}).get("rnn")
        x = F.leaky_relu(self.dense(feats), ACTIVATION_SLOPE)
        outs, states = [x], []
        for index, layer in enumerate(self.rnn):
            x, layer_state = layer(x, None if h is None else h[index : index + 1])
            outs.append(x)
            states.append(layer_state)
        outs = [o.transpose(1, 2) for o in outs]
        return outs[:-1], outs[-1], {"rnn": torch.cat(states, dim=0)}

    def decode_frames(self, outs: List[torch.Tensor], bottleneck: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The last GRU's output [B, hidden, frames] -> real mask per bin (and a zero imaginary part)."""
        gains = self.band_gains(bottleneck)
        mask = gains @ self.bands
        return mask, torch.zeros_like(mask)

    def band_gains(self, bottleneck: torch.Tensor) -> torch.Tensor:
        """[B, hidden, frames] -> gains in [0, mask_bound], [B, frames, bands] (float32, also under autocast)."""
        return self.mask_bound * torch.sigmoid(self.gain_head(bottleneck.transpose(1, 2)).float())
