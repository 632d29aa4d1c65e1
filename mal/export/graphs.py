"""What gets exported: a model's computation in a form ONNX and TorchScript can hold.

- offline: ``enhanced = graph(noisy)``, [batch, time] -> [batch, time]. The STFT maskers
  (STFTMaskModel: TFMaskNet, BandGainGRU) take any length (the complex STFT and inverse
  replaced by real matrix products, mal.export.dft).
  DEMUCS and the tiny model take any *valid* length (``valid_length``): the runtime pads the
  input with zeros to one and cuts the output back, as the models do inside; a normalising
  non-causal DEMUCS leaves its input scale (std + floor) to the runtime too, since the std of
  the padded signal would differ. :func:`offline_contract` says what the runtime must do.
- streaming, causal STFT masker (TFMaskNet, BandGainGRU; kind "tfmask"): ``out_frames, *state =
  graph(frames, *state)``: raw STFT frames [count, n_fft] in, windowed synthesis frames out, the
  recurrent state and conv caches passed explicitly. The framing and overlap-add around it
  stay in the caller (TFMaskStreamer).
- streaming, causal DEMUCS: the network steps of DemucsStreamer side by side in one graph
  (each encoder layer, the LSTM with its state, each decoder layer up to its transposed conv),
  each with its own inputs and outputs; the buffering, overlap-add and scaling stay in the
  caller (DemucsStreamer), which runs one step at a time.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from mal.export.dft import RealDFT
from mal.models.abs_model import AbsSEModel
from mal.models.demucs import Demucs, DemucsStreamer
from mal.models.tfmask import STFTMaskModel
from mal.models.tiny import TinyConvAE


class ExportError(ValueError):
    """A model or form that cannot be exported."""


class UnsupportedForm(ExportError):
    """This model has no such form (e.g. streaming for a non-causal model)."""


class TFMaskOffline(nn.Module):
    """An STFT masker's forward with real-valued STFT / iSTFT (same numbers as ``model(wav)``)."""

    def __init__(self, model: STFTMaskModel):
        super().__init__()
        if getattr(model, "norm", None) is not None:  # a frame loop: the block loop would be traced at one length
            model = copy.deepcopy(model)
            model.norm.frame_loop = True
        self.model = model
        self.dft = RealDFT(model.window)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        model, hop, pad = self.model, self.model.hop_length, self.model.n_fft // 2
        frames = self.dft.frame(F.pad(wav, (pad, pad)), hop)  # [B, frames, n_fft]
        real, imag = self.dft.analyse(frames)
        conv_outs, bottleneck, _ = model.encode_frames(model.features_from(real, imag))
        out = self.dft.synthesise(*model.filter_frames(real, imag, conv_outs, bottleneck)[:2])
        envelope = self.dft.overlap_add(torch.ones_like(out) * self.dft.window_sq, hop)
        return (self.dft.overlap_add(out, hop) / envelope)[:, pad : pad + wav.shape[-1]]


def flatten_state(state: Dict[str, Any]) -> List[torch.Tensor]:
    """An STFT masker's frame state (conv caches if any, GRU h or LSTM (h, c), the filter's
    history if any, the feature norm's sum and weight if any) as a flat tensor list."""
    caches = [c for c in (state.get("conv") or []) if c is not None]
    rnn = state["rnn"]
    history = [state["history"]] if state.get("history") is not None else []
    norm = list(state["norm"]) if state.get("norm") is not None else []
    return caches + (list(rnn) if isinstance(rnn, tuple) else [rnn]) + history + norm


