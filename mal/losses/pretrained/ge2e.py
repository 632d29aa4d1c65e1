"""The GE2E speaker encoder whose weights ship inside the ``resemblyzer`` wheel.

Why GE2E: a deep-feature baseline must run offline, and this is the only pre-trained speech
network whose weights come inside a package reachable here (WavLM / wav2vec 2.0 weights come
from a model hub). The ``resemblyzer`` package itself is never imported (its ``__init__`` needs
webrtcvad and librosa); only its ``pretrained.pt`` is read, with ``weights_only=True``, into a
network rebuilt here: a 40-band mel power spectrogram (25 ms Hann window, 10 ms hop, 400-point
FFT at 16 kHz, Slaney mel scale and area normalisation as librosa's defaults), three stacked
256-unit LSTM layers, and a 256-unit linear layer + ReLU whose L2-normalised output is the
speaker embedding. The mel front end is plain torch, so gradients reach the waveform.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
HIDDEN = 256
NUM_LAYERS = 3
#: resemblyzer raises quieter input to this level (increase only) before the mel front end
TARGET_DBFS = -30.0


def resemblyzer_weights_path() -> Path:
    """``pretrained.pt`` inside the installed resemblyzer package (found without importing it)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "GE2E weights: the 'resemblyzer' package is not installed; install it with "
            "`pip install --no-deps resemblyzer` (tools/setup.sh does this), or pass checkpoint=PATH/pretrained.pt"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "pretrained.pt"
        if path.is_file():
            return path
    raise FileNotFoundError(f"GE2E weights: no pretrained.pt in {list(spec.submodule_search_locations)}")


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default, ``htk=False``): linear below 1 kHz, log above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, hz / f_sp)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: Optional[float] = None) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters, Slaney-normalised (as ``librosa.filters.mel``)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_freqs = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)


def reflect_pad(wav: torch.Tensor, pad: int) -> torch.Tensor:
    """``F.pad(wav, (pad, pad), mode="reflect")`` from slices and flips.

    The same numbers as ``torch.stft(center=True, pad_mode="reflect")``'s padding, but its
    backward is slicing, which is deterministic on CUDA (the reflection-pad backward kernel is
    not, so ``torch.use_deterministic_algorithms(True)`` would refuse it).
    """
    if wav.shape[-1] <= pad:
        raise ValueError(f"reflect padding by {pad} needs more than {pad} samples, got {wav.shape[-1]}")
    left = wav[..., 1 : pad + 1].flip(-1)
    right = wav[..., -pad - 1 : -1].flip(-1)
    return torch.cat([left, wav, right], dim=-1)


class MelSpectrogram(nn.Module):
    """Differentiable [B, T] -> [B, frames, n_mels] mel *power* spectrogram (not log)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, hop: int = HOP, n_mels: int = N_MELS):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels)), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        padded = reflect_pad(wav, self.n_fft // 2)
        spec = torch.stft(padded, self.n_fft, self.hop, self.n_fft, self.window, center=False, return_complex=True)
        power = spec.real.pow(2) + spec.imag.pow(2)
        return torch.matmul(self.filters, power).transpose(1, 2)


class GE2EEncoder(nn.Module):
    """The resemblyzer network; ``features`` gives each LSTM layer's output as [B, 256, frames]."""

    num_layers = NUM_LAYERS
    sample_rate = SAMPLE_RATE

    def __init__(self):
        super().__init__()
        self.mel = MelSpectrogram()
        self.lstms = nn.ModuleList(nn.LSTM(N_MELS if i == 0 else HIDDEN, HIDDEN, batch_first=True) for i in range(NUM_LAYERS))
        self.linear = nn.Linear(HIDDEN, HIDDEN)

    def prepare(self, enhanced: torch.Tensor, clean: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Scale both by the clean utterance's level gain (see ``level_gain``)."""
        gain = self.level_gain(clean)
        return enhanced * gain, clean.detach() * gain

    @staticmethod
    def level_gain(reference: torch.Tensor) -> torch.Tensor:
        """[B, 1] gain that raises ``reference`` to -30 dBFS RMS (never lowers it), as resemblyzer does."""
        rms = reference.detach().pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)
        return (10 ** (TARGET_DBFS / 20) / rms).clamp_min(1.0)

    def features(self, wav: torch.Tensor) -> List[torch.Tensor]:
        x = self.mel(wav)
        outputs = []
        for lstm in self.lstms:
            x, _ = lstm(x)
            outputs.append(x.transpose(1, 2))
        return outputs

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, T] (already level-normalised) -> L2-normalised [B, 256] speaker embedding."""
        last = self.features(wav)[-1][:, :, -1]
        embed = torch.relu(self.linear(last))
        return embed / embed.norm(dim=1, keepdim=True).clamp_min(1e-8)


def _state_for(model: GE2EEncoder, source: Dict[str, torch.Tensor], where: str) -> Dict[str, torch.Tensor]:
    """Map resemblyzer's single 3-layer ``lstm.*_l{i}`` keys onto the per-layer LSTMs."""
    wanted: Dict[str, str] = {"linear.weight": "linear.weight", "linear.bias": "linear.bias"}
    for i in range(NUM_LAYERS):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            wanted[f"lstms.{i}.{name}_l0"] = f"lstm.{name}_l{i}"
    missing = sorted(src for src in wanted.values() if src not in source)
    if missing:
        raise KeyError(f"{where}: not a GE2E (resemblyzer) checkpoint; missing keys {missing}")
    state = {dst: source[src] for dst, src in wanted.items()}
    expected = {k: v.shape for k, v in model.state_dict().items()}
    for key, tensor in state.items():
        if tensor.shape != expected[key]:
            raise ValueError(f"{where}: {wanted[key]} has shape {tuple(tensor.shape)}, expected {tuple(expected[key])}")
    return state


def load_ge2e(checkpoint: Optional[Union[str, os.PathLike]] = None) -> GE2EEncoder:
    """Build the encoder with resemblyzer's weights (or a compatible ``.pt`` file); eval mode."""
    path = resemblyzer_weights_path() if checkpoint is None else Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"GE2E weights: {path} not found")
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    source = loaded.get("model_state", loaded) if isinstance(loaded, dict) else None
    if not isinstance(source, dict):
        raise ValueError(f"{path}: expected a state dict (or a dict with 'model_state')")
    model = GE2EEncoder()
    model.load_state_dict(_state_for(model, source, str(path)))
    return model.eval()
