"""The AbsSEModel contract, checked on small Demucs, TFMaskNet, BandGainGRU, DualPathMaskNet and DeepFilterNet configurations."""
from __future__ import annotations

import pytest
import torch
import yaml

from helpers.model_cases import OVERFIT_CONFIGS, SMALL_CONFIGS, case_id, noisy_pair, randomize_mask_head, speech_like
from mal.models import AbsSEModel, build_model
from mal.models.checkpoint import load_checkpoint, model_record, save_checkpoint
from mal.models.pretrained import model_from_state

CASES = pytest.mark.parametrize("case", SMALL_CONFIGS, ids=[case_id(c) for c in SMALL_CONFIGS])


def make(case, seed: int = 0) -> AbsSEModel:
    torch.manual_seed(seed)
    name, conf = case
    model = build_model(name, **conf).eval()
    if name in ("tfmask", "bandgru", "dpcrn", "dfnet"):
        randomize_mask_head(model, seed=seed)
    return model


@CASES
@pytest.mark.parametrize("length", [1, 777, 4001])
def test_output_has_input_shape_for_odd_lengths(case, length):
    model = make(case)
    x = torch.randn(2, length) * 0.1
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, length)
    assert torch.isfinite(y).all()


@CASES
def test_encode_lists_layers_with_bottleneck_last(case):
    name, conf = case
    model = make(case)
    x = torch.randn(3, 3000) * 0.1
    with torch.no_grad():
        feats = model.encode(x)
    if name == "bandgru":  # the dense layer, then each GRU layer
        layers = conf.get("rnn_layers", 3)
    elif name == "dfnet":  # three ERB conv maps, two deep-filter conv maps
        layers = 5
    else:
        layers = conf.get("depth", 4) if name == "demucs" else len(conf.get("channels", [8, 16, 32]))
    assert isinstance(feats, list) and len(feats) == layers + 1
    assert all(f.shape[0] == 3 for f in feats)
    bottleneck = feats[-1]
    if name == "dpcrn":  # the dual-path blocks keep the last conv's map [B, C, frames, bands]
        assert bottleneck.shape == feats[-2].shape
        return
    assert bottleneck.dim() == 3  # [B, H, frames]: the recurrent output
    hidden = conf.get("rnn_hidden") if name == "tfmask" else None
    if hidden:
        assert bottleneck.shape[1] == hidden
    if name == "demucs":  # the LSTM runs over the deepest conv frames
        assert bottleneck.shape[-1] == feats[-2].shape[-1]
    else:
        assert bottleneck.shape[-1] == feats[-2].shape[2]


@CASES
def test_forward_equals_decode_of_encode(case):
    model = make(case)
    x = torch.randn(2, 5000) * 0.1
    with torch.no_grad():
        assert torch.equal(model(x), model.decode(model.encode(x), x))


@CASES
def test_batch_items_are_independent(case):
    model = make(case)
    x = torch.stack([speech_like(0.5, seed=1), 0.01 * torch.randn(8000)])
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(2)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


@CASES
def test_encoder_and_decoder_parameters_partition_parameters(case):
    model = make(case)
    enc = [id(p) for p in model.encoder_parameters()]
    dec = [id(p) for p in model.decoder_parameters()]
    everything = [id(p) for p in model.parameters()]
    assert enc and dec
    assert not set(enc) & set(dec)
    assert sorted(enc + dec) == sorted(everything)
    # the encoder modules are exactly what produces encode()'s features: perturbing a
    # decoder parameter leaves the features unchanged
    x = torch.randn(1, 3000) * 0.1
    with torch.no_grad():
        before = model.encode(x)
        for p in model.decoder_parameters():
            p.add_(0.5)
        after = model.encode(x)
    assert all(torch.equal(a, b) for a, b in zip(before, after))


@CASES
def test_causality(case):
    """Causal: output before t - latency ignores input after t. Non-causal: it does not."""
    model = make(case)
    noisy, _ = noisy_pair(1.0, seed=3)
    t = 9000
    changed = noisy.clone()
    changed[t:] = torch.randn(len(noisy) - t, generator=torch.Generator().manual_seed(9)) * 0.3
    with torch.no_grad():
        a, b = model(noisy[None])[0], model(changed[None])[0]
    if model.causal:
        cut = t - model.algorithmic_latency
        assert 0 < cut < t
        torch.testing.assert_close(a[:cut], b[:cut], atol=1e-6, rtol=0)
        assert (a[t:] - b[t:]).abs().max() > 1e-3  # the change does reach the output
    else:
        assert model.algorithmic_latency is None
        assert (a[: t - 300] - b[: t - 300]).abs().max() > 1e-6  # global std / backward RNN


def test_build_from_registry_with_yaml_kwargs():
    conf = yaml.safe_load(
        """
        tfmask: {n_fft: 256, hop_length: 64, channels: [4, 8], rnn_hidden: 16, rnn_type: lstm,
                 features: [compressed, log], causal: true, skips: false, mask_bound: 1.5}
        demucs: {hidden: 4, depth: 2, growth: 1.5, max_hidden: 5, lstm_layers: 1, causal: true,
                 skips: false, resample: 2, normalize: true, floor: 1.0e-3}
        """
    )
    for name, kwargs in conf.items():
        model = build_model(name, **kwargs)
        assert isinstance(model, AbsSEModel)
        assert model.causal and not model.skips
    with pytest.raises(TypeError, match="tfmask"):
        build_model("tfmask", no_such_option=1)
    with pytest.raises(ValueError, match="features"):
        build_model("tfmask", features=["mel"])
    with pytest.raises(ValueError, match="resample"):
        build_model("demucs", resample=3)


@CASES
def test_checkpoint_round_trip(case, tmp_path):
    name, conf = case
    model = make(case, seed=5)
    path = tmp_path / "model.pth"
    save_checkpoint(path, {"model": model_record(model, name, conf)})
    rebuilt = model_from_state(load_checkpoint(path), str(path)).eval()
    assert type(rebuilt) is type(model)
    x = torch.randn(1, 4000) * 0.1
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


@pytest.mark.parametrize("case", OVERFIT_CONFIGS, ids=case_id)
def test_a_few_adam_steps_overfit_one_pair(case):
    torch.manual_seed(0)
    name, conf = case
    model = build_model(name, **conf).train()
    noisy, clean = noisy_pair(1.0, snr_db=0.0, seed=7)
    noisy, clean = noisy[None], clean[None]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = (model(noisy) - clean).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        final = (model(noisy) - clean).abs().mean().item()
    passthrough = (noisy - clean).abs().mean().item()
    assert final < 0.6 * min(losses[0], passthrough), (losses[0], passthrough, final)


@pytest.mark.parametrize("case", [SMALL_CONFIGS[1], SMALL_CONFIGS[5], SMALL_CONFIGS[6]], ids=case_id)
def test_trains_under_cpu_autocast(case):
    """The trainer's ``amp: true``: forward and backward under bfloat16 autocast."""
    model = make(case).train()
    x = noisy_pair(0.5, seed=2)[0][None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
        feats = model.encode(y)
    assert y.shape == x.shape and y.dtype == torch.float32
    (y - x).abs().mean().add(sum(f.float().abs().mean() for f in feats)).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