class TFMaskFrameStep(nn.Module):
    """One streaming step of a causal STFT masker with its state as explicit inputs and outputs."""

    kind = "tfmask"  # what the runtime knows this framing as (ExportedTFMaskStreamer)

    def __init__(self, model: STFTMaskModel):
        super().__init__()
        if not model.causal:
            raise UnsupportedForm(f"streaming export needs a causal {type(model).__name__} (causal: true)")
        self.model = model
        self.dft = RealDFT(model.window)
        real, imag = self.dft.analyse(torch.zeros(1, 1, model.n_fft))
        outs, bottleneck, state = model.encode_frames(model.features_from(real, imag))
        state["history"] = model.filter_frames(real, imag, outs, bottleneck)[2]
        self.has_history = state["history"] is not None
        self.has_norm = state.get("norm") is not None
        self.conv_slots = len(state.get("conv") or [])
        self.num_caches = len([c for c in (state.get("conv") or []) if c is not None])
        self.lstm = isinstance(state["rnn"], tuple)
        self.state_shapes = [tuple(t.shape) for t in flatten_state(state)]

    def initial_state(self) -> List[torch.Tensor]:
        """The state of a fresh stream (zeros, as the PyTorch streamer starts)."""
        return [torch.zeros(shape) for shape in self.state_shapes]

    def names(self) -> Tuple[List[str], List[str], Dict[str, Dict[int, str]]]:
        """Input names, output names and dynamic axes of the exported graph."""
        state = [f"state{i}" for i in range(len(self.state_shapes))]
        return ["frames", *state], ["out_frames", *[n + "_out" for n in state]], {"frames": {0: "count"}, "out_frames": {0: "count"}}

    def example(self, count: int, seed: int) -> Tuple[torch.Tensor, ...]:
        """Inputs for ``count`` frames (and a non-zero state) to trace and check with."""
        generator = torch.Generator().manual_seed(seed)
        frames = 0.05 * torch.randn(count, self.model.n_fft, generator=generator)
        return (frames, *[s + 0.1 for s in self.initial_state()])

    def metadata(self) -> Dict[str, Any]:
        """What a runtime needs around the graph: framing, window, state shapes."""
        model = self.model
        window = "sqrt_hann" if torch.allclose(model.window.square().sum(), torch.hann_window(model.n_fft).sum()) else "hann"
        return {"kind": self.kind, "n_fft": model.n_fft, "hop_length": model.hop_length, "window": window,
                "state_shapes": [list(s) for s in self.state_shapes]}

    def state_dict_of(self, flat: Tuple[torch.Tensor, ...]) -> Dict[str, Any]:
        caches: List[Any] = list(flat[: self.num_caches]) or [None] * self.conv_slots
        rest = flat[self.num_caches :]
        state = {"conv": caches, "rnn": (rest[0], rest[1]) if self.lstm else rest[0]}
        rest = rest[2 if self.lstm else 1 :]
        if self.has_history:
            state["history"], rest = rest[0], rest[1:]
        if self.has_norm:
            state["norm"] = (rest[0], rest[1])
        return state

    def forward(self, frames: torch.Tensor, *state: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        model = self.model
        real, imag = self.dft.analyse(frames.unsqueeze(0))  # [1, count, bins]
        given = self.state_dict_of(state)
        conv_outs, bottleneck, new_state = model.encode_frames(model.features_from(real, imag), given)
        out_re, out_im, new_state["history"] = model.filter_frames(real, imag, conv_outs, bottleneck, given.get("history"))
        out = self.dft.synthesise(out_re, out_im)[0]
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


class DemucsStreamSteps(nn.Module):
    """DemucsStreamer's network steps in one graph (see the module docstring)."""

    kind = "demucs"

    def __init__(self, model: Demucs):
        super().__init__()
        if not model.supports_streaming:
            raise UnsupportedForm("streaming export needs a causal DEMUCS with resample: 1 (causal: true)")
        self.model = model
        self.steps = DemucsStreamer(model)
        self.widths = [layer[2].out_channels // 2 for layer in model.encoder]
        self.decoder_ins = [layer[0].in_channels for layer in model.decoder]
        lstm = model.lstm.rnn
        self.state_shape = (lstm.num_layers, 1, lstm.hidden_size)

    def forward(self, *inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        depth = self.model.depth
        encoded = [self.model.encoder[level](inputs[level]) for level in range(depth)]
        y, (h, c) = self.model.lstm(inputs[depth].transpose(1, 2), (inputs[depth + 1], inputs[depth + 2]))
        upsampled = [self.steps.upsample(index, inputs[depth + 3 + index]) for index in range(depth)]
        return (*encoded, y.transpose(1, 2), h, c, *upsampled)

    def names(self) -> Tuple[List[str], List[str], Dict[str, Dict[int, str]]]:
        """Input names, output names and dynamic (time) axes of the exported graph."""
        depth = self.model.depth
        inputs = [f"enc{i}" for i in range(depth)] + ["lstm", "h", "c"] + [f"dec{i}" for i in range(depth)]
        outputs = [n + "_out" for n in inputs]
        dynamic = {n: {2: "time"} for n in inputs + outputs if n not in ("h", "c", "h_out", "c_out")}
        return inputs, outputs, dynamic

    def example(self, frames: int, seed: int) -> Tuple[torch.Tensor, ...]:
        """Inputs of ``frames`` frames for every step."""
        generator = torch.Generator().manual_seed(seed)
        model, widths = self.model, self.widths
        size = (frames - 1) * model.stride + model.kernel_size

        def rand(*shape: int) -> torch.Tensor:
            return 0.1 * torch.randn(*shape, generator=generator)

        encoder = [rand(1, c, size) for c in [1] + widths[:-1]]
        state = [rand(*self.state_shape), rand(*self.state_shape)]
        return (*encoder, rand(1, widths[-1], frames), *state, *[rand(1, c, frames) for c in self.decoder_ins])

    def metadata(self) -> Dict[str, Any]:
        """What a runtime needs around the steps: geometry, channel counts, biases, state shape."""
        model = self.model
        return {"kind": self.kind, "depth": model.depth, "kernel_size": model.kernel_size, "stride": model.stride,
                "floor": model.floor, "normalize": model.normalize, "skips": model.skips, "widths": self.widths,
                "decoder_ins": self.decoder_ins, "decoder_outs": [layer[2].out_channels for layer in model.decoder],
                "biases": [layer[2].bias.tolist() for layer in model.decoder],
                "relu": [len(layer) > 3 for layer in model.decoder], "state_shape": list(self.state_shape)}


def offline_graph(model: AbsSEModel) -> nn.Module:
    """The module exported as the offline form (see :func:`offline_contract`)."""
    if isinstance(model, STFTMaskModel):
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


def streaming_graph(model: AbsSEModel) -> nn.Module:
    """The module exported as the streaming form (causal TFMaskNet, BandGainGRU or DEMUCS)."""
    if isinstance(model, STFTMaskModel):
        return TFMaskFrameStep(model)
    if isinstance(model, Demucs):
        return DemucsStreamSteps(model)
    raise UnsupportedForm(f"{type(model).__name__} has no streaming form (causal TFMaskNet, BandGainGRU and DEMUCS have)")
