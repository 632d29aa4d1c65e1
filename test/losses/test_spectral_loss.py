"""Compressed spectral loss on flite speech: zero for identical signals, grows with noise,
scale-invariant, sees phase through its complex term. (Silence: test/reliability/test_rel_numerics.py.)"""
import pytest
import torch

from helpers.audio import add_noise_rows
from loss_audio import NOISE_LEVELS, assert_monotone
from mal.losses import build_loss
from mal.losses.spectral import CompressedSpectralLoss, OverSuppressionLoss


def test_zero_for_identical_and_grows_with_noise(speech):
    loss = CompressedSpectralLoss()
    assert loss(speech, speech).item() == pytest.approx(0.0, abs=1e-6)
    assert_monotone([loss(add_noise_rows(speech, snr), speech).item() for snr in NOISE_LEVELS], "spectral")


def test_unchanged_when_both_signals_are_scaled(speech):
    loss = CompressedSpectralLoss(fft_sizes=[512, 256])
    noisy = add_noise_rows(speech, 5.0)
    assert loss(0.1 * noisy, 0.1 * speech).item() == pytest.approx(loss(noisy, speech).item(), rel=1e-4)


def test_only_the_complex_term_sees_a_sign_flip():
    """-x has x's magnitudes and the opposite phase everywhere."""
    speech = torch.randn(2, 8000)
    magnitude_only = CompressedSpectralLoss(complex_weight=0.0)
    assert magnitude_only(-speech, speech).item() == pytest.approx(0.0, abs=1e-6)
    assert CompressedSpectralLoss(complex_weight=0.3)(-speech, speech).item() > 0.1


def test_registered_and_bad_options_name_the_loss():
    assert isinstance(build_loss("spectral", fft_sizes=[512, 1024], gamma=0.5), CompressedSpectralLoss)
    for bad in ({"fft_sizes": [512, 256], "hop_sizes": [128]}, {"gamma": 0.0}, {"complex_weight": 1.5}):
        with pytest.raises(ValueError, match="^spectral: "):
            CompressedSpectralLoss(**bad)


def test_over_suppression_counts_speech_removed_not_noise_left(speech):
    """Attenuated speech costs, as much the more it is attenuated; speech kept with noise on top
    costs nothing where the noise only adds energy, far less than the attenuation."""
    loss = OverSuppressionLoss(fft_sizes=[512, 256])
    assert loss(speech, speech).item() == pytest.approx(0.0, abs=1e-7)
    assert loss(2.0 * speech, speech).item() == pytest.approx(0.0, abs=1e-7)
    halved, quartered = loss(0.5 * speech, speech).item(), loss(0.25 * speech, speech).item()
    assert 0 < halved < quartered
    noisy = add_noise_rows(speech, 5.0)
    assert loss(noisy, speech).item() < 0.5 * halved
    enhanced = (0.5 * speech).requires_grad_()
    loss(enhanced, speech).backward()
    assert (enhanced.grad * speech).sum() < 0  # the gradient step raises the speech


def test_over_suppression_is_registered():
    assert isinstance(build_loss("over_suppression", gamma=0.5), OverSuppressionLoss)
    with pytest.raises(ValueError, match="^spectral: gamma"):
        OverSuppressionLoss(gamma=2.0)
