"""Mixed precision for the training loop, on any device type torch autocasts.

``MixedPrecision`` holds the autocast dtype and the GradScaler (on for float16 only). bfloat16
is used only where the GPU computes it natively: where it would be emulated (before Ampere) the
run uses float16 with a scaler instead, and says so. ``StepOutcome`` tells the scaler's normal
overflow skips (gradients of a finite loss that overflowed at a loss scale above 1: the scaler
halves the scale and the step is retried on the next batch) from real non-finite losses and
gradients, which count toward ``train.nan_tolerance``.
"""
from __future__ import annotations

import contextlib
import enum
import logging
from typing import ContextManager, Iterator, Optional

import torch

logger = logging.getLogger("mal.train")

#: Device types whose training runs under autocast when ``train.amp`` is on.
AMP_DEVICE_TYPES = ("cuda",)
#: The GradScaler's first loss scale (torch's default).
INIT_SCALE = 2.0**16


class StepOutcome(enum.Enum):
    OK = "ok"
    OVERFLOW = "overflow"  # the GradScaler's own skip: not a numerical problem of the run
    NONFINITE = "nonfinite"


def native_bf16(device: torch.device) -> bool:
    """True when ``device`` computes bfloat16 natively (CUDA: compute capability 8.0 or newer)."""
    if device.type != "cuda":
        return True
    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


class MixedPrecision:
    """Autocast and GradScaler of one run: ``enabled`` on a device type in ``AMP_DEVICE_TYPES``."""

    def __init__(self, device: torch.device, amp: bool, dtype: torch.dtype):
        self.device_type = device.type
        self.enabled = bool(amp and device.type in AMP_DEVICE_TYPES)
        if self.enabled and dtype == torch.bfloat16 and not native_bf16(device):
            logger.warning("train.amp_dtype=bfloat16 is emulated on %s (no native bf16): using float16 with a GradScaler",
                           torch.cuda.get_device_name(device))
            dtype = torch.float16
        self.dtype = dtype
        self.scaler = torch.amp.GradScaler(device.type, init_scale=INIT_SCALE, enabled=self.enabled and dtype == torch.float16)
        if amp and not self.enabled:
            logger.info("train.amp ignored: mixed precision is used on %s only", ", ".join(AMP_DEVICE_TYPES))

    def autocast(self) -> ContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def outcome(self, loss_ok: bool, grad_ok: bool) -> StepOutcome:
        """Classify a step, before ``scaler.update()`` (which changes the scale)."""
        if loss_ok and grad_ok:
            return StepOutcome.OK
        if loss_ok and self.scaler.is_enabled() and self.scaler.get_scale() > 1.0:
            return StepOutcome.OVERFLOW
        return StepOutcome.NONFINITE


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool) -> Iterator[None]:
    """cuDNN autotuning inside the block when ``enabled`` (worth it for fixed training segments;
    validation utterances of many lengths would each be tuned again); restored on exit."""
    previous: Optional[bool] = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = bool(enabled)
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous
