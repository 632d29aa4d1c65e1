"""The GE2E speaker encoder rebuilt from resemblyzer's shipped weights."""
import itertools
import shutil

import numpy as np
import pytest
import torch

from mal.losses.pretrained import load_feature_network
from mal.losses.pretrained.ge2e import GE2EEncoder, hz_to_mel, load_ge2e, mel_filterbank, mel_to_hz, resemblyzer_weights_path


def test_weights_come_from_the_wheel_without_importing_it():
    import sys

    path = resemblyzer_weights_path()
    assert path.name == "pretrained.pt" and path.parent.name == "resemblyzer"
    model = load_ge2e()
    assert "resemblyzer" not in sys.modules
    raw = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
    assert torch.equal(model.lstms[2].weight_hh_l0, raw["lstm.weight_hh_l2"])
    assert torch.equal(model.linear.bias, raw["linear.bias"])
    assert isinstance(load_feature_network("ge2e"), GE2EEncoder)


@pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite voices")
def test_embeddings_tell_the_flite_voices_apart(utterances):
    """Same voice, different sentence: more similar than any pair of different voices."""
    model = load_ge2e()
    embeds = {}
    with torch.no_grad():
        for key, wav in utterances.items():
            x = torch.from_numpy(wav)[None]
            embeds[key] = model(x * model.level_gain(x))[0]
    same, cross = [], []
    for a, b in itertools.combinations(embeds, 2):
        (same if a.split("_")[0] == b.split("_")[0] else cross).append(float(embeds[a] @ embeds[b]))
    assert min(same) > max(cross) + 0.05, (same, cross)


def test_features_are_three_lstm_layers_at_100_frames_per_second():
    feats = load_ge2e().features(torch.randn(2, 16000) * 0.1)
    assert [tuple(f.shape) for f in feats] == [(2, 256, 101)] * 3


def test_slaney_mel_scale_and_filterbank():
    assert hz_to_mel(440.0) == pytest.approx(6.6)
    assert hz_to_mel(1000.0) == pytest.approx(15.0)
    assert hz_to_mel(8000.0) == pytest.approx(45.2452, abs=1e-3)
    hz = np.array([0.0, 300.0, 1000.0, 2500.0, 7999.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-9, atol=1e-9)
    fb = mel_filterbank(16000, 400, 40)
    assert fb.shape == (40, 201) and (fb >= 0).all() and (fb.max(axis=1) > 0).all()
    # filter i peaks at the i+1-th of 42 points spaced evenly on the mel scale from 0 to 8 kHz
    centres = mel_to_hz(np.linspace(0.0, hz_to_mel(8000.0), 42))[1:-1]
    assert np.abs(fb.argmax(axis=1) - centres / 40.0).max() <= 1.0
    # Slaney normalisation: each (wide enough) triangle has unit area in Hz
    areas = fb.sum(axis=1) * 40.0
    np.testing.assert_allclose(areas[20:], 1.0, rtol=0.05)


def test_level_gain_only_raises_quiet_input():
    quiet = torch.full((1, 1000), 1e-3)
    loud = torch.full((1, 1000), 0.5)
    assert GE2EEncoder.level_gain(quiet).item() == pytest.approx(10 ** (-30 / 20) / 1e-3, rel=1e-5)
    assert GE2EEncoder.level_gain(loud).item() == 1.0


def test_a_wrong_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"model_state": {"lstm.weight_ih_l0": torch.zeros(1024, 40)}}, bad)
    with pytest.raises(KeyError, match="not a GE2E"):
        load_ge2e(bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_ge2e(tmp_path / "missing.pt")
