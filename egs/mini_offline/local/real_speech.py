"""Real recorded speakers from Debian packages: isolated words and short lines, joined into utterances.

- ``ktuberling-data``: single words spoken by one native speaker per language
  (/usr/share/ktuberling/sounds/<lang>); only the wideband languages (22-48 kHz) are used, the
  8 kHz ones would teach the model to remove the upper band.
- ``hedgewars-data``: voice packs of the game, one actor per pack
  (/usr/share/games/hedgewars/Data/Sounds/voices/<pack>); "Robot" is left out (effect-processed).

Each language or voice pack counts as one speaker. An utterance is 2-5 clips of one speaker,
high-passed (some ktuberling languages carry a large DC offset and rumble, which a reference must
not: every enhancer removes it), freed of the mains hum its speaker's recordings carry (narrow
notches at the 50/60 Hz harmonics that stand out of the speaker's long-term spectrum; pitch
harmonics move from clip to clip and average out), silence-trimmed, joined with short pauses; its
"sentence" is the list of clip indices.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
from scipy.signal import butter, filtfilt, iirnotch, sosfiltfilt, welch

from mal.io import AudioError, read_audio
from speakers import SynthesisError

KTUBERLING_DIR = "/usr/share/ktuberling/sounds"
HEDGEWARS_DIR = "/usr/share/games/hedgewars/Data/Sounds/voices"
KTUBERLING_WIDEBAND = ("ca", "da", "de", "el", "en", "ga", "gl", "lt", "nn", "ro", "ru", "sl", "sr", "uk", "wa")
HEDGEWARS_PACKS = ("British", "Classic", "Default", "Default_es", "Default_pl", "Default_ru", "Default_uk",
                   "HillBilly", "Mobster", "Pirate", "Russian", "Russian_pl", "Singer", "Surfer")
SOURCES = {"ktuberling": (KTUBERLING_DIR, KTUBERLING_WIDEBAND, "ktuberling-data"),
           "hedgewars": (HEDGEWARS_DIR, HEDGEWARS_PACKS, "hedgewars-data")}
AUDIO_EXTENSIONS = (".ogg", ".wav", ".opus", ".flac")
CLIPS_PER_UTTERANCE = (2, 5)
PAUSE_SECONDS = 0.2
#: Trim a clip to where it rises above this fraction of its peak (about -40 dB), plus a margin.
TRIM_FRACTION = 0.01
TRIM_MARGIN_SECONDS = 0.05
#: Zero-phase high-pass (4th-order Butterworth, applied forward and backward) below speech's range.
HIGHPASS_HZ = 50.0
#: Mains hum: the harmonics checked, how far (dB) a harmonic must stand above its neighbourhood
#: in a speaker's long-term spectrum to be notched, the notches' -3 dB width, clips looked at.
HUM_HARMONICS_HZ = tuple(sorted({base * k for base in (50.0, 60.0) for k in range(1, 7)}))
HUM_PEAK_DB = 10.0
NOTCH_WIDTH_HZ = 4.0
HUM_CLIPS = 40


def highpass(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """``wav`` without its DC offset and rumble below HIGHPASS_HZ (zero phase, same length)."""
    sos = butter(4, HIGHPASS_HZ, btype="highpass", fs=sample_rate, output="sos")
    return sosfiltfilt(sos, wav - wav.mean()).astype(np.float32)


@lru_cache(maxsize=None)
def clip_files(source: str, name: str) -> List[str]:
    """Sorted audio files of one speaker; SynthesisError naming the package when absent."""
    root, _, package = SOURCES[source]
    files = sorted(f for f in glob.glob(f"{root}/{name}/*") if f.lower().endswith(AUDIO_EXTENSIONS))
    if not files:
        raise SynthesisError(f"real speaker {source}/{name}: no audio in {root}/{name}; install the Debian package '{package}'")
    return files


@lru_cache(maxsize=2048)
def _filtered(path: str, sample_rate: int) -> np.ndarray:
    """A clip as mono float32 at ``sample_rate``, high-passed; SynthesisError when unreadable."""
    try:
        wav, _ = read_audio(path, sample_rate, resample_to_rate=True, mono=False, key=Path(path).stem)
    except AudioError as e:
        raise SynthesisError(str(e)) from None
    return highpass(wav.mean(axis=1), sample_rate)


def hum_frequencies(wav: np.ndarray, sample_rate: int) -> Tuple[float, ...]:
    """The mains harmonics (HUM_HARMONICS_HZ) whose ~1 Hz-wide peak stands HUM_PEAK_DB above the
    median of the spectrum 5-30 Hz around it (Welch, 16384-sample segments)."""
    freqs, power = welch(np.asarray(wav, np.float64), fs=sample_rate, nperseg=min(16384, len(wav)))
    found = []
    for f in HUM_HARMONICS_HZ:
        distance = np.abs(freqs - f)
        peak, ring = power[distance <= 1.5], power[(distance > 5) & (distance <= 30)]
        if peak.size and ring.size and peak.max() > 10 ** (HUM_PEAK_DB / 10) * max(float(np.median(ring)), 1e-30):
            found.append(f)
    return tuple(found)


def remove_hum(wav: np.ndarray, frequencies: Sequence[float], sample_rate: int) -> np.ndarray:
    """``wav`` with a zero-phase notch NOTCH_WIDTH_HZ wide at each of ``frequencies``."""
    out = np.asarray(wav, np.float64)
    for f in frequencies:
        b, a = iirnotch(f, f / NOTCH_WIDTH_HZ, fs=sample_rate)
        out = filtfilt(b, a, out)
    return out.astype(np.float32)


@lru_cache(maxsize=None)
def speaker_hum(source: str, name: str, sample_rate: int) -> Tuple[float, ...]:
    """The hum frequencies of a speaker: hum_frequencies of its first HUM_CLIPS clips joined."""
    clips = [_filtered(path, sample_rate) for path in clip_files(source, name)[:HUM_CLIPS]]
    return hum_frequencies(np.concatenate(clips), sample_rate)


@lru_cache(maxsize=2048)
def _clip(path: str, sample_rate: int, hum: Tuple[float, ...] = ()) -> np.ndarray:
    """A clip high-passed, notched at ``hum`` and trimmed to where it is loud, plus a margin."""
    wav = remove_hum(_filtered(path, sample_rate), hum, sample_rate)
    loud = np.flatnonzero(np.abs(wav) > TRIM_FRACTION * max(float(np.abs(wav).max()), 1e-9))
    if loud.size == 0:
        raise SynthesisError(f"{path}: silent clip")
    margin = int(TRIM_MARGIN_SECONDS * sample_rate)
    return np.ascontiguousarray(wav[max(0, loud[0] - margin) : loud[-1] + margin + 1], dtype=np.float32)


@dataclass(frozen=True)
class RealSpeaker:
    """One recorded speaker: a ktuberling language or a hedgewars voice pack."""

    source: str
    name: str

    @property
    def id(self) -> str:
        return f"r{self.source[0]}-{self.name.lower().replace('_', '')}"

    @property
    def synthesizer(self) -> str:
        return "real"

    def files(self) -> List[str]:
        return clip_files(self.source, self.name)

    def draw_sentence(self, rng: np.random.Generator) -> str:
        """A random utterance plan: 2-5 distinct clip indices, as text."""
        files = self.files()
        count = min(len(files), int(rng.integers(CLIPS_PER_UTTERANCE[0], CLIPS_PER_UTTERANCE[1] + 1)))
        return " ".join(str(i) for i in rng.choice(len(files), size=count, replace=False))

    def synthesize(self, sentence: str, sample_rate: int) -> np.ndarray:
        """The clips named by ``sentence`` joined with short pauses (float32, mono)."""
        files = self.files()
        pause = np.zeros(int(PAUSE_SECONDS * sample_rate), np.float32)
        pieces: List[np.ndarray] = []
        hum = speaker_hum(self.source, self.name, sample_rate)
        for index in sentence.split():
            clip = _clip(files[int(index)], sample_rate, hum)
            pieces += [clip / max(float(np.sqrt(np.mean(clip ** 2))), 1e-6), pause]  # words at one level
        return np.concatenate(pieces[:-1]).astype(np.float32)


def real_speakers(sources: Sequence[str] = tuple(SOURCES)) -> List[RealSpeaker]:
    """Every real speaker whose package lists it (sorted by id); files are checked on use."""
    speakers = [RealSpeaker(source, name) for source in sources for name in SOURCES[source][1]]
    return sorted(speakers, key=lambda s: s.id)
