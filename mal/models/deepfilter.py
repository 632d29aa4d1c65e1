"""A DeepFilterNet-style enhancer: ERB-band gains for the whole spectrum and a deep filter
(complex multi-frame taps) on the low bins, from one recurrent embedding."""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from mal.models.bandgru import register_erb_bands
from mal.models.layers import RecurrentBlock
from mal.models.tfmask import ACTIVATION_SLOPE, FrameState, STFTMaskModel


def _down(channels_in: int, channels: int, stride: int) -> nn.Conv2d:
    """A conv over the band axis of a [B, C, frames, bands] map (kernel 3, one frame)."""
    return nn.Conv2d(channels_in, channels, (1, 3), stride=(1, stride), padding=(0, 1))


def _up(channels: int) -> nn.ConvTranspose2d:
    """Doubles the band axis of a [B, C, frames, bands] map."""
    return nn.ConvTranspose2d(channels, channels, (1, 4), stride=(1, 2), padding=(0, 1))


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, ACTIVATION_SLOPE)


class DeepFilterNet(STFTMaskModel):
    """STFT -> (ERB log energies, compressed low bins) -> two conv encoders -> GRUs -> ERB gains
    for every bin and deep-filter taps for the ``df_bins`` lowest, as DeepFilterNet (Schröter et
    al., 2022) splits the spectrum.

    Features per frame: ``log(E_b + log_floor)`` of ``num_bands`` ERB bands (BandGainGRU's) and the
    real and imaginary parts of the lowest ``df_bins`` bins, compressed to ``|X|^compress_exponent``
    with their phase. Each goes through a conv encoder over its band axis (one frame, so the state
    is the GRUs' alone): the ERB path to a quarter of the bands, the deep-filter path to half the
    bins. Their flattened outputs are summed into ``hidden`` units and run through ``rnn_layers``
    GRUs (one direction when ``causal``). Two decoders mirror the encoders with skip connections:
    one gives a gain in (0, 1) per ERB band, interpolated to bins, that multiplies the noisy STFT;
    the other ``df_order`` complex taps per low bin, bounded by ``df_bound``, so that the low bins
    become ``Y(t, f) = sum_i C_i(t, f) X(t - i, f)`` of the noisy STFT, the taps reaching back
    ``df_order - 1`` frames (no lookahead). Both heads start at zero weights with a gain (and a
    first tap) of 0.98, so an untrained model passes the input (nearly) through.

    ``encode`` returns the ERB encoder's maps, the deep-filter encoder's maps (each [B, C, frames,
    bands]) and the last GRU's output [B, hidden, frames]. A causal model streams (the streamer
    carries the GRU state and the last ``df_order - 1`` noisy frames of the low bins) with
    TFMaskNet's latency of ``n_fft - 1`` samples, and exports to ONNX in both forms.
    """

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int = 128,
        window: str = "sqrt_hann",
        num_bands: int = 32,
        df_bins: int = 96,
        df_order: int = 5,
        df_bound: float = 2.0,
        channels: int = 16,
        hidden: int = 128,
        rnn_layers: int = 2,
        compress_exponent: float = 0.3,
        log_floor: float = 1e-4,
        causal: bool = True,
        sample_rate: int = 16000,
    ):
        super().__init__()
        bins = n_fft // 2 + 1
        ints = (num_bands, df_bins, df_order, channels, hidden, rnn_layers)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in ints):
            raise ValueError(f"DeepFilterNet: num_bands, df_bins, df_order, channels, hidden, rnn_layers must be integers >= 1, got {ints}")
        if num_bands % 4 or df_bins % 2 or df_bins > bins:
            raise ValueError(f"DeepFilterNet: need num_bands divisible by 4 and an even df_bins <= {bins} (the bins of n_fft={n_fft}), "
                             f"got num_bands={num_bands}, df_bins={df_bins}")
        if df_bound <= 0 or log_floor <= 0 or not 0 < compress_exponent <= 1:
            raise ValueError(f"DeepFilterNet: need df_bound > 0, log_floor > 0, 0 < compress_exponent <= 1, "
                             f"got {df_bound}, {log_floor}, {compress_exponent}")
        self.sample_rate = sample_rate
        self._init_stft(n_fft, hop_length, window)
        self._causal = causal
        self.num_bands, self.df_bins, self.df_order, self.df_bound = num_bands, df_bins, df_order, df_bound
        self.compress_exponent, self.log_floor, self.channels = compress_exponent, log_floor, channels
        register_erb_bands(self, num_bands, n_fft, sample_rate)
        c = channels
        self.erb_encoder = nn.ModuleList([_down(1, c, 1), _down(c, c, 2), _down(c, c, 2)])
        self.df_encoder = nn.ModuleList([_down(2, c, 1), _down(c, c, 2)])
        self.erb_embed = nn.Linear(c * num_bands // 4, hidden)
        self.df_embed = nn.Linear(c * df_bins // 2, hidden)
        self.rnn = nn.ModuleList(RecurrentBlock(hidden, hidden, kind="gru", bidirectional=not causal) for _ in range(rnn_layers))
        self.erb_unembed = nn.Linear(hidden, c * num_bands // 4)
        self.erb_decoder = nn.ModuleList([_up(c), _up(c)])
        self.gain_head = nn.Conv2d(c, 1, 1)
        self.df_unembed = nn.Linear(hidden, c * df_bins // 2)
        self.df_decoder = _up(c)
        self.df_head = nn.Conv2d(c, 2 * df_order, 1)
        start = 0.98
        nn.init.zeros_(self.gain_head.weight)
        nn.init.constant_(self.gain_head.bias, math.log(start / (1 - start)))
        nn.init.zeros_(self.df_head.weight)
        nn.init.zeros_(self.df_head.bias)
        with torch.no_grad():
            self.df_head.bias[0] = math.atanh(start / df_bound)  # the first tap's real part: X(t) passes

    @property
    def history_frames(self) -> int:  # type: ignore[override]
        return self.df_order - 1

    def encoder_modules(self) -> List[nn.Module]:
        return [self.erb_encoder, self.df_encoder, self.erb_embed, self.df_embed, self.rnn]

    @property
    def num_features(self) -> int:
        return len(self.erb_encoder) + len(self.df_encoder) + 1

    def features_from(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """The STFT's real and imaginary parts [B, frames, bins] -> [B, frames, bands + 2 df_bins]:
        ERB log energies, then the compressed low bins' real and imaginary parts."""
        g = self.feature_gain
        power = (real.square() + imag.square()) * g**2
        erb = torch.log(power @ self.band_weights + self.log_floor)
        low = power[..., : self.df_bins]
        scale = g * (low + 1e-12).pow((self.compress_exponent - 1) / 2)
        return torch.cat([erb, real[..., : self.df_bins] * scale, imag[..., : self.df_bins] * scale], dim=-1)

    def encode_frames(
        self, feats: torch.Tensor, state: Optional[FrameState] = None
    ) -> Tuple[List[torch.Tensor], torch.Tensor, FrameState]:
        """Both conv encoders and the GRUs on a block of frames; the state holds every GRU's h."""
        b, t, _ = feats.shape
        erb, df = feats.split([self.num_bands, 2 * self.df_bins], dim=-1)
        x = erb.unsqueeze(1)  # [B, 1, frames, bands]
        erb_outs = []
        for conv in self.erb_encoder:
            x = _act(conv(x))
            erb_outs.append(x)
        y = df.reshape(b, t, 2, self.df_bins).transpose(1, 2)  # [B, 2, frames, df_bins]
        df_outs = []
        for conv in self.df_encoder:
            y = _act(conv(y))
            df_outs.append(y)
        flat = lambda m: m.permute(0, 2, 1, 3).reshape(b, t, -1)  # noqa: E731  [B, frames, C * bands]
        z = _act(self.erb_embed(flat(x)) + self.df_embed(flat(y)))
        h = (state or {}).get("rnn")
        states = []
        for index, layer in enumerate(self.rnn):
            z, layer_state = layer(z, None if h is None else h[index : index + 1])
            states.append(layer_state)
        return erb_outs + df_outs, z.transpose(1, 2), {"rnn": torch.cat(states, dim=0)}

    def _unembed(self, linear: nn.Linear, bottleneck: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """[B, hidden, frames] -> a map shaped as ``like`` [B, C, frames, bands]."""
        b, c, t, f = like.shape
        return _act(linear(bottleneck.transpose(1, 2))).reshape(b, t, c, f).transpose(1, 2)

    def decode_frames(self, outs: List[torch.Tensor], bottleneck: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The ERB gains as a real mask per bin (the deep filter is applied in ``filter_frames``)."""
        mask = self.band_gains(outs, bottleneck) @ self.bands
        return mask, torch.zeros_like(mask)

    def band_gains(self, outs: List[torch.Tensor], bottleneck: torch.Tensor) -> torch.Tensor:
        """[B, frames, bands] gains in (0, 1) (float32, also under autocast)."""
        e0, e1, e2 = outs[: len(self.erb_encoder)]
        x = self._unembed(self.erb_unembed, bottleneck, e2) + e2
        x = _act(self.erb_decoder[0](x)) + e1
        x = _act(self.erb_decoder[1](x)) + e0
        return torch.sigmoid(self.gain_head(x).float())[:, 0]

    def df_taps(self, outs: List[torch.Tensor], bottleneck: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The deep filter's taps (real, imag), each [B, frames, df_bins, df_order]; tap i reads frame t - i."""
        c0, c1 = outs[len(self.erb_encoder) :]
        y = self._unembed(self.df_unembed, bottleneck, c1) + c1
        y = _act(self.df_decoder(y)) + c0
        taps = self.df_bound * torch.tanh(self.df_head(y).float())  # [B, 2 * order, frames, df_bins]
        taps = taps.permute(0, 2, 3, 1)
        return taps[..., : self.df_order], taps[..., self.df_order :]

    def filter_frames(
        self, real: torch.Tensor, imag: torch.Tensor, outs: List[torch.Tensor], bottleneck: torch.Tensor,
        history: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """ERB gains on every bin, then the deep filter on the low bins of the noisy frames.
        ``history``: the previous ``df_order - 1`` frames' low bins, [B, df_order - 1, 2 df_bins]
        (real then imaginary parts; None: zeros, the start of the signal)."""
        mask, _ = self.decode_frames(outs, bottleneck)
        d, past = self.df_bins, self.df_order - 1
        low = torch.cat([real[..., :d], imag[..., :d]], dim=-1)  # [B, frames, 2 d]
        if history is None:
            history = low.new_zeros(low.shape[0], past, 2 * d)
        padded = torch.cat([history, low], dim=1)  # [B, past + frames, 2 d]
        frames = real.shape[1]
        tap_re, tap_im = self.df_taps(outs, bottleneck)
        out_re, out_im = tap_re[..., 0] * real[..., :d] - tap_im[..., 0] * imag[..., :d], tap_re[..., 0] * imag[..., :d] + tap_im[..., 0] * real[..., :d]
        for i in range(1, self.df_order):
            x_re = padded[:, past - i : past - i + frames, :d]
            x_im = padded[:, past - i : past - i + frames, d:]
            out_re = out_re + tap_re[..., i] * x_re - tap_im[..., i] * x_im
            out_im = out_im + tap_re[..., i] * x_im + tap_im[..., i] * x_re
        enhanced_re = torch.cat([out_re, real[..., d:] * mask[..., d:]], dim=-1)
        enhanced_im = torch.cat([out_im, imag[..., d:] * mask[..., d:]], dim=-1)
        return enhanced_re, enhanced_im, padded[:, padded.shape[1] - past :] if past else None

    def decode(self, features: List[torch.Tensor], noisy: torch.Tensor) -> torch.Tensor:
        if len(features) != self.num_features:
            raise ValueError(f"DeepFilterNet.decode: expected {self.num_features} feature tensors, got {len(features)}")
        if noisy.shape[-1] == 0:
            return noisy.new_zeros(noisy.shape)
        spec = self.stft(noisy).transpose(1, 2)  # [B, frames, bins]
        real, imag, _ = self.filter_frames(spec.real, spec.imag, features[:-1], features[-1])
        enhanced = torch.complex(real, imag).transpose(1, 2)
        return torch.istft(enhanced, self.n_fft, self.hop_length, window=self.window, center=True, length=noisy.shape[-1])

    def stream_frames(self, spec: torch.Tensor, state: Optional[FrameState]) -> Tuple[torch.Tensor, FrameState]:
        raise NotImplementedError("DeepFilterNet filters across frames, so it has no per-frame mask: use stream_spec")

    def stream_spec(self, spec: torch.Tensor, state: Optional[FrameState]) -> Tuple[torch.Tensor, FrameState]:
        """The streamer's step: the GRUs continue from ``state["rnn"]``, the deep filter from ``state["history"]``."""
        outs, bottleneck, new_state = self.encode_frames(self.features_from(spec.real, spec.imag), state)
        real, imag, new_state["history"] = self.filter_frames(spec.real, spec.imag, outs, bottleneck, (state or {}).get("history"))
        return torch.complex(real, imag), new_state
