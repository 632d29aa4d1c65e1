"""Model as Loss: values, gradient routing per variant, the frozen copy, collapse guard."""
import copy

import numpy as np
import pytest
import torch

from helpers.audio import add_noise_rows
from loss_audio import NOISE_LEVELS, assert_monotone
from mal.losses import CombinedLoss, build_loss
from mal.losses.mal import ModelAsLoss
from mal.models import build_model


@pytest.fixture(scope="module")
def batch(utterances):
    """(noisy, clean): 8 different 0.5-s flite segments (4 voices x 2 sentences) at 5 dB SNR."""
    clean = torch.from_numpy(np.stack([u[6000:14000] for u in utterances.values()]))
    return add_noise_rows(clean, 5.0, seed=1), clean


@pytest.fixture(scope="module")
def warm_model(batch):
    """The tiny model after a short L1 warm-up (what MAL starts from)."""
    torch.manual_seed(0)
    model = build_model("tiny")
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    noisy, clean = batch
    for _ in range(30):
        opt.zero_grad()
        (model(noisy) - clean).abs().mean().backward()
        opt.step()
    return model


def attached(model, **conf):
    model = copy.deepcopy(model)
    loss = build_loss("mal", **conf)
    loss.attach(model)
    return model, loss


def grads(params):
    return [p.grad for p in params]


@pytest.mark.parametrize("variant", ["frozen", "frozen-fe", "dynamic"])
def test_zero_for_identical_and_grows_with_noise(warm_model, speech, variant):
    _, loss = attached(warm_model, variant=variant, layers="all")
    assert loss(speech, speech).item() == pytest.approx(0.0, abs=1e-7)
    assert_monotone([loss(add_noise_rows(speech, snr), speech).item() for snr in NOISE_LEVELS], f"mal {variant}")


@pytest.mark.parametrize("distance", ["l1", "l2", "cosine"])
@pytest.mark.parametrize("normalize", ["none", "layer", "instance"])
def test_every_distance_and_normalisation(warm_model, speech, distance, normalize):
    _, loss = attached(warm_model, layers="all", distance=distance, normalize=normalize)
    assert loss(speech, speech).item() == pytest.approx(0.0, abs=1e-5)
    assert_monotone([loss(add_noise_rows(speech, snr), speech).item() for snr in NOISE_LEVELS], f"mal {distance}/{normalize}")


def test_frozen_every_model_parameter_gets_a_gradient_the_copy_none(warm_model, batch):
    model, loss = attached(warm_model, variant="frozen")
    noisy, clean = batch
    loss(model(noisy), clean).backward()
    assert all(g is not None and g.abs().sum() > 0 for g in grads(model.parameters()))
    assert all(not p.requires_grad and p.grad is None for p in loss.frozen.parameters())


def test_frozen_fe_trains_only_the_decoder(warm_model, batch):
    model, loss = attached(warm_model, variant="frozen-fe")
    noisy, clean = batch
    loss(model(noisy), clean).backward()
    encoder = list(model.encoder_parameters())
    assert encoder and all(not p.requires_grad and p.grad is None for p in encoder)
    assert all(g is not None and g.abs().sum() > 0 for g in grads(model.decoder_parameters()))
    assert all(p.grad is None for p in loss.frozen.parameters())


def test_dynamic_no_gradient_through_the_clean_branch(warm_model, batch):
    model, loss = attached(warm_model, variant="dynamic", recon_weight=0.0, layers="all")
    noisy, clean = batch
    clean = clean.clone().requires_grad_()
    loss(model(noisy), clean).backward()
    assert clean.grad is None  # the clean branch ran under no_grad
    assert loss.frozen is None
    got = [p.grad.clone() for p in model.parameters()]
    # reference: the same loss with the clean features detached by hand
    model.zero_grad()
    est, ref = model.encode(model(noisy)), [f.detach() for f in model.encode(clean.detach())]
    sum((e - r).abs().mean() for e, r in zip(est, ref)).div(len(est)).backward()
    for g, p in zip(got, model.parameters()):
        torch.testing.assert_close(g, p.grad, rtol=1e-5, atol=1e-7)


def test_dynamic_default_guard_is_a_reconstruction_term(warm_model, batch):
    model, loss = attached(warm_model, variant="dynamic")
    assert loss.recon_weight > 0 and loss.recon is not None
    _, plain = attached(warm_model, variant="dynamic", recon_weight=0.0)
    noisy, clean = batch
    with torch.no_grad():
        enhanced = model(noisy)
        expected = plain(enhanced, clean) + loss.recon_weight * (enhanced - clean).abs().mean()
        assert loss(enhanced, clean).item() == pytest.approx(expected.item(), rel=1e-5)
    assert attached(warm_model, variant="frozen")[1].recon is None


def test_frozen_copy_does_not_change_while_the_model_trains(warm_model, batch):
    model, loss = attached(warm_model, variant="frozen", layers="all")
    before = {k: v.clone() for k, v in loss.frozen.state_dict().items()}
    start = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)
    loss.train()
    noisy, clean = batch
    for _ in range(5):
        opt.zero_grad()
        loss(model(noisy), clean).backward()
        opt.step()
    assert not loss.frozen.training
    for k, v in loss.frozen.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert any(not torch.equal(v, start[k]) for k, v in model.state_dict().items())


def test_frozen_copy_lives_in_the_criterion_only(warm_model):
    model, loss = attached(warm_model, variant="frozen")
    combined = CombinedLoss([{"name": "l1"}, {"name": "mal", "conf": {"variant": "frozen"}}])
    combined.attach(model)
    combined.train()
    mal = combined.losses[1]
    assert not mal.frozen.training
    assert set(model.state_dict()) == set(warm_model.state_dict())
    frozen_ids = {id(p) for p in mal.frozen.parameters()}
    assert not frozen_ids & {id(p) for p in model.parameters()}
    assert all(k.startswith("losses.1.frozen.") for k in combined.state_dict())


