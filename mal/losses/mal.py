"""Model as Loss (MAL): the enhancement model's own encoder is the training criterion.

After a warm-up with conventional losses, the model is fine-tuned to make the encoder
features of its output match those of the clean speech::

    loss = sum_l w_l * distance(E_l(enhanced), E_l(clean))   [+ recon_weight * recon(enhanced, clean)]

Variants (``variant``):

- ``frozen``: ``E`` is a frozen copy of the model taken at ``attach`` (after warm-up); the
  whole live model trains.
- ``frozen-fe``: as ``frozen``, and the live model's encoder is frozen too (its parameters get
  ``requires_grad=False``), so only the decoder trains.
- ``dynamic``: ``E`` is the live encoder, which keeps training; the clean branch runs under
  ``torch.no_grad`` (a stop-gradient target). A reconstruction term (``recon_weight``, on by
  default for this variant) keeps the encoder from collapsing to a constant, which would make
  the feature distance trivially zero.

The frozen copy lives inside this criterion (like DeepFilterNet's frozen ASR encoder inside
its loss): it is not in the model's ``state_dict`` nor in the optimiser, it stays in eval mode
when the trainer calls ``.train()``, and it follows the criterion in ``.to(device)``. It *is*
in the criterion's ``state_dict`` (key prefix ``frozen.``). To resume a MAL run, either attach
to the warm-up weights again (``mal.train.trainer`` keeps them as ``attach_state``) or call
``attach(model)`` and then ``load_state_dict`` with the saved criterion state: either way the
target stays the warm-up encoder rather than the resumed model.

Features follow the ``AbsSEModel.encode`` convention: one tensor per layer, ``[B, C, ...]``
with channels in dim 1, bottleneck last.
"""
from __future__ import annotations

import copy
from typing import List, Optional, Sequence, Union

import torch
from torch.nn import functional as F

from mal.losses.abs_loss import AbsLoss
from mal.losses.time import check_pair
from mal.models.abs_model import AbsSEModel

VARIANTS = ("frozen", "frozen-fe", "dynamic")
DISTANCES = ("l1", "l2", "cosine")
NORMALIZATIONS = ("none", "layer", "instance")
RECON_LOSSES = ("l1", "sisdr", "mrstft")
#: reconstruction weight used by the dynamic variant unless ``recon_weight`` is given
DYNAMIC_RECON_WEIGHT = 1.0
_NORM_EPS = 1e-5

Layers = Union[str, int, Sequence[int]]


def check_choice(value: str, choices: Sequence[str], what: str, who: str) -> str:
    if value not in choices:
        raise ValueError(f"{who}: unknown {what} '{value}'; choose one of: {', '.join(choices)}")
    return value


def parse_layers(layers: Layers, who: str) -> Union[str, List[int]]:
    """``"all"``, one index, or a list of indices (negative ones count from the bottleneck)."""
    if layers == "all":
        return "all"
    if isinstance(layers, int):
        return [layers]
    if isinstance(layers, str) or not all(isinstance(i, int) for i in layers) or not layers:
        raise ValueError(f"{who}: layers must be 'all' or a non-empty list of integer indices, got {layers!r}")
    return [int(i) for i in layers]


def resolve_layers(layers: Union[str, List[int]], num_layers: int, who: str) -> List[int]:
    """Indices into a list of ``num_layers`` features, negative ones made positive."""
    if layers == "all":
        return list(range(num_layers))
    resolved = []
    for i in layers:
        if not -num_layers <= i < num_layers:
            raise ValueError(
                f"{who}: layer index {i} is out of range: the network returns {num_layers} feature "
                f"tensors (valid indices {-num_layers}..{num_layers - 1})"
            )
        resolved.append(i % num_layers)
    return resolved


