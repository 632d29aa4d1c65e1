"""Multi-resolution STFT loss on flite speech, including digital silence."""
import pytest
import torch

from helpers.audio import add_noise_rows
from loss_audio import NOISE_LEVELS, assert_monotone
from mal.losses import build_loss
from mal.losses.stft import MultiResolutionSTFTLoss


def test_zero_for_identical_and_grows_with_noise(speech):
    loss = MultiResolutionSTFTLoss()
    assert loss(speech, speech).item() == pytest.approx(0.0, abs=1e-6)
    assert_monotone([loss(add_noise_rows(speech, snr), speech).item() for snr in NOISE_LEVELS], "mrstft")


def test_unchanged_when_both_signals_are_scaled(speech):
    loss = MultiResolutionSTFTLoss()
    noisy = add_noise_rows(speech, 5.0)
    assert loss(0.1 * noisy, 0.1 * speech).item() == pytest.approx(loss(noisy, speech).item(), rel=1e-4)


def test_the_floor_keeps_digital_silence_from_dominating(speech):
    """Inaudible hiss (-50 dB) over digital silence must cost far less than 10 dB noise on speech;
    without the floor (a tiny log_eps) the hiss in silent frames would cost more."""
    pad = torch.zeros(speech.shape[0], 8000)
    clean = torch.cat([pad, speech, pad], dim=1)
    assert (clean == 0).float().mean() > 0.3
    hiss = add_noise_rows(clean, 50.0)  # scaled to the utterance's RMS: -50 dB everywhere, also in the silence
    noisy = torch.cat([pad, add_noise_rows(speech, 10.0), pad], dim=1)
    floored = MultiResolutionSTFTLoss()
    assert floored(hiss, clean).item() < 0.25 * floored(noisy, clean).item()
    unfloored = MultiResolutionSTFTLoss(log_eps=1e-9)
    assert unfloored(hiss, clean).item() > unfloored(noisy, clean).item()


def test_gradients_finite_when_the_estimate_is_digitally_silent(speech):
    est = speech.clone()
    est[:, :4000] = 0.0
    est.requires_grad_()
    MultiResolutionSTFTLoss()(est, speech).backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0


def test_each_term_can_be_switched_off(speech):
    noisy = add_noise_rows(speech, 5.0)
    sc = MultiResolutionSTFTLoss(mag_weight=0.0)(noisy, speech).item()
    mag = MultiResolutionSTFTLoss(sc_weight=0.0)(noisy, speech).item()
    both = MultiResolutionSTFTLoss()(noisy, speech).item()
    assert sc > 0 and mag > 0 and both == pytest.approx(sc + mag, rel=1e-5)


def test_configuration():
    loss = build_loss("mrstft", fft_sizes=[512, 1024, 256])
    assert loss.hop_sizes == [128, 256, 64] and loss.win_lengths == [512, 1024, 256]
    loss = build_loss("mrstft", fft_sizes=[1024, 2048, 512], hop_sizes=[120, 240, 50], win_lengths=[600, 1200, 240])
    assert loss.window1.shape == (1200,)
    with pytest.raises(ValueError, match="same non-zero length"):
        build_loss("mrstft", fft_sizes=[512, 1024], hop_sizes=[128])
    with pytest.raises(ValueError, match="win_length <= fft_size"):
        build_loss("mrstft", fft_sizes=[256], win_lengths=[512])
    with pytest.raises(ValueError, match="log_eps"):
        build_loss("mrstft", log_eps=0.0)
