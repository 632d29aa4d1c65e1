"""Deep-feature baseline: tiny WavLM / wav2vec2 checkpoints written here, and the shipped GE2E weights."""
import pytest
import torch

from helpers.audio import add_noise_rows
from loss_audio import NOISE_LEVELS, assert_monotone
from mal.losses import CombinedLoss, build_loss
from mal.losses.deep_feature import DeepFeatureLoss

TINY = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(16, 16, 16),
    conv_stride=(5, 4, 4),
    conv_kernel=(10, 4, 4),
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{"wavlm": dir, "wav2vec2": dir} of tiny randomly initialised models, and the saved weights."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel

    root = tmp_path_factory.mktemp("ssl")
    torch.manual_seed(0)
    saved = {}
    for name, config, cls in (("wavlm", WavLMConfig, WavLMModel), ("wav2vec2", Wav2Vec2Config, Wav2Vec2Model)):
        model = cls(config(**TINY))
        model.save_pretrained(root / name)
        saved[name] = (root / name, {k: v.clone() for k, v in model.state_dict().items()})
    return saved


def networks(checkpoints):
    yield "wavlm", str(checkpoints["wavlm"][0])
    yield "wav2vec2", str(checkpoints["wav2vec2"][0])
    yield "ge2e", None


def test_ssl_checkpoints_load_their_saved_weights(checkpoints):
    for name in ("wavlm", "wav2vec2"):
        path, weights = checkpoints[name]
        loss = DeepFeatureLoss(network=name, checkpoint=str(path))
        loaded = loss.network.model.state_dict()
        assert set(loaded) == set(weights)
        assert all(torch.equal(loaded[k], v) for k, v in weights.items())
        assert loss.resolved_layers == [0, 1, 2]  # CNN projection + 2 transformer layers


def test_zero_for_identical_and_grows_with_noise(checkpoints, speech):
    for name, checkpoint in networks(checkpoints):
        loss = build_loss("deep_feature", network=name, checkpoint=checkpoint)
        assert loss(speech, speech).item() == pytest.approx(0.0, abs=1e-6), name
        assert_monotone([loss(add_noise_rows(speech, snr), speech).item() for snr in NOISE_LEVELS], f"deep_feature {name}")


def test_finite_gradients_reach_the_enhanced_input_only(checkpoints, speech):
    for name, checkpoint in networks(checkpoints):
        loss = DeepFeatureLoss(network=name, checkpoint=checkpoint)
        loss.train()  # the trainer does this; the frozen network must stay in eval mode
        assert not loss.network.training
        enhanced = add_noise_rows(speech, 5.0).requires_grad_()
        clean = speech.clone().requires_grad_()
        loss(enhanced, clean).backward()
        assert enhanced.grad is not None and torch.isfinite(enhanced.grad).all() and enhanced.grad.abs().sum() > 0, name
        assert clean.grad is None, name
        assert all(not p.requires_grad and p.grad is None for p in loss.network.parameters()), name


def test_network_is_outside_parameters_and_state_dict_but_follows_to(checkpoints):
    combined = CombinedLoss([{"name": "l1"}, {"name": "deep_feature", "conf": {"network": "ge2e"}}])
    assert list(combined.parameters()) == [] and list(combined.state_dict()) == []
    loss = combined.losses[1]
    combined.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in loss.network.parameters())
    assert loss.network.mel.filters.dtype == torch.float64


def test_missing_checkpoint_says_where_to_put_it(tmp_path):
    missing = tmp_path / "wavlm-base-plus"
    with pytest.raises(FileNotFoundError, match=rf"no checkpoint at {missing}.*never downloads"):
        DeepFeatureLoss(network="wavlm", checkpoint=str(missing))
    with pytest.raises(ValueError, match="needs checkpoint: a local directory"):
        DeepFeatureLoss(network="wav2vec2")


def test_configuration_errors(checkpoints):
    with pytest.raises(ValueError, match="unknown network 'hubert'"):
        DeepFeatureLoss(network="hubert")
    with pytest.raises(ValueError, match=r"layer index 3 is out of range: .* 3 feature tensors"):
        DeepFeatureLoss(network="ge2e", layers=[3])
    with pytest.raises(ValueError, match="expects 16000 Hz"):
        DeepFeatureLoss(network="ge2e", sample_rate=8000)


def test_layer_choice_and_weights(speech):
    noisy = add_noise_rows(speech, 5.0)
    first = DeepFeatureLoss(network="ge2e", layers=[0])(noisy, speech)
    last = DeepFeatureLoss(network="ge2e", layers=[-1])(noisy, speech)
    both = DeepFeatureLoss(network="ge2e", layers=[0, -1], layer_weights=[1.0, 0.5])(noisy, speech)
    assert both.item() == pytest.approx((first + 0.5 * last).item(), rel=1e-5)


def test_an_already_built_network_can_be_passed(checkpoints, speech):
    from transformers import WavLMConfig, WavLMModel

    from mal.losses.pretrained.ssl import SSLFeatures

    torch.manual_seed(0)
    loss = DeepFeatureLoss(network=SSLFeatures(WavLMModel(WavLMConfig(**TINY))), layers=[-1])
    assert loss.network_name == "SSLFeatures" and loss.resolved_layers == [2]
    assert loss(add_noise_rows(speech, 0.0), speech).item() > loss(add_noise_rows(speech, 20.0), speech).item() > 0