def normalize_pair(est: torch.Tensor, ref: torch.Tensor, how: str) -> tuple:
    """Standardise both features with the clean (reference) feature's statistics.

    ``layer``: one mean/std per utterance over all its feature values; ``instance``: one per
    utterance and channel (dim 1), over the remaining dims. Using the reference's statistics
    for both keeps the loss sensitive to the enhanced feature's level, balances layers (or
    channels) of different scales, and means shrinking all features does not lower the loss.
    """
    if how == "none":
        return est, ref
    if how == "instance" and ref.dim() < 3:
        raise ValueError(f"instance normalisation needs [B, C, ...] features with a time axis, got {tuple(ref.shape)}")
    dims = tuple(range(1, ref.dim())) if how == "layer" else tuple(range(2, ref.dim()))
    ref = ref.float()
    mean = ref.mean(dims, keepdim=True)
    std = ref.std(dims, keepdim=True, unbiased=False) + _NORM_EPS
    return (est.float() - mean) / std, (ref - mean) / std


def feature_distance(est: torch.Tensor, ref: torch.Tensor, distance: str) -> torch.Tensor:
    """Mean ``l1``/``l2`` difference, or ``cosine``: 1 - cosine similarity over channels (dim 1)."""
    if distance == "l1":
        return (est - ref).abs().mean()
    if distance == "l2":
        return (est - ref).pow(2).mean()
    return 1.0 - F.cosine_similarity(est, ref, dim=1, eps=1e-8).mean()


def layered_distance(
    est: List[torch.Tensor],
    ref: List[torch.Tensor],
    layers: List[int],
    weights: List[float],
    distance: str,
    normalize: str,
) -> torch.Tensor:
    """``sum_l w_l * distance(normalize(est_l, ref_l))`` over the chosen layers."""
    total = est[layers[0]].new_zeros((), dtype=torch.float32)
    for index, weight in zip(layers, weights):
        if est[index].shape != ref[index].shape:
            raise ValueError(f"layer {index}: enhanced and clean features differ in shape: {tuple(est[index].shape)} vs {tuple(ref[index].shape)}")
        e, r = normalize_pair(est[index], ref[index], normalize)
        total = total + weight * feature_distance(e, r, distance)
    return total


def layer_weights_for(layers: List[int], layer_weights: Optional[Sequence[float]], who: str) -> List[float]:
    """Given weights as they are, else ``1 / len(layers)`` each (the mean over layers)."""
    if layer_weights is None:
        return [1.0 / len(layers)] * len(layers)
    if len(layer_weights) != len(layers):
        raise ValueError(f"{who}: {len(layer_weights)} layer_weights for {len(layers)} layers {layers}")
    return [float(w) for w in layer_weights]


