"""L1 and SI-SDR criteria on flite speech."""
import math

import pytest
import torch

from helpers.audio import add_noise_rows
from loss_audio import NOISE_LEVELS, assert_monotone
from mal.losses import build_loss
from mal.losses.time import L1Loss, SISDRLoss, si_sdr


def test_l1_zero_for_identical_and_grows_with_noise(speech):
    loss = L1Loss()
    assert loss(speech, speech).item() == 0.0
    assert_monotone([loss(add_noise_rows(speech, snr), speech).item() for snr in NOISE_LEVELS], "l1")


def test_sisdr_identical_inputs_give_the_documented_minimum(speech):
    eps = 1e-8
    centred = speech - speech.mean(-1, keepdim=True)
    expected = -(10 * torch.log10(1 + centred.double().pow(2).sum(-1) / eps)).mean().item()
    assert SISDRLoss(eps)(speech, speech).item() == pytest.approx(expected, abs=1e-3)
    assert expected < -90  # bounded, far below any real estimate


def test_sisdr_grows_with_noise_and_matches_the_snr(speech):
    loss = SISDRLoss()
    values = [loss(add_noise_rows(speech, snr), speech).item() for snr in NOISE_LEVELS]
    assert_monotone(values, "sisdr")
    # white noise at x dB SNR gives an SI-SDR close to x dB
    for snr, value in zip(NOISE_LEVELS, values):
        assert -value == pytest.approx(snr, abs=0.5)


def test_sisdr_is_scale_and_offset_invariant(speech):
    noisy = add_noise_rows(speech, 5.0)
    loss = SISDRLoss()
    assert loss(3.0 * noisy + 0.1, speech).item() == pytest.approx(loss(noisy, speech).item(), abs=1e-3)


def test_sisdr_silent_reference_is_finite_and_has_gradients(speech):
    est = speech.clone().requires_grad_()
    value = SISDRLoss()(est, torch.zeros_like(speech))
    value.backward()
    assert math.isfinite(value.item()) and torch.isfinite(est.grad).all()


def test_shape_mismatch_is_a_clear_error(speech):
    with pytest.raises(ValueError, match=r"sisdr: expected enhanced and clean"):
        SISDRLoss()(speech[:, :100], speech)
    with pytest.raises(ValueError, match=r"l1: .*\[batch, samples\]"):
        L1Loss()(speech[0], speech[0])


def test_registry_builds_them():
    assert isinstance(build_loss("l1"), L1Loss)
    assert build_loss("sisdr", eps=1e-6).eps == 1e-6
    with pytest.raises(ValueError, match="eps must be > 0"):
        build_loss("sisdr", eps=0)


def test_si_sdr_per_row(speech):
    est = torch.stack([speech[0], add_noise_rows(speech, 0.0)[1]])
    scores = si_sdr(est, speech)
    assert scores.shape == (2,) and scores[0] > 90 and abs(scores[1]) < 0.5