def test_resume_restores_the_warm_up_target(warm_model, batch):
    """attach() to the resumed model, then load the saved criterion state: the target is the warm-up copy."""
    model, loss = attached(warm_model, variant="frozen")
    saved = copy.deepcopy(loss.state_dict())
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    noisy, clean = batch
    for _ in range(3):
        opt.zero_grad()
        loss(model(noisy), clean).backward()
        opt.step()
    resumed = build_loss("mal", variant="frozen")
    resumed.attach(model)
    resumed.load_state_dict(saved)
    for k, v in warm_model.state_dict().items():
        assert torch.equal(resumed.frozen.state_dict()[k], v)


def test_one_concatenated_encoder_pass_for_frozen_variants(warm_model, batch, monkeypatch):
    noisy, clean = batch
    for variant in ("frozen", "frozen-fe"):
        model, loss = attached(warm_model, variant=variant, layers="all", concat_passes=True)
        calls = []
        encode = loss.frozen.encode
        monkeypatch.setattr(loss.frozen, "encode", lambda wav: calls.append(wav.shape[0]) or encode(wav))
        enhanced = model(noisy)
        est, ref = loss.features(enhanced, clean)
        assert calls == [2 * noisy.shape[0]]
        with torch.no_grad():
            for e, r, e1, r1 in zip(est, ref, encode(enhanced), encode(clean)):
                torch.testing.assert_close(e, e1, rtol=1e-4, atol=1e-6)
                torch.testing.assert_close(r, r1, rtol=1e-4, atol=1e-6)


def test_separate_passes_give_the_same_loss_and_gradients(warm_model, batch):
    """On CPU the default runs the clean batch apart (no_grad); it must not change the result."""
    noisy, clean = batch
    results = []
    for concat in (True, None):
        model, loss = attached(warm_model, variant="frozen", layers="all", normalize="instance", concat_passes=concat)
        value = loss(model(noisy), clean)
        value.backward()
        results.append((value.item(), [p.grad.clone() for p in model.parameters()]))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-6)


def test_layers_and_weights(warm_model, speech):
    noisy = add_noise_rows(speech, 5.0)
    _, last = attached(warm_model, layers=[-1])
    _, first = attached(warm_model, layers=[0])
    _, both = attached(warm_model, layers=[0, -1], layer_weights=[2.0, 3.0])
    assert both.resolved_layers == [0, 2] and last.resolved_layers == [2]
    expected = 2.0 * first(noisy, speech) + 3.0 * last(noisy, speech)
    assert both(noisy, speech).item() == pytest.approx(expected.item(), rel=1e-5)
    _, every = attached(warm_model, layers="all")
    assert every.resolved_layers == [0, 1, 2]


def test_configuration_errors(warm_model, speech):
    with pytest.raises(ValueError, match=r"layer index 5 is out of range: .* 3 feature tensors"):
        attached(warm_model, layers=[5])
    with pytest.raises(ValueError, match="2 layer_weights for 1 layers"):
        attached(warm_model, layers=[-1], layer_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="layers must be 'all'"):
        build_loss("mal", layers="bottleneck")
    for key, value in (("variant", "frozen_fe"), ("distance", "kl"), ("normalize", "batch"), ("recon_loss", "mal")):
        with pytest.raises(ValueError, match=f"unknown {key} '{value}'"):
            build_loss("mal", **{key: value})
    with pytest.raises(RuntimeError, match="attach"):
        ModelAsLoss()(speech, speech)


def test_dynamic_mal_does_not_collapse_the_encoder_with_the_guard(warm_model, batch):
    """50 steps of dynamic MAL: the bottleneck features of 8 different inputs stay spread out,
    and the reconstruction guard keeps the output at least as close to clean as at the start."""
    noisy, clean = batch

    def spread(model):
        with torch.no_grad():
            return model.encode(noisy)[-1].std(dim=0).mean().item()

    def l1(model):
        with torch.no_grad():
            return (model(noisy) - clean).abs().mean().item()

    results = {}
    for guard in (None, 0.0):  # default guard, and none
        torch.manual_seed(0)
        model, loss = attached(warm_model, variant="dynamic", layers="all", recon_weight=guard)
        opt = torch.optim.Adam(model.parameters(), 3e-3)
        start_spread, start_l1 = spread(model), l1(model)
        for _ in range(50):
            opt.zero_grad()
            loss(model(noisy), clean).backward()
            opt.step()
        results[guard] = (spread(model), l1(model))
    guarded_spread, guarded_l1 = results[None]
    assert guarded_spread > 0.5 * start_spread
    assert guarded_l1 < start_l1
    assert guarded_l1 < results[0.0][1]  # without the guard the output drifts further from clean


@pytest.mark.parametrize("name", ["demucs", "tfmask"])
def test_gradient_routing_on_the_real_models(name, batch):
    """The same routing on the recipe models (default sizes, 2 x 0.5 s)."""
    noisy, clean = batch[0][:2], batch[1][:2]
    torch.manual_seed(0)
    base = build_model(name)
    for variant in ("frozen", "frozen-fe", "dynamic"):
        model, loss = attached(base, variant=variant, layers="all")
        loss(model(noisy), clean).backward()
        encoder = {id(p) for p in model.encoder_parameters()}
        for p in model.parameters():
            if variant == "frozen-fe" and id(p) in encoder:
                assert not p.requires_grad and p.grad is None
            else:
                assert p.grad is not None and torch.isfinite(p.grad).all(), (name, variant)
        if loss.frozen is not None:
            assert all(p.grad is None for p in loss.frozen.parameters())