class ModelAsLoss(AbsLoss):
    """The MAL criterion; ``variant``/``layers``/``distance``/... are kept as attributes."""

    def __init__(
        self,
        variant: str = "frozen",
        layers: Layers = (-1,),
        layer_weights: Optional[Sequence[float]] = None,
        distance: str = "l1",
        normalize: str = "none",
        recon_weight: Optional[float] = None,
        recon_loss: str = "l1",
        recon_conf: Optional[dict] = None,
        concat_passes: Optional[bool] = None,
    ):
        """``recon_weight=None`` means 0 for the frozen variants, ``DYNAMIC_RECON_WEIGHT`` for dynamic.

        ``recon_loss``/``recon_conf`` name a waveform criterion of the registry (l1, sisdr,
        mrstft) used for the reconstruction term.

        ``concat_passes`` (frozen variants): True runs enhanced and clean through the frozen
        encoder as one concatenated batch; False runs the clean batch separately under
        ``no_grad``, which skips the backward through the clean half. None (default) picks the
        concatenated pass on CUDA and separate passes on CPU, where they are faster per MAL step
        (bench/train_speed.py; measured in bench/README.md, "Numbers the code refers to"). The dynamic
        variant always uses separate passes (its clean pass must not build a graph).
        """
        super().__init__()
        self.variant = check_choice(variant, VARIANTS, "variant", "mal")
        self.layers = parse_layers(layers, "mal")
        self.layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]
        self.distance = check_choice(distance, DISTANCES, "distance", "mal")
        self.normalize = check_choice(normalize, NORMALIZATIONS, "normalize", "mal")
        if recon_weight is None:
            recon_weight = DYNAMIC_RECON_WEIGHT if variant == "dynamic" else 0.0
        if recon_weight < 0:
            raise ValueError(f"mal: recon_weight must be >= 0, got {recon_weight}")
        self.recon_weight = float(recon_weight)
        self.recon_loss = check_choice(recon_loss, RECON_LOSSES, "recon_loss", "mal")
        self.concat_passes = concat_passes
        self.recon: Optional[AbsLoss] = None
        if self.recon_weight > 0:
            from mal.losses import build_loss

            self.recon = build_loss(recon_loss, **(recon_conf or {}))
        self.frozen: Optional[AbsSEModel] = None
        self._resolved: List[int] = []
        self._weights: List[float] = []
        object.__setattr__(self, "_model", None)  # the live model: referenced, not registered

    @property
    def resolved_layers(self) -> List[int]:
        """Non-negative layer indices in use (known after ``attach``)."""
        return list(self._resolved)

    def attach(self, model: AbsSEModel) -> None:
        """Bind to the (warmed-up) model: check the layers, snapshot/freeze per the variant."""
        if not isinstance(model, AbsSEModel):
            raise TypeError(f"mal: attach() needs an AbsSEModel (pass the model, not a DDP wrapper), got {type(model).__name__}")
        object.__setattr__(self, "_model", model)
        self._resolved = resolve_layers(self.layers, count_encoder_layers(model), "mal")
        self._weights = layer_weights_for(self._resolved, self.layer_weights, "mal")
        self.frozen = None
        if self.variant in ("frozen", "frozen-fe"):
            frozen = copy.deepcopy(model)
            for p in frozen.parameters():
                p.requires_grad_(False)
                p.grad = None
            self.frozen = frozen.eval()
        if self.variant == "frozen-fe":
            for p in model.encoder_parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> "ModelAsLoss":
        super().train(mode)
        if self.frozen is not None:
            self.frozen.eval()
        return self

    def features(self, enhanced: torch.Tensor, clean: torch.Tensor) -> tuple:
        """Encoder features of (enhanced, clean); only the enhanced ones carry gradients."""
        if self._model is None:
            raise RuntimeError("mal: call attach(model) before computing the loss")
        encoder = self.frozen if self.frozen is not None else self._model
        concat = self.concat_passes if self.concat_passes is not None else enhanced.is_cuda
        if self.frozen is not None and concat:
            feats = encoder.encode(torch.cat([enhanced, clean.detach()], dim=0))
            batch = enhanced.shape[0]
            return [f[:batch] for f in feats], [f[batch:].detach() for f in feats]
        with torch.no_grad():
            ref = encoder.encode(clean)
        return encoder.encode(enhanced), ref

    def forward(self, enhanced: torch.Tensor, clean: torch.Tensor, noisy: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_pair(enhanced, clean, "mal")
        est, ref = self.features(enhanced, clean)
        loss = layered_distance(est, ref, self._resolved, self._weights, self.distance, self.normalize)
        if self.recon is not None:
            loss = loss + self.recon_weight * self.recon(enhanced, clean, noisy)
        return loss

    def extra_repr(self) -> str:
        return (
            f"variant={self.variant}, layers={self.layers}, distance={self.distance}, "
            f"normalize={self.normalize}, recon_weight={self.recon_weight}, recon_loss={self.recon_loss}"
        )


def count_encoder_layers(model: AbsSEModel) -> int:
    """How many feature tensors ``model.encode`` returns (one short silent probe, no grad)."""
    was_training = model.training
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    probe = torch.zeros(1, model.valid_length(max(1, model.sample_rate // 10)), device=device)
    try:
        model.eval()
        with torch.no_grad():
            return len(model.encode(probe))
    finally:
        model.train(was_training)
