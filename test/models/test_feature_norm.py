"""CausalMeanNorm and TFMaskNet's ``log_norm`` feature: the block closed form is the recurrence,
a stream continues where it stopped, stationary noise of any colour normalises to about zero,
and the model streams (also exported) as it runs offline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.model_cases import assert_streams_as_offline, noisy_pair, randomize_mask_head
from mal.bin.export import main as export_main
from mal.export.runtime import OnnxOffline, exported_streamer
from mal.models import build_model
from mal.models.checkpoint import model_record, save_checkpoint
from mal.models.feature_norm import CausalMeanNorm

SMALL = {"channels": [4, 8], "rnn_hidden": 16, "causal": True, "features": ["compressed", "log_norm"], "log_floor": 1e-4}


def recurrence(x: torch.Tensor, decay: float) -> torch.Tensor:
    """The normaliser frame by frame, as its docstring defines it."""
    total, weight, out = torch.zeros_like(x[:, :, 0]), 0.0, []
    for t in range(x.shape[2]):
        total = decay * total + (1 - decay) * x[:, :, t]
        weight = decay * weight + (1 - decay)
        out.append(x[:, :, t] - total / weight)
    return torch.stack(out, dim=2)


@pytest.mark.parametrize("frames", [1, 15, 16, 17, 70])
def test_the_block_closed_form_is_the_recurrence(frames):
    norm = CausalMeanNorm(12.0, block=16)
    x = torch.randn(2, 1, frames, 5, generator=torch.Generator().manual_seed(frames))
    torch.testing.assert_close(norm(x)[0], recurrence(x, norm.decay), atol=1e-5, rtol=0)


def test_a_stream_continues_where_it_stopped():
    norm = CausalMeanNorm(30.0, block=8)
    x = torch.randn(1, 1, 50, 3, generator=torch.Generator().manual_seed(1))
    whole, _ = norm(x)
    state, parts = None, []
    for start, stop in [(0, 1), (1, 9), (9, 9), (9, 31), (31, 50)]:
        part, state = norm(x[:, :, start:stop], state)
        parts.append(part)
    torch.testing.assert_close(torch.cat(parts, dim=2), whole, atol=1e-5, rtol=0)


def test_stationary_noise_of_any_colour_ends_near_zero_and_a_level_step_shows():
    """Each bin's constant level is removed (after a few time constants); a later 20 dB rise
    stands out by about its size at first."""
    norm = CausalMeanNorm(10.0)
    levels = torch.linspace(-8.0, 2.0, 9)  # log magnitudes of a strongly coloured floor
    x = levels.view(1, 1, 1, -1).repeat(1, 1, 200, 1)
    x[:, :, 150:] += np.log(10.0)
    y, _ = norm(x)
    assert y[:, :, 100:150].abs().max() < 1e-4
    torch.testing.assert_close(y[0, 0, 150], torch.full((9,), np.log(10.0) * np.exp(-0.1)), atol=1e-3, rtol=0)


def test_refuses_a_bad_time_constant_and_repeated_features():
    with pytest.raises(ValueError, match="time constant"):
        CausalMeanNorm(0.0)
    with pytest.raises(ValueError, match="repeat"):
        build_model("tfmask", features=["log_norm", "log_norm"])


@pytest.mark.parametrize("block", [1, 128, 1000, 7777])
def test_a_log_norm_model_streams_as_it_runs_offline(block):
    torch.manual_seed(0)
    model = build_model("tfmask", **SMALL).eval()
    randomize_mask_head(model, seed=3)
    assert_streams_as_offline(model, noisy_pair(1.0, seed=2)[0], block)


def test_the_model_sees_the_log_magnitude_relative_to_its_running_mean():
    """The encoder's second input channel is log(|X| + floor) minus the recurrence's mean: a
    signal and the same signal 20 dB louder give the same normalised channel after the start."""
    torch.manual_seed(0)
    model = build_model("tfmask", **SMALL).eval()
    x = noisy_pair(2.0, seed=5)[0][None]
    seen = []
    model.encoder[0].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    with torch.no_grad():
        feats = model.features(model.stft(x))
        model(x)
        model(10 * x)
    torch.testing.assert_close(seen[0][:, 0], feats[:, 0])
    torch.testing.assert_close(seen[0][:, 1:], recurrence(feats[:, 1:], model.norm.decay), atol=1e-4, rtol=0)
    level_free = (seen[1][:, 1] - seen[0][:, 1]).abs() < 0.05  # but for bins near the log floor
    assert level_free.float().mean() > 0.99
    moved = [(seen[1][:, c] - seen[0][:, c]).abs().mean() for c in (0, 1)]
    assert moved[0] > 10 * moved[1]  # the compressed channel is not level-free


@pytest.mark.parametrize("torchscript", [False, True])
def test_exports_both_forms_and_they_run_as_pytorch(tmp_path, torchscript):
    """The offline graph holds the normaliser as a loop over frames, so it takes any length."""
    torch.manual_seed(0)
    model = build_model("tfmask", **SMALL).eval()
    randomize_mask_head(model, seed=7)
    path = tmp_path / "norm.pth"
    save_checkpoint(path, {"model": model_record(model, "tfmask", SMALL)})
    out = tmp_path / "out"
    assert export_main(["--model", str(path), "--out-dir", str(out), "--length-seconds", "0.3"] + ["--torchscript"] * torchscript) == 0
    assert model.norm.frame_loop is False  # the export changed a copy
    x = (0.05 * np.random.default_rng(3).standard_normal((1, 9000))).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x))[0].numpy()
    offline = OnnxOffline(out / "norm.onnx", norm_rms=None)
    np.testing.assert_allclose(offline.run(x)[0], want, atol=1e-4, rtol=0)
    with torch.no_grad():
        short = model(torch.from_numpy(x[:, :2001]))[0].numpy()
    np.testing.assert_allclose(offline.run(x[:, :2001])[0], short, atol=1e-4, rtol=0)
    names = ["norm.stream.onnx"] + ["norm.stream.ts.pt"] * torchscript
    for name in names:
        got = exported_streamer(out / name).run(x[0], 333, norm_rms=None)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0, err_msg=name)
