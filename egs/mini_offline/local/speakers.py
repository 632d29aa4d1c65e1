"""Synthetic "speakers": a synthesizer voice with a pitch, speaking rate and timbre.

Training, valid and test speakers come from Debian ``flite`` (voices kal, kal16, awb, rms, slt).
Pitch is set with ``--setf int_f0_target_mean`` where the voice honours it (kal, kal16, awb, slt;
rms ignores it, so its pitch is moved by resampling instead), rate with ``--setf
duration_stretch``, and timbre with a vocal-tract "warp": the voice is synthesised slower and
resampled, which scales pitch and formants together, and the f0 target compensates the pitch.

``espeak-ng`` speakers (accents x voice variants x ``-s`` speed x ``-p`` pitch) join them in
training. ``test_ood`` speakers come from Festival (``text2wave``), a synthesizer training never hears.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np
import soundfile as sf
import soxr

#: flite voice -> native mean f0 in Hz (measured), or None where int_f0_target_mean has no effect.
FLITE_VOICES = {"awb": 130.0, "kal": 90.0, "kal16": 90.0, "rms": None, "slt": 170.0}
FLITE_PITCHES = (0.8, 0.9, 1.0, 1.12, 1.25)
FLITE_RATES = (0.85, 1.0, 1.18)
FLITE_WARPS = (0.93, 1.0, 1.07)
#: rms cannot change f0, so its pitch grid is done by resampling (pitch and formants together).
RMS_PITCHES = (0.88, 0.94, 1.0, 1.06, 1.12)

ESPEAK_VOICES = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt3")
ESPEAK_SPEEDS = (140, 165, 190)
ESPEAK_PITCHES = (35, 50, 70)


class SynthesisError(RuntimeError):
    """A synthesizer failed; the message names the speaker and the sentence."""


def _run(cmd: List[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except FileNotFoundError:
        raise SynthesisError(f"{what}: '{cmd[0]}' not found; run tools/installers/install_audio_tools.sh") from None
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise SynthesisError(f"{what}: {cmd[0]} failed with exit code {proc.returncode}: {err}")


def _synthesize_to_array(cmd_for: Callable[[str], List[str]], what: str, sample_rate: int) -> np.ndarray:
    fd, path = tempfile.mkstemp(suffix=".wav", prefix="mal_synth_")
    os.close(fd)
    try:
        _run(cmd_for(path), what)
        if os.path.getsize(path) == 0:  # text2wave exits 0 after some errors, having written nothing
            raise SynthesisError(f"{what}: {cmd_for(path)[0]} wrote no audio")
        wav, rate = sf.read(path, dtype="float32", always_2d=True)
    finally:
        os.unlink(path)
    wav = wav.mean(axis=1)
    if wav.size == 0 or not np.any(wav):
        raise SynthesisError(f"{what}: synthesizer produced no audio")
    if rate != sample_rate:
        wav = soxr.resample(wav, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(wav, dtype=np.float32)


@dataclass(frozen=True)
class FliteSpeaker:
    """A flite voice at a relative pitch, duration stretch (rate) and vocal-tract warp."""

    voice: str
    pitch: float = 1.0
    rate: float = 1.0
    warp: float = 1.0

    @property
    def id(self) -> str:
        return f"fl-{self.voice}-p{round(self.pitch * 100):03d}-r{round(self.rate * 100):03d}-w{round(self.warp * 100):03d}"

    @property
    def synthesizer(self) -> str:
        return "flite"

    def _resample_factor(self) -> float:
        """How much faster the synthesised audio is played back (pitch and formants scale by it)."""
        native_f0 = FLITE_VOICES[self.voice]
        return self.warp * (self.pitch if native_f0 is None else 1.0)

    def command(self, text: str, out_path: str) -> List[str]:
        factor = self._resample_factor()
        cmd = ["flite", "-voice", self.voice, "--setf", f"duration_stretch={self.rate * factor:.4f}"]
        native_f0 = FLITE_VOICES[self.voice]
        if native_f0 is not None:
            cmd += ["--setf", f"int_f0_target_mean={native_f0 * self.pitch / self.warp:.2f}"]
        return cmd + ["-t", text, "-o", out_path]

    def synthesize(self, text: str, sample_rate: int) -> np.ndarray:
        """Speech for ``text`` at ``sample_rate`` (float32, mono)."""
        wav = _synthesize_to_array(lambda p: self.command(text, p), f"speaker {self.id}, sentence {text!r}", sample_rate)
        factor = self._resample_factor()
        if factor != 1.0:  # play back ``factor`` times faster: same rate, scaled pitch and formants
            wav = soxr.resample(wav, sample_rate, sample_rate / factor, quality="HQ").astype(np.float32)
        return wav


@dataclass(frozen=True)
class EspeakSpeaker:
    """An espeak-ng voice (accent + variant) at a speed (words/minute) and pitch (0-99)."""

    voice: str
    variant: str
    speed: int
    pitch: int

    @property
    def id(self) -> str:
        return f"es-{self.voice.replace('-', '_')}-{self.variant}-s{self.speed:03d}-p{self.pitch:03d}"

    @property
    def synthesizer(self) -> str:
        return "espeak-ng"

    def command(self, text: str, out_path: str) -> List[str]:
        voice = f"{self.voice}+{self.variant}"
        # -a 70: below espeak-ng's default amplitude of 100, which clips some variants
        return ["espeak-ng", "-v", voice, "-a", "70", "-s", str(self.speed), "-p", str(self.pitch), "-w", out_path, text]

    def synthesize(self, text: str, sample_rate: int) -> np.ndarray:
        return _synthesize_to_array(lambda p: self.command(text, p), f"speaker {self.id}, sentence {text!r}", sample_rate)


def flite_speakers() -> List[FliteSpeaker]:
    """Every flite speaker of the grid (sorted by id): 4 voices x 5 pitches x 3 rates x 3 warps + rms."""
    speakers = []
    for voice, native_f0 in FLITE_VOICES.items():
        if native_f0 is None:
            speakers += [FliteSpeaker(voice, p, r, 1.0) for p, r in itertools.product(RMS_PITCHES, FLITE_RATES)]
        else:
            speakers += [FliteSpeaker(voice, p, r, w) for p, r, w in itertools.product(FLITE_PITCHES, FLITE_RATES, FLITE_WARPS)]
    return sorted(speakers, key=lambda s: s.id)


def espeak_speakers() -> List[EspeakSpeaker]:
    """Every espeak-ng speaker of the grid (sorted by id)."""
    grid = itertools.product(ESPEAK_VOICES, ESPEAK_VARIANTS, ESPEAK_SPEEDS, ESPEAK_PITCHES)
    return sorted((EspeakSpeaker(*combo) for combo in grid), key=lambda s: s.id)


def split_speakers(
    speakers: List[FliteSpeaker], counts: Tuple[Tuple[str, Optional[int]], ...], seed: int
) -> dict:
    """Shuffle ``speakers`` with ``seed`` and deal disjoint groups: ``(name, count)``; count None takes the rest."""
    order = np.random.default_rng([seed, 11]).permutation(len(speakers))
    shuffled = [speakers[i] for i in order]
    groups, start = {}, 0
    for name, count in counts:
        end = len(shuffled) if count is None else start + count
        if end > len(shuffled) or end <= start:
            raise ValueError(f"cannot deal {count} speakers to '{name}': only {len(shuffled) - start} left")
        groups[name] = shuffled[start:end]
        start = end
    return groups


#: Festival voices of test_ood (Debian festvox-* packages). kal_diphone is left out: it is the
#: same diphone database as flite's kal, which training hears.
#: The Italian diphone voices (festvox-ita*) fail on some English sentences, so they are not used.
FESTIVAL_VOICES = ("ked_diphone", "cmu_us_slt_arctic_hts", "upc_ca_ona_hts")
FESTIVAL_RATES = (0.85, 1.0, 1.15)
FESTIVAL_WARPS = (0.93, 1.0, 1.07)


@dataclass(frozen=True)
class FestivalSpeaker:
    """A Festival voice at a duration stretch (rate) and vocal-tract warp (resampling)."""

    voice: str
    rate: float = 1.0
    warp: float = 1.0

    @property
    def id(self) -> str:
        return f"fe-{self.voice.replace('_', '')}-r{round(self.rate * 100):03d}-w{round(self.warp * 100):03d}"

    @property
    def synthesizer(self) -> str:
        return "festival"

    def synthesize(self, text: str, sample_rate: int) -> np.ndarray:
        fd, text_path = tempfile.mkstemp(suffix=".txt", prefix="mal_festival_")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        try:
            cmd_for = lambda out: [  # noqa: E731
                "text2wave", "-eval", f"(voice_{self.voice})",
                "-eval", f"(Parameter.set 'Duration_Stretch {self.rate * self.warp:.4f})", "-o", out, text_path,
            ]
            wav = _synthesize_to_array(cmd_for, f"speaker {self.id}, sentence {text!r}", sample_rate)
        finally:
            os.unlink(text_path)
        if self.warp != 1.0:
            wav = soxr.resample(wav, sample_rate, sample_rate / self.warp, quality="HQ").astype(np.float32)
        return wav


def festival_speakers() -> List[FestivalSpeaker]:
    """Every Festival speaker of the grid (sorted by id)."""
    grid = itertools.product(FESTIVAL_VOICES, FESTIVAL_RATES, FESTIVAL_WARPS)
    return sorted((FestivalSpeaker(*combo) for combo in grid), key=lambda s: s.id)
