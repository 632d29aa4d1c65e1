"""Ideal-ratio-mask loss on flite speech: the ideal gain scores best, muting clean speech costs most,
the level does not matter, digital silence stays finite, the noisy input is required."""
import pytest
import torch

from helpers.audio import add_noise_rows
from loss_audio import NOISE_LEVELS, assert_monotone
from mal.losses import build_loss
from mal.losses.mask import IdealRatioMaskLoss


def ideal_gain_output(noisy: torch.Tensor, clean: torch.Tensor, loss: IdealRatioMaskLoss) -> torch.Tensor:
    """The noisy input with the ideal ratio mask applied on the loss's own STFT grid."""
    def stft(x):
        return torch.stft(x, loss.fft_size, loss.hop_size, loss.fft_size, loss.window, center=True, return_complex=True)

    spec = stft(noisy)
    mask = (stft(clean).abs() / spec.abs().clamp_min(1e-12)).clamp(max=1.0)
    return torch.istft(spec * mask, loss.fft_size, loss.hop_size, loss.fft_size, loss.window, center=True, length=noisy.shape[-1])


def test_the_ideal_gain_scores_far_below_the_noisy_input(speech):
    loss = IdealRatioMaskLoss()
    noisy = add_noise_rows(speech, 0.0)
    ideal = loss(ideal_gain_output(noisy, speech, loss), speech, noisy).item()
    assert ideal < 0.2 * loss(noisy, speech, noisy).item()


def test_grows_with_noise_when_the_input_is_passed_through(speech):
    loss = IdealRatioMaskLoss()
    assert_monotone([loss(noisy, speech, noisy).item() for noisy in (add_noise_rows(speech, snr) for snr in NOISE_LEVELS)], "irm")


def test_muting_speech_costs_more_at_high_snr_than_at_low(speech):
    """A waveform L1 charges muting the same at every SNR and passing the noise through 10x more
    at 0 dB than at 20 dB, so low-SNR mixtures dominate; here muting a 20 dB mixture costs most."""
    loss = IdealRatioMaskLoss()
    muted = [loss(torch.zeros_like(speech), speech, add_noise_rows(speech, snr)).item() for snr in (20.0, 0.0)]
    assert muted[0] > 2 * muted[1] > 0.1


def test_unchanged_when_all_three_signals_are_scaled(speech):
    loss = IdealRatioMaskLoss()
    noisy = add_noise_rows(speech, 5.0)
    enhanced = 0.5 * noisy
    assert loss(0.01 * enhanced, 0.01 * speech, 0.01 * noisy).item() == pytest.approx(loss(enhanced, speech, noisy).item(), rel=1e-4)


def test_digital_silence_gives_a_finite_loss_and_gradient():
    silence = torch.zeros(1, 8000)
    enhanced = torch.zeros(1, 8000, requires_grad=True)
    value = IdealRatioMaskLoss()(enhanced, silence, silence)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(enhanced.grad).all()


def test_registered_needs_the_noisy_input_and_bad_options_name_the_loss(speech):
    assert isinstance(build_loss("irm", power=1.0), IdealRatioMaskLoss)
    with pytest.raises(ValueError, match="^irm: .*noisy input"):
        IdealRatioMaskLoss()(speech, speech)
    for bad in ({"hop_size": 0}, {"power": 0.0}, {"max_gain": 0.5}):
        with pytest.raises(ValueError, match="^irm: "):
            IdealRatioMaskLoss(**bad)
