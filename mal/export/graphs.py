"""What gets exported: a model's computation in a form ONNX and TorchScript can hold.

- offline: ``enhanced = graph(noisy)``, [batch, time] -> [batch, time]. TFMaskNet takes any
  length (its complex STFT and inverse replaced by real matrix products, mal.export.dft).
  DEMUCS and the tiny model take any *valid* length (``valid_length``): the runtime pads the
  input with zeros to one and cuts the output back, as the models do inside; a normalising
  non-causal DEMUCS leaves its input scale (std + floor) to the runtime too, since the std of
  the padded signal would differ. :func:`offline_contract` says what the runtime must do.
- streaming (causal TFMaskNet): ``out_frames, *state = graph(frames, *state)``: raw STFT frames
  [count, n_fft] in, windowed synthesis frames out, the recurrent state and conv caches passed
  explicitly. The framing and overlap-add around it stay in the caller (TFMaskStreamer).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from mal.export.dft import RealDFT
from mal.models.abs_model import AbsSEModel
from mal.models.demucs import Demucs
from mal.models.tfmask import TFMaskNet
from mal.models.tiny import TinyConvAE


class ExportError(ValueError):
    """A model or form that cannot be exported."""


class UnsupportedForm(ExportError):
    """This model has no such form (e.g. streaming for a non-causal model)."""


class TFMaskOffline(nn.Module):
    """TFMaskNet's forward with real-valued STFT / iSTFT (same numbers as ``model(wav)``)."""

    def __init__(self, model: TFMaskNet):
        super().__init__()
        self.model = model
        self.dft = RealDFT(model.window)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        model, hop, pad = self.model, self.model.hop_length, self.model.n_fft // 2
        frames = self.dft.frame(F.pad(wav, (pad, pad)), hop)  # [B, frames, n_fft]
        real, imag = self.dft.analyse(frames)
        conv_outs, bottleneck, _ = model.encode_frames(model.features_from(real, imag))
        mask_re, mask_im = model.decode_frames(conv_outs, bottleneck)
        out = self.dft.synthesise(real * mask_re - imag * mask_im, real * mask_im + imag * mask_re)
        envelope = self.dft.overlap_add(torch.ones_like(out) * self.dft.window_sq, hop)
        return (self.dft.overlap_add(out, hop) / envelope)[:, pad : pad + wav.shape[-1]]


def flatten_state(state: Dict[str, Any]) -> List[torch.Tensor]:
    """A TFMaskNet frame state (conv caches, GRU h or LSTM (h, c)) as a flat tensor list."""
    caches = [c for c in (state.get("conv") or []) if c is not None]
    rnn = state["rnn"]
    return caches + (list(rnn) if isinstance(rnn, tuple) else [rnn])


class TFMaskFrameStep(nn.Module):
    """One streaming step of a causal TFMaskNet with its state as explicit inputs and outputs."""

    def __init__(self, model: TFMaskNet):
        super().__init__()
        if not model.causal:
            raise UnsupportedForm("streaming export needs a causal TFMaskNet (causal: true)")
        self.model = model
        self.dft = RealDFT(model.window)
        _, _, state = model.encode_frames(model.features_from(*self.dft.analyse(torch.zeros(1, 1, model.n_fft))))
        self.num_caches = len([c for c in state["conv"] if c is not None])
        self.lstm = isinstance(state["rnn"], tuple)
        self.state_shapes = [tuple(t.shape) for t in flatten_state(state)]

    def initial_state(self) -> List[torch.Tensor]:
        """The state of a fresh stream (zeros, as the PyTorch streamer starts)."""
        return [torch.zeros(shape) for shape in self.state_shapes]

    def state_dict_of(self, flat: Tuple[torch.Tensor, ...]) -> Dict[str, Any]:
        caches: List[Any] = list(flat[: self.num_caches]) or [None] * len(self.model.encoder)
        rest = flat[self.num_caches :]
        return {"conv": caches, "rnn": (rest[0], rest[1]) if self.lstm else rest[0]}

    def forward(self, frames: torch.Tensor, *state: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        model = self.model
        real, imag = self.dft.analyse(frames.unsqueeze(0))  # [1, count, bins]
        conv_outs, bottleneck, new_state = model.encode_frames(model.features_from(real, imag), self.state_dict_of(state))
        mask_re, mask_im = model.decode_frames(conv_outs, bottleneck)
        out = self.dft.synthesise(real * mask_re - imag * mask_im, real * mask_im + imag * mask_re)[0]
        return (out, *flatten_state(new_state))


def external_scale(model: AbsSEModel) -> bool:
    """True for a model whose input scale depends on the whole (unpadded) signal: a normalising
    non-causal DEMUCS (std of the input); the runtime divides by it and multiplies back."""
    return isinstance(model, Demucs) and model.normalize and not model.causal


def offline_contract(model: AbsSEModel) -> Dict[str, Any]:
    """What a runtime does around the offline graph (stored in the file's metadata)."""
    contract: Dict[str, Any] = {"valid_length": None, "scale_floor": None}
    if isinstance(model, Demucs):
        contract["valid_length"] = [model.depth, model.kernel_size, model.stride, model.resample]
    elif isinstance(model, TinyConvAE):
        contract["valid_length"] = [model.depth, model.kernel_size, model.stride, 1]
    if external_scale(model):
        contract["scale_floor"] = float(model.floor)
    return contract


def offline_graph(model: AbsSEModel) -> nn.Module:
    """The module exported as the offline form (see :func:`offline_contract`)."""
    if isinstance(model, TFMaskNet):
        return TFMaskOffline(model)
    if offline_contract(model)["valid_length"] is None:
        return model
    graph = copy.deepcopy(model)
    # The input is already valid: no padding inside. (Traced, the model's own padding would be
    # "valid_length(L) - T" with L a constant of the example, which crops other lengths.)
    graph.valid_length = lambda length: length
    if external_scale(model):
        graph.normalize = False  # the runtime scales (input_scale is then 1)
    return graph


def streaming_graph(model: AbsSEModel) -> TFMaskFrameStep:
    """The module exported as the streaming form (causal TFMaskNet only, so far)."""
    if not isinstance(model, TFMaskNet):
        raise UnsupportedForm(f"streaming export is implemented for causal TFMaskNet only, not {type(model).__name__}; "
                          "export the offline form")
    return TFMaskFrameStep(model)
