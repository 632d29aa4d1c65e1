"""A small time-frequency masking encoder-decoder (CRN-style) that learns fast on a CPU."""
from __future__ import annotations

import inspect
from abc import abstractmethod
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from mal.models.abs_model import AbsSEModel
from mal.models.feature_norm import CausalMeanNorm
from mal.models.layers import FreqUpConv, RecurrentBlock, bounded_complex_mask

FEATURE_KINDS = ("compressed", "log", "log_norm")
MASK_KINDS = ("complex", "gain")
WINDOWS = ("sqrt_hann", "hann")
ACTIVATION_SLOPE = 0.1  # leaky ReLU: as good as ELU here and several times cheaper on a CPU

#: Per-call state of the frame pipeline: conv time caches and the recurrent state.
FrameState = Dict[str, Any]


class STFTMaskModel(AbsSEModel):
    """A model that masks the noisy STFT frame by frame (TFMaskNet, BandGainGRU).

    Subclasses call ``_init_stft`` and define the frame pipeline that ``forward``, the
    streamer (TFMaskStreamer) and mal.export run: ``features_from`` (STFT real, imag ->
    features), ``encode_frames`` (features, state -> encoder outputs, bottleneck, state) and
    ``decode_frames`` (-> mask real, imag). The masked STFT is inverted with ``torch.istft``
    at the input's exact length; a causal model streams with a latency of ``n_fft - 1`` samples.
    """

    def _init_stft(self, n_fft: int, hop_length: int, window: str) -> None:
        name = type(self).__name__
        if window not in WINDOWS:
            raise ValueError(f"{name}: window must be one of {WINDOWS}, got {window!r}")
        if hop_length <= 0 or hop_length > n_fft // 2:
            raise ValueError(f"{name}: need 0 < hop_length <= n_fft/2 for overlap-add, got n_fft={n_fft}, hop={hop_length}")
        self.n_fft, self.hop_length = n_fft, hop_length
        hann = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        win = hann.sqrt() if window == "sqrt_hann" else hann
        self.register_buffer("window", win.float(), persistent=False)
        #: features see the STFT scaled so that unit-variance white noise has |X| ~ 1
        self.feature_gain = float(win.square().sum().rsqrt())

    @property
    @abstractmethod
    def num_features(self) -> int:
        """How many tensors ``encode`` returns."""

    @abstractmethod
    def features_from(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """The STFT's real and imaginary parts [B, frames, bins] -> the encoder's input features."""

    @abstractmethod
    def encode_frames(
        self, feats: torch.Tensor, state: Optional[FrameState] = None
    ) -> Tuple[List[torch.Tensor], torch.Tensor, FrameState]:
        """Run the encoder on a block of frames, continuing from ``state`` (None = start):
        (encoder outputs but the last, bottleneck, new state)."""

    @abstractmethod
    def decode_frames(self, outs: List[torch.Tensor], bottleneck: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encoder outputs of a block of frames -> mask (real, imag), each [B, frames, bins]."""

    @property
    def supports_streaming(self) -> bool:
        return self.causal

    @property
    def algorithmic_latency(self) -> Optional[int]:
        """Input samples of lookahead when causal (None otherwise): one STFT window minus one."""
        return self.n_fft - 1 if self.causal else None

    def encode(self, wav: torch.Tensor) -> List[torch.Tensor]:
        outs, bottleneck, _ = self.encode_frames(self.features(self.stft(wav)))
        return outs + [bottleneck]

    def decode(self, features: List[torch.Tensor], noisy: torch.Tensor) -> torch.Tensor:
        if len(features) != self.num_features:
            raise ValueError(f"{type(self).__name__}.decode: expected {self.num_features} feature tensors, got {len(features)}")
        if noisy.shape[-1] == 0:  # istft cannot produce 0 samples; the output of nothing is nothing
            return noisy.new_zeros(noisy.shape)
        spec = self.stft(noisy)
        enhanced = self.apply_mask(spec, self.decode_frames(features[:-1], features[-1]))
        return torch.istft(enhanced, self.n_fft, self.hop_length, window=self.window, center=True, length=noisy.shape[-1])

    def streamer(self) -> "TFMaskStreamer":
        if not self.causal:
            raise RuntimeError(f"{type(self).__name__}: only a causal model (causal: true) can stream")
        return TFMaskStreamer(self)

    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, T] -> complex [B, bins, frames] (centred frames, zero padding at both ends)."""
        return torch.stft(
            wav.float(), self.n_fft, self.hop_length, window=self.window, center=True, pad_mode="constant", return_complex=True
        )

    def features(self, spec: torch.Tensor) -> torch.Tensor:
        """complex [B, bins, frames] -> the encoder's input features (``features_from``)."""
        spec = spec.transpose(1, 2)
        return self.features_from(spec.real, spec.imag)

    @staticmethod
    def apply_mask(spec: torch.Tensor, mask: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """complex [B, bins, frames] x mask ([B, frames, bins] real, imag) -> complex [B, bins, frames]."""
        return spec * torch.complex(mask[0], mask[1]).transpose(1, 2)

    def stream_frames(self, spec: torch.Tensor, state: Optional[FrameState]) -> Tuple[torch.Tensor, FrameState]:
        """A streamer's network step: the complex STFT of a block of frames [1, frames, bins] ->
        (complex mask [1, frames, bins], new state), continuing from ``state`` (None = start)."""
        conv_outs, bottleneck, state = self.encode_frames(self.features_from(spec.real, spec.imag), state)
        mask_re, mask_im = self.decode_frames(conv_outs, bottleneck)
        return torch.complex(mask_re, mask_im), state

    #: past noisy frames ``filter_frames`` reads (0: it masks each frame alone)
    history_frames = 0

    def filter_frames(
        self, real: torch.Tensor, imag: torch.Tensor, outs: List[torch.Tensor], bottleneck: torch.Tensor,
        history: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """The decoder applied to the noisy STFT frames (real, imag [B, frames, bins]): the enhanced
        frames' (real, imag) and the history the next block needs (None when ``history_frames`` is
        0). A masker multiplies each frame by its mask; the exported graphs run this."""
        mask_re, mask_im = self.decode_frames(outs, bottleneck)
        return real * mask_re - imag * mask_im, real * mask_im + imag * mask_re, None

    def stream_spec(self, spec: torch.Tensor, state: Optional[FrameState]) -> Tuple[torch.Tensor, FrameState]:
        """A streamer's step: the complex STFT of a block of frames [1, frames, bins] -> (the
        enhanced frames, new state); ``spec`` may be overwritten. A masker multiplies by
        ``stream_frames``' mask in place."""
        mask, state = self.stream_frames(spec, state)
        return spec.mul_(mask), state


class TFMaskNet(STFTMaskModel):
    """STFT -> conv encoder over frequency -> GRU/LSTM -> up-conv decoder -> complex mask.

    Per STFT frame, the input features (``|X|^compress_exponent``, ``log(|X| + log_floor)`` and/or
    ``log_norm``: that log minus its causal running mean per bin, time constant ``norm_seconds``,
    CausalMeanNorm; X scaled so unit-variance white noise has ``|X| ~ 1``) pass through ``len(channels)``
    Conv2d layers that stride over frequency (kernel ``time_kernel`` x ``freq_kernel``; the time
    kernel only looks back when ``causal``), a linear projection and a recurrent layer over
    time (bidirectional unless ``causal``). The decoder mirrors the encoder with sub-pixel
    convolutions that upsample frequency (``up_kernel`` wide; the encoder outputs are added
    when ``skips``) and predicts the mask: with ``mask: complex`` a complex mask ``1 + delta``
    whose magnitude is softly bounded by ``mask_bound`` (its last layer starts at zero, so an
    untrained model passes the input through unchanged); with ``mask: gain`` a real gain per
    bin, ``mask_floor + (mask_bound - mask_floor) * sigmoid(z)``, which keeps the noisy phase,
    (bound 1) can only attenuate, and (floor > 0) never attenuates a bin below the floor. The
    masked STFT is inverted with ``torch.istft`` at the input's exact length.

    ``encode`` returns ``[conv 1 .. conv N ([B, C, frames, bins]), recurrent output ([B, H, frames])]``.

    Default size (n_fft 512, channels [8, 16, 32], rnn_hidden 192): 0.64 M parameters causal,
    0.93 M non-causal; its CPU cost per second of audio: bench/README.md, "Numbers the code
    refers to" (bench/enhance_speed.py). When causal it streams (``streamer()``) with an
    algorithmic latency of ``n_fft - 1`` samples (32 ms at 16 kHz).
    """

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int = 128,
        window: str = "sqrt_hann",
        features: Sequence[str] = ("compressed",),
        compress_exponent: float = 0.3,
        log_floor: float = 1e-2,
        norm_seconds: float = 1.0,
        channels: Sequence[int] = (8, 16, 32),
        freq_kernel: int = 5,
        freq_stride: int = 2,
        up_kernel: int = 3,
        time_kernel: int = 1,
        rnn_type: str = "gru",
        rnn_hidden: int = 192,
        rnn_layers: int = 1,
        causal: bool = False,
        skips: bool = True,
        mask: str = "complex",
        mask_bound: float = 2.0,
        mask_floor: float = 0.0,
        sample_rate: int = 16000,
    ):
        super().__init__()
        features = [features] if isinstance(features, str) else list(features)
        unknown = [f for f in features if f not in FEATURE_KINDS]
        if not features or unknown:
            raise ValueError(f"TFMaskNet: features must be a non-empty subset of {FEATURE_KINDS}, got {features}")
        if not channels or time_kernel < 1 or freq_kernel < 1 or freq_stride < 1:
            raise ValueError(f"TFMaskNet: bad conv geometry channels={channels} kernels=({time_kernel}, {freq_kernel}) stride={freq_stride}")
        if mask not in MASK_KINDS:
            raise ValueError(f"TFMaskNet: mask must be one of {MASK_KINDS}, got {mask!r}")
        if mask_bound <= (1.0 if mask == "complex" else 0.0):
            raise ValueError(f"TFMaskNet: mask_bound must be > {1 if mask == 'complex' else 0} for a {mask} mask, got {mask_bound}")
        if mask_floor != 0.0 and not (mask == "gain" and 0.0 <= mask_floor < mask_bound):
            raise ValueError(f"TFMaskNet: mask_floor must be in [0, mask_bound) and only with mask: gain, got {mask_floor} ({mask} mask)")
        self.sample_rate = sample_rate
        self.mask_kind = mask
        self.mask_floor = float(mask_floor)
        self._init_stft(n_fft, hop_length, window)
        self.feature_kinds = features
        self.compress_exponent, self.log_floor = compress_exponent, log_floor
        if len(set(features)) != len(features):
            raise ValueError(f"TFMaskNet: features repeat a kind: {features}")
        self.norm_channel = features.index("log_norm") if "log_norm" in features else None
        self.norm = None if self.norm_channel is None else CausalMeanNorm(norm_seconds * sample_rate / hop_length)
        self.time_kernel = time_kernel
        self.skips, self.mask_bound = skips, mask_bound
        self._causal = causal

        bins = [n_fft // 2 + 1]
        pad = freq_kernel // 2
        for _ in channels:
            bins.append((bins[-1] + 2 * pad - freq_kernel) // freq_stride + 1)
        self.bins = bins
        widths = [len(features)] + list(channels)
        self.encoder = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], (time_kernel, freq_kernel), (1, freq_stride), (0, pad)) for i in range(len(channels))
        )
        self._build_bottleneck(channels[-1], bins[-1], rnn_type, rnn_hidden, rnn_layers)
        decoder = []
        for i in reversed(range(len(channels))):
            c_out = widths[i] if i > 0 else (2 if mask == "complex" else 1)
            decoder.append(FreqUpConv(channels[i], c_out, freq_stride, bins[i], up_kernel))
        self.decoder = nn.ModuleList(decoder)
        nn.init.zeros_(self.decoder[-1].conv.weight)
        nn.init.zeros_(self.decoder[-1].conv.bias)

    def _build_bottleneck(self, channels: int, bins: int, rnn_type: str, rnn_hidden: int, rnn_layers: int) -> None:
        """The layers between encoder and decoder: the last conv's map flattened per frame, a
        projection, a recurrent layer over time and a projection back."""
        flat = channels * bins
        self.rnn_in = nn.Linear(flat, rnn_hidden)
        self.rnn = RecurrentBlock(rnn_hidden, rnn_hidden, num_layers=rnn_layers, kind=rnn_type, bidirectional=not self._causal)
        self.rnn_out = nn.Linear(rnn_hidden, flat)

    # --- interface ------------------------------------------------------------------------

    def encoder_modules(self) -> List[nn.Module]:
        return [self.encoder, self.rnn_in, self.rnn]

    @property
    def num_features(self) -> int:
        return len(self.encoder) + 1

    # --- the frame pipeline ----------------------------------------------------------------

    def features_from(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """The STFT's real and imaginary parts [B, frames, bins] -> [B, len(features), frames, bins]."""
        real, imag = real * self.feature_gain, imag * self.feature_gain
        power = real.square() + imag.square() + 1e-8
        out = []
        for kind in self.feature_kinds:
            if kind == "compressed":
                out.append(power.pow(0.5 * self.compress_exponent))
            else:  # log; log_norm is normalised in encode_frames, which carries its state
                out.append(torch.log(power.sqrt() + self.log_floor))
        return torch.stack(out, dim=1)

    def encode_frames(
        self, feats: torch.Tensor, state: Optional[FrameState] = None
    ) -> Tuple[List[torch.Tensor], torch.Tensor, FrameState]:
        """Conv encoder, projection and recurrent layer on a block of frames (see the base class)."""
        caches = (state or {}).get("conv") or [None] * len(self.encoder)
        new_caches = []
        new_state: FrameState = {}
        if self.norm is not None:
            i = self.norm_channel
            normed, new_state["norm"] = self.norm(feats[:, i : i + 1], (state or {}).get("norm"))
            feats = torch.cat([feats[:, :i], normed, feats[:, i + 1 :]], dim=1)
        x = feats
        outs = []
        for conv, cache in zip(self.encoder, caches):
            x, cache = self._time_context(x, cache)
            x = F.leaky_relu(conv(x), ACTIVATION_SLOPE)
            new_caches.append(cache)
            outs.append(x)
        bottleneck, rnn_state = self._bottleneck_forward(x, (state or {}).get("rnn"))
        return outs, bottleneck, {"conv": new_caches, "rnn": rnn_state, **new_state}

    def _bottleneck_forward(self, x: torch.Tensor, state: Any) -> Tuple[torch.Tensor, Any]:
        """The last conv's map [B, C, frames, bins] -> (bottleneck [B, H, frames], recurrent state)."""
        b, c, t, f = x.shape
        y, rnn_state = self.rnn(self.rnn_in(x.permute(0, 2, 1, 3).reshape(b, t, c * f)), state)
        return y.transpose(1, 2), rnn_state

    def _bottleneck_map(self, bottleneck: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """The bottleneck -> the decoder's input map, of the last conv's ``shape`` [B, C, frames, bins]."""
        b, c, t, f = shape
        return F.leaky_relu(self.rnn_out(bottleneck.transpose(1, 2)), ACTIVATION_SLOPE).reshape(b, t, c, f).permute(0, 2, 1, 3).contiguous()

    def decode_frames(self, conv_outs: List[torch.Tensor], bottleneck: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encoder outputs of a block of frames -> mask (real, imag), each [B, frames, bins]."""
        x = self._bottleneck_map(bottleneck, conv_outs[-1].shape)
        for index, layer in enumerate(self.decoder):
            if self.skips:
                x = x + conv_outs[len(conv_outs) - 1 - index]
            x = layer(x)
            if index < len(self.decoder) - 1:
                x = F.leaky_relu(x, ACTIVATION_SLOPE)
        x = x.float()  # the mask meets the float32 STFT, also under autocast
        if self.mask_kind == "gain":
            gain = torch.sigmoid(x[:, 0]) * (self.mask_bound - self.mask_floor) + self.mask_floor
            return gain, torch.zeros_like(gain)
        return bounded_complex_mask(x[:, 0], x[:, 1], self.mask_bound)

    def stream_frames(self, spec: torch.Tensor, state: Optional[FrameState]) -> Tuple[torch.Tensor, FrameState]:
        """``features`` + ``encode_frames`` + ``decode_frames`` for a streamer's few frames, equal
        to them to float rounding, inference only. Activations stay channels-last [B, T, F, C]:
        every convolution is one matrix product on its unfolded input, and each layer writes
        its output straight into the zero-padded input of the next, all in buffers (and views
        of them) made once per block shape (``_StreamWorkspace``), so a step is few tensor ops.
        The weights in that layout (``_stream_pack``) are made on the first call (``state``
        None) and carried in the state. Returns the complex mask [B, T, bins], or with
        ``mask: gain`` the real gain (the same product with the STFT); either is a new tensor.
        With ``log_norm`` features it runs the generic frame pipeline (which carries the norm)."""
        if self.norm is not None:
            return super().stream_frames(spec, state)
        state = state or {}
        pack = state.get("pack") or self._stream_pack()
        b, t, _ = spec.shape
        key = (b, t, torch.is_inference_mode_enabled())
        work = pack["workspace"].get(key) or _StreamWorkspace(self, pack, b, t)
        if t <= 16:
            pack["workspace"][key] = work
        parts = torch.view_as_real(spec)
        power = torch.addcmul(pack["eps"], torch.linalg.vecdot(parts, parts), pack["gain2"])
        for kind, out in zip(self.feature_kinds, work.features):
            if kind == "compressed":
                torch.pow(power, 0.5 * self.compress_exponent, out=out)
            else:
                torch.log(power.sqrt().add_(self.log_floor), out=out)
        kt = self.time_kernel
        caches = state.get("conv") or [None] * len(self.encoder)
        new_caches = []
        for (buffer, unfolded, cols, cols_2d, weight, bias, out, out_4d, next_input), cache in zip(work.encoder, caches):
            if work.causal_context:  # the k - 1 frames before this block's: the cache (zeros at the start)
                if cache is None:
                    buffer[:, : kt - 1].zero_()
                else:
                    buffer[:, : kt - 1].copy_(cache)
                cache = buffer[:, t:].clone()
            new_caches.append(cache)
            cols.copy_(unfolded)
            torch.addmm(bias, cols_2d, weight, out=out)
            if next_input is not None:  # F.leaky_relu has no out=; this is the op it calls
                torch._C._nn.leaky_relu(out_4d, ACTIVATION_SLOPE, out=next_input)
            else:
                F.leaky_relu(out, ACTIVATION_SLOPE, inplace=True)
        torch.addmm(pack["rnn_in"][1], work.bottleneck, pack["rnn_in"][0], out=work.rnn_input)
        y, rnn_state = self.rnn.infer(work.rnn_input.view(b, t, -1), state.get("rnn"))
        torch.addmm(pack["rnn_out"][1], y.reshape(b * t, -1), pack["rnn_out"][0], out=work.rnn_output)
        F.leaky_relu(work.rnn_output, ACTIVATION_SLOPE, inplace=True)
        x = work.rnn_output_4d
        last = len(work.decoder) - 1
        for index, ((unfolded, cols, cols_2d, weight, bias, out, inner, result), skip) in enumerate(zip(work.decoder, work.skips)):
            if skip is not None:
                torch.add(x, skip, out=inner)
            else:
                inner.copy_(x)
            cols.copy_(unfolded)
            torch.addmm(bias, cols_2d, weight, out=out)
            if index < last:
                F.leaky_relu(out, ACTIVATION_SLOPE, inplace=True)
            x = result
        new_state = {"conv": new_caches, "rnn": rnn_state, "pack": pack}
        if self.mask_kind == "gain":
            return torch.sigmoid(work.result[..., 0]).mul_(self.mask_bound - self.mask_floor).add_(self.mask_floor), new_state
        return self._stream_mask(work.mask, pack), new_state

    def _stream_pack(self) -> Dict[str, Any]:
        """The weights in ``stream_frames``'s layout: each conv as a [kt * kf * C_in, C_out]
        matrix (rows in the unfolded input's order), the flat projections permuted to the
        (bins, channels) order of channels-last features, the complex mask's ``1 +`` in the last
        bias; constants as tensors; an empty cache of workspaces."""
        def conv_matrix(conv: nn.Conv2d) -> Tuple[torch.Tensor, torch.Tensor]:
            return conv.weight.detach().permute(2, 3, 1, 0).reshape(-1, conv.out_channels).contiguous(), conv.bias.detach()

        c, f = self.encoder[-1].out_channels, self.bins[-1]
        w_in, w_out = self.rnn_in.weight.detach(), self.rnn_out.weight.detach()
        decoder = [conv_matrix(layer.conv) for layer in self.decoder]
        if self.mask_kind == "complex":  # 1 + delta: conv channel s * 2 + 0 is a real part
            weight, bias = decoder[-1]
            decoder[-1] = (weight, (bias.view(-1, 2) + bias.new_tensor([1.0, 0.0])).reshape(-1))
        bound = self.mask_bound - 1.0
        return {
            "encoder": [conv_matrix(conv) for conv in self.encoder],
            # [H, f * c] passed transposed: each output's weights contiguous, faster for a few frames
            "rnn_in": (w_in.view(-1, c, f).transpose(1, 2).reshape(-1, f * c).t(), self.rnn_in.bias.detach()),
            "rnn_out": (
                w_out.view(c, f, -1).permute(2, 1, 0).reshape(-1, f * c).contiguous(),
                self.rnn_out.bias.detach().view(c, f).t().reshape(-1).contiguous(),
            ),
            "decoder": decoder,
            "gain2": w_in.new_tensor(self.feature_gain**2),
            "eps": w_in.new_tensor(1e-8),
            "one": w_in.new_tensor(1.0),
            "bound": w_in.new_tensor(bound),
            "inv_bound": w_in.new_tensor(1.0 / bound if bound > 0 else 0.0),
            "neg_inv_bound": w_in.new_tensor(-1.0 / bound if bound > 0 else 0.0),
            "workspace": {},
        }

    def _stream_mask(self, mask: torch.Tensor, pack: Dict[str, Any]) -> torch.Tensor:
        """``bounded_complex_mask`` on a complex ``mask = 1 + delta`` in fewer ops, as a new
        tensor: scaled by ``limited / max(|mask|, 1)`` (exactly 1 where ``|mask| <= 1``)."""
        mag = mask.abs().clamp_(min=1.0)
        limited = torch.addcmul(pack["one"], torch.tanh_(torch.addcmul(pack["neg_inv_bound"], mag, pack["inv_bound"])), pack["bound"])
        return mask.mul(limited.div_(mag))

    def _time_context(self, x: torch.Tensor, cache: Optional[torch.Tensor]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Give a conv with time kernel k its k-1 frames of context: past frames (causal: the
        cache, zeros at the start) or half past, half future zeros (offline, non-causal)."""
        k = self.time_kernel
        if k == 1:
            return x, None
        if not self.causal:
            return F.pad(x, (0, 0, (k - 1) // 2, k - 1 - (k - 1) // 2)), None
        if cache is None:
            cache = x.new_zeros(x.shape[0], x.shape[1], k - 1, x.shape[3])
        x = torch.cat([cache, x], dim=2)
        return x, x[:, :, -(k - 1) :]


class _StreamWorkspace:
    """``TFMaskNet.stream_frames``'s buffers for one block shape (batch x frames) and the views
    of them a step reads and writes, channels-last as ``_stream_pack``'s weights: per conv its
    input (zero-padded in frequency and by the time context; the layer before writes the
    inside), that input's unfolded view, the unfolded copy and the output; the bottleneck's
    input and output; the mask's view of the last output. Zeros outside the written parts
    stay zero."""

    def __init__(self, model: "TFMaskNet", pack: Dict[str, Any], batch: int, frames: int):
        kt, zeros = model.time_kernel, pack["eps"].new_zeros
        front = kt - 1 if model.causal else (kt - 1) // 2  # time context before the block's frames
        self.causal_context = model.causal and kt > 1
        inputs = []
        for conv, bins in zip(model.encoder, model.bins):
            pad = conv.padding[1]
            buffer = zeros(batch, frames + kt - 1, bins + 2 * pad, conv.in_channels)
            inputs.append((buffer, buffer[:, front : front + frames, pad : pad + bins]))
        self.features = [inputs[0][1][..., index] for index in range(len(model.feature_kinds))]
        self.encoder, outs = [], []
        for index, (conv, (weight, bias)) in enumerate(zip(model.encoder, pack["encoder"])):
            buffer = inputs[index][0]
            unfolded, cols, out = self._conv(buffer, frames, kt, conv.kernel_size[1], conv.stride[1], conv.out_channels, zeros)
            next_input = inputs[index + 1][1] if index + 1 < len(inputs) else None
            self.encoder.append((buffer, unfolded, cols, cols.view(out[0].shape[0], -1), weight, bias, *out, next_input))
            outs.append(next_input if next_input is not None else out[1])
        self.bottleneck = outs[-1].view(batch * frames, -1)  # the last conv's output, [B * T, F * C]
        self.rnn_input = zeros(batch * frames, model.rnn_in.out_features)
        self.rnn_output = zeros(batch * frames, self.bottleneck.shape[1])
        self.rnn_output_4d = self.rnn_output.view(outs[-1].shape)
        self.skips = list(reversed(outs)) if model.skips else [None] * len(outs)
        self.decoder = []
        for layer, (weight, bias), bins in zip(model.decoder, pack["decoder"], reversed(model.bins[1:])):
            pad, kernel = layer.conv.padding[1], layer.conv.kernel_size[1]
            buffer = zeros(batch, frames, bins + 2 * pad, layer.conv.in_channels)
            unfolded, cols, (out, out_4d) = self._conv(buffer, frames, 1, kernel, 1, layer.conv.out_channels, zeros)
            # sub-pixel: conv channel s * out_channels + c is bin f * stride + s, channel c
            result = out_4d.view(batch, frames, -1, layer.out_channels)[:, :, : layer.out_bins]
            self.decoder.append((unfolded, cols, cols.view(out.shape[0], -1), weight, bias, out, buffer[:, :, pad : pad + bins], result))
        self.result = self.decoder[-1][-1]
        self.mask = torch.view_as_complex(self.result) if model.mask_kind == "complex" else None

    @staticmethod
    def _conv(buffer: torch.Tensor, frames: int, time_kernel: int, kernel: int, stride: int, channels: int, zeros: Callable) -> tuple:
        """A conv (kernel ``time_kernel`` x ``kernel``, frequency ``stride``, no padding) on
        ``buffer`` [B, frames + time_kernel - 1, F, C] as one matrix product: the unfolded view
        [B, frames, F_out, time_kernel, kernel, C], a buffer to copy it to, and the output
        [B * frames * F_out, channels] with its [B, frames, F_out, channels] view."""
        b, _, f, c = buffer.shape
        f_out = (f - kernel) // stride + 1
        s_b, s_t = buffer.stride(0), buffer.stride(1)
        unfolded = buffer.as_strided((b, frames, f_out, time_kernel, kernel, c), (s_b, s_t, stride * c, s_t, c, 1))
        out = zeros(b * frames * f_out, channels)
        return unfolded, zeros(unfolded.shape), (out, out.view(b, frames, f_out, channels))


class TFMaskStreamer:
    """Frame-by-frame enhancement with a causal STFTMaskModel (TFMaskNet, BandGainGRU); its
    output equals ``model(wav)``.

    ``feed(chunk)`` takes any number of samples ([T] or [1, T]) and returns the output samples
    that are final (no later frame overlaps them); ``flush()`` ends the signal (zero padding,
    as torch.stft's centring) and returns the rest. A frame is enhanced as soon as its last
    sample arrives, and an output sample is final once every frame overlapping it is done, so
    the output lags the input by at most ``n_fft - 1`` samples (``model.algorithmic_latency``).
    Between calls it keeps the unframed input tail, the network's state (``model.stream_frames``)
    and the ``n_fft - hop`` overlap-add sums still open; the window envelope that divides the
    output is computed once per block geometry, and a block's frames are overlap-added as one
    sum over a buffer kept per frame count (``_lanes``). Runs without autograd.
    """

    def __init__(self, model: STFTMaskModel):
        self.model = model
        self.n_fft, self.hop = model.n_fft, model.hop_length
        self.pad = self.n_fft // 2  # torch.stft(center=True) pads n_fft // 2 zeros at each end
        self.window = model.window
        self.window_sq = self.window.square()
        self.input = self.window.new_zeros(1, self.pad)  # [1, padded signal from frame `next_frame` on]
        self.received = 0  # input samples so far
        self.next_frame = 0  # first frame not yet enhanced
        self.open = self.window.new_zeros(self.n_fft - self.hop)  # overlap-add sums from padded position next_frame * hop
        self.emitted = 0  # output samples returned so far
        self.state: Optional[FrameState] = None
        self.finished = False
        self._envelopes: Dict[Tuple[int, int], torch.Tensor] = {}  # (start within the steady pattern, length) -> envelope
        self._lane_cache: Dict[Tuple[int, bool], Tuple[torch.Tensor, torch.Tensor]] = {}
        self._writes_out = "out" in inspect.signature(self.enhance_frames).parameters

    def feed(self, chunk: torch.Tensor) -> torch.Tensor:
        if self.finished:
            raise RuntimeError("TFMaskStreamer: feed() after flush(); start a new streamer")
        with torch.no_grad():
            if chunk.dtype != self.window.dtype or chunk.device != self.window.device:
                chunk = chunk.to(self.window)
            self.input = torch.cat([self.input, chunk.reshape(1, -1)], dim=1)
            self.received += chunk.numel()
            length = self.input.shape[1]
            count = (length - self.n_fft) // self.hop + 1 if length >= self.n_fft else 0
            return self._process(count, final=False)

    def flush(self) -> torch.Tensor:
        if self.finished:
            return self.window.new_zeros(0)
        self.finished = True
        with torch.no_grad():
            count = max(0, self.received // self.hop + 1 - self.next_frame)  # offline has 1 + T // hop frames
            needed = (count - 1) * self.hop + self.n_fft
            if count > 0 and self.input.shape[1] < needed:
                self.input = F.pad(self.input, (0, needed - self.input.shape[1]))
            return self._process(count, final=True)

    def _process(self, count: int, final: bool) -> torch.Tensor:
        """Enhance the next ``count`` frames, overlap-add them and return the samples now final."""
        start = self.next_frame * self.hop  # padded position of the first new frame
        if count > 0:
            lanes, frames_out, open_out = self._lanes(count)
            open_out.copy_(self.open)
            frames = self.input.unfold(1, self.n_fft, self.hop)  # [1, count (or more at the end), n_fft]
            if frames.shape[1] != count:
                frames = frames[:, :count]
            if self._writes_out:
                self.enhance_frames(frames, out=frames_out)
            else:
                frames_out.copy_(self.enhance_frames(frames[0]))
            summed = lanes.sum(0)
            self.input = self.input[:, count * self.hop :]
            self.next_frame += count
        else:
            summed = self.open
        done = count * self.hop if not final else self.received + self.pad - start  # samples final from `start` on
        ready, self.open = summed.split([done, summed.shape[0] - done])
        skip = max(0, self.pad - start)  # padded positions before the signal's first sample
        if done <= skip:
            return self.window.new_zeros(0)
        out = (ready[skip:] if skip else ready) / self._envelope(start + skip, start + done)
        self.emitted += out.numel()
        return out

    def _lanes(self, count: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The overlap-add of ``count`` frames as one sum: zeros [count + 1, span] whose row i
        holds frame i at offset i * hop and whose last row the open sums, with the views the
        synthesis frames ([1, count, n_fft]) and the open sums are written into; kept per
        count (and inference mode) for blocks of a few frames, the zeros around stay zero."""
        key = (count, torch.is_inference_mode_enabled())
        if key in self._lane_cache:
            return self._lane_cache[key]
        span = (count - 1) * self.hop + self.n_fft
        lanes = self.window.new_zeros(count + 1, span)
        found = lanes, lanes.as_strided((1, count, self.n_fft), (0, span + self.hop, 1)), lanes[count, : self.n_fft - self.hop]
        if count <= 16:
            self._lane_cache[key] = found
        return found

    def _envelope(self, lo: int, hi: int) -> torch.Tensor:
        """The summed squared windows of frames ``0 .. next_frame - 1`` at padded positions
        ``lo .. hi - 1``, the divisor torch.istft uses there."""
        first = max(0, (lo - self.n_fft) // self.hop + 1)  # first frame that reaches lo
        steady = first > 0 and hi <= self.next_frame * self.hop  # no missing frame on either side
        key = (lo - first * self.hop, hi - lo)
        if steady and key in self._envelopes:
            return self._envelopes[key]
        count = self.next_frame - first
        envelope = self._overlap_add(self.window_sq.expand(count, -1))[lo - first * self.hop : hi - first * self.hop]
        if steady:
            self._envelopes[key] = envelope
        return envelope

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """[count, n_fft] frames ``hop`` apart -> [(count - 1) * hop + n_fft] summed signal (as torch.istft)."""
        count = frames.shape[0]
        if count == 1:
            return frames[0].clone()
        span = (count - 1) * self.hop + self.n_fft
        folded = F.fold(frames.T.unsqueeze(0), output_size=(1, span), kernel_size=(1, self.n_fft), stride=(1, self.hop))
        return folded.reshape(span)

    def enhance_frames(self, frames: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Raw frames [1, count, n_fft] -> enhanced, windowed synthesis frames [1, count, n_fft]
        (the network's part of a step; it carries the network's state), written into ``out``
        if given. A subclass may leave ``out`` out of its signature: it then gets and returns
        [count, n_fft], and the streamer copies."""
        spec = torch.fft.rfft(frames * self.window, dim=-1)  # [1, count, bins]
        enhanced, self.state = self.model.stream_spec(spec, self.state)
        return torch.mul(torch.fft.irfft(enhanced, n=self.n_fft, dim=-1), self.window, out=out)
