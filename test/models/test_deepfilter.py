"""DeepFilterNet: the deep filter reads past frames of the low bins, the ERB gains the rest; it
starts as (nearly) the identity, streams as it runs offline and refuses bad configurations."""
from __future__ import annotations

import pytest
import torch

from helpers.model_cases import assert_streams_as_offline, noisy_pair, randomize_mask_head, speech_like
from mal.models import build_model

SMALL = {"num_bands": 16, "df_bins": 32, "df_order": 3, "channels": 4, "hidden": 16, "rnn_layers": 1}


def test_an_untrained_model_passes_the_input_nearly_through():
    torch.manual_seed(0)
    model = build_model("dfnet").eval()
    x = speech_like(1.0)[None]
    with torch.no_grad():
        y = model(x)
    torch.testing.assert_close(y, 0.98 * x, atol=2e-3, rtol=0)


def test_the_deep_filter_reaches_back_into_past_frames_of_the_low_bins_only():
    """Taps set by hand: the low bins become the previous frame's (tap 1 = 1), the others keep
    the ERB gain; so the low band of the output is the input's one hop later and the rest is not."""
    torch.manual_seed(0)
    model = build_model("dfnet", **SMALL).eval()
    bins = model.n_fft // 2 + 1
    x = noisy_pair(1.0, seed=1)[0][None]
    spec = model.stft(x).transpose(1, 2)
    with torch.no_grad():
        outs, bottleneck, _ = model.encode_frames(model.features_from(spec.real, spec.imag))
        model.df_head.bias.zero_()
        model.df_head.bias[1] = 10.0  # tap 1, real part: tanh saturates, times df_bound
        real, imag, history = model.filter_frames(spec.real, spec.imag, outs, bottleneck)
    low, bound = model.df_bins, model.df_bound
    torch.testing.assert_close(real[:, 1:, :low], bound * spec.real[:, :-1, :low], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(imag[:, 1:, :low], bound * spec.imag[:, :-1, :low], atol=1e-4, rtol=1e-4)
    assert real[:, 0, :low].abs().max() == 0  # nothing before the first frame
    mask = model.decode_frames(outs, bottleneck)[0]
    torch.testing.assert_close(real[..., low:], spec.real[..., low:] * mask[..., low:])
    assert real.shape[-1] == bins
    # the history a next block needs: the last df_order - 1 frames' low bins
    torch.testing.assert_close(history, torch.cat([spec.real[:, -2:, :low], spec.imag[:, -2:, :low]], dim=-1))


@pytest.mark.parametrize("block", [1, 100, 128, 1000, 7777])
def test_streams_as_it_runs_offline(block):
    torch.manual_seed(0)
    model = build_model("dfnet", **SMALL).eval()
    randomize_mask_head(model, seed=3)
    x = noisy_pair(1.0, seed=2)[0]
    assert_streams_as_offline(model, x, block)


def test_the_streamer_carries_the_filter_history():
    """Two blocks: the second block's first frames need the first block's last frames."""
    torch.manual_seed(0)
    model = build_model("dfnet", **SMALL).eval()
    randomize_mask_head(model, seed=4)
    spec = model.stft(noisy_pair(0.5, seed=5)[0][None]).transpose(1, 2)
    with torch.no_grad():
        whole, _ = model.stream_spec(spec.clone(), None)
        first, state = model.stream_spec(spec[:, :10].clone(), None)
        second, _ = model.stream_spec(spec[:, 10:].clone(), state)
        forgot, _ = model.stream_spec(spec[:, 10:].clone(), {"rnn": state["rnn"]})
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=1e-5, rtol=1e-5)
    assert (forgot[:, :2] - whole[:, 10:12]).abs().max() > 1e-4
    with pytest.raises(NotImplementedError, match="stream_spec"):
        model.stream_frames(spec, None)


@pytest.mark.parametrize("conf, message", [
    ({"num_bands": 30}, "divisible by 4"),
    ({"df_bins": 95}, "even df_bins"),
    ({"n_fft": 128, "df_bins": 96}, "even df_bins"),
    ({"df_order": 0}, "integers >= 1"),
    ({"df_bound": 0.0}, "df_bound"),
])
def test_bad_configurations_are_refused(conf, message):
    with pytest.raises(ValueError, match=message):
        build_model("dfnet", **conf)


def test_default_size_and_latency():
    model = build_model("dfnet")
    assert model.causal and model.algorithmic_latency == 511
    assert 0.3e6 < sum(p.numel() for p in model.parameters()) < 0.6e6
