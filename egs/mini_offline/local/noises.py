"""Noise kinds for the offline corpus: recorded ones from Debian packages, the rest generated.

Training (also valid/test) kinds:
  music      recorded: asterisk-moh-opsound-wav music-on-hold tracks (8 kHz, upsampled)
  machinery  recorded: lincity-ng-data city sounds (factories, mines, traffic, building sites)
  battle     recorded: wesnoth-1.16-data sound effects (weapons, creatures, spells)
  effects    recorded: hedgewars-data sound effects (explosions, water, tools)
  weapons    recorded: openarena-data weapon, item and door sounds
  babble     3-6 talkers built from the set's own speakers (never the target speaker)
  white, pink, brown   coloured Gaussian noise (1/f^0, 1/f, 1/f^2 power)
  hum        mains hum: 50 or 60 Hz with random harmonics up to ~3 kHz and slow amplitude wobble
test_ood kinds (never in training):
  alerts     recorded: sound-theme-freedesktop event sounds (bells, phones, alarms) in sequence
  horns      recorded: wesnoth-1.16-data horn signals
  siren      generated: wailing/yelping frequency-modulated tone with harmonics
test_real kinds (real recordings, never in training):
  nature     recorded: wesnoth-1.16-data ambient loops (birds, wind, water)
  vehicles   recorded: warzone2100-data vehicle and building sounds
  radio      recorded: warzone2100-data spoken mission messages (a real voice as interference)
  footsteps  recorded: openarena-data footsteps on many floors
test_ambient kinds (everyday steady or slowly varying recordings from AMBIENT_TEST_PACKAGES, one
scene per utterance, looped with crossfades when shorter than the utterance):
  engine     helicopter, vehicle idle, passing train (btanks-data), hover vehicle (ufoai-sound)
  fan        ventilation, generators, devices, steam, wind turbine (ufoai-sound)
  pumps      a mine pump and machine rooms (ufoai-sound)
  wind       arctic wind (ufoai-sound)
  water      fountain, running water, bubbles (ufoai-sound)
  fire       crackling fires (ufoai-sound)
  night      night atmosphere, crickets (ufoai-sound), swamp insects (btanks-data)
  city       city ambiences with distant traffic (ufoai-sound, btanks-data)
test_colored kind (generated):
  colored    stationary Gaussian noise under a random smooth spectral envelope (tilt + peaks/dips)

Files inside game archives (zip: .pk3, .wz) are named ``zip:ARCHIVE!MEMBER``.
Every generator returns ``n`` float32 samples at the context's rate with unit RMS.
"""
from __future__ import annotations

import glob
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import soundfile as sf
import soxr
from scipy.fft import next_fast_len

TRAIN_KINDS = ("babble", "battle", "brown", "effects", "hum", "machinery", "music", "pink", "weapons", "white")
OOD_KINDS = ("alerts", "horns", "siren")
REAL_KINDS = ("footsteps", "nature", "radio", "vehicles")
OPENARENA = "/usr/share/games/openarena/baseoa"
WARZONE = "/usr/share/games/warzone2100/base.wz"
WESNOTH = "/usr/share/games/wesnoth/1.16/data/core/sounds"

#: Recorded kinds -> (file glob, Debian package that ships the files).
RECORDED_SOURCES = {
    "music": ("/usr/share/asterisk/moh/*.wav", "asterisk-moh-opsound-wav"),
    "alerts": ("/usr/share/sounds/freedesktop/stereo/*.oga", "sound-theme-freedesktop"),
    "machinery": ("/usr/share/games/lincity-ng/sounds/*.wav", "lincity-ng-data"),
    "battle": (f"{WESNOTH}/*.[ow][ga][gv]", "wesnoth-1.16-data"),
    "horns": (f"{WESNOTH}/horn-signals/*", "wesnoth-1.16-data"),
    "nature": (f"{WESNOTH}/ambient/*", "wesnoth-1.16-data"),
    "effects": ("/usr/share/games/hedgewars/Data/Sounds/*.ogg", "hedgewars-data"),
    "weapons": (f"zip:{OPENARENA}/pak0.pk3!sound/(weapons|items|movers)/", "openarena-data"),
    "footsteps": (f"zip:{OPENARENA}/pak0.pk3!sound/player/footsteps/", "openarena-data"),
    "vehicles": (f"zip:{WARZONE}!audio/sfx/(vehicle|building)/", "warzone2100-data"),
    "radio": (f"zip:{WARZONE}!audio/memressp/", "warzone2100-data"),
}
AUDIO_MEMBER = re.compile(r"\.(wav|ogg|oga)$", re.IGNORECASE)

#: Debian packages reserved for evaluation (test_ambient): no training, valid or test noise and no
#: training pool may read them. searchandrescue-data is reserved but unused (11 kHz, clipped).
AMBIENT_TEST_PACKAGES = ("ufoai-sound", "btanks-data", "searchandrescue-data")
UFOAI = "/usr/share/games/ufoai/base/0snd.pk3"
BTANKS = "/usr/share/games/btanks/data/sounds"
#: test_ambient kinds -> (folder or zip:ARCHIVE, file-name regex, package) sources. Chosen by level
#: statistics: steady or slowly varying, no digital silence, at least 2 s, at least 10% of the power
#: above 250 Hz (so the SNR is not spent on rumble), no speech (egs/mini_offline/README.md).
AMBIENT_SOURCES: Dict[str, Tuple[Tuple[str, str, str], ...]] = {
    "engine": ((f"zip:{UFOAI}", r"sound/ugv/hover-move\.ogg", "ufoai-sound"),
               (BTANKS, r"(helicopter|vehicle-sound|train)\.ogg", "btanks-data")),
    "fan": ((f"zip:{UFOAI}", r"sound/ambience/(alien-device|alien-generator|alienenergy1|engine_alien_small|steam"
                             r"|wind_turbine)\.ogg", "ufoai-sound"),),
    "pumps": ((f"zip:{UFOAI}", r"sound/ambience/(minepump03|alienmachinery[13]|alienpowermachinery1)\.ogg",
               "ufoai-sound"),),
    "wind": ((f"zip:{UFOAI}", r"sound/ambience/arcticwind\.ogg", "ufoai-sound"),),
    "water": ((f"zip:{UFOAI}", r"sound/ambience/(waterfontain|water|water0[123]|alienbase-bubbles)\.ogg", "ufoai-sound"),),
    "fire": ((f"zip:{UFOAI}", r"sound/ambience/(fire0[3-6]|fire[12]|smallfire)\.ogg", "ufoai-sound"),),
    "night": ((f"zip:{UFOAI}", r"sound/ambience/(ufo_night_atm|cricket_loop)\.ogg", "ufoai-sound"),
              (f"{BTANKS}/ambient", r"swamp\.ogg", "btanks-data")),
    "city": ((f"zip:{UFOAI}", r"sound/ambience/city_abnd_ufoai_atm\.ogg", "ufoai-sound"),
             (f"{BTANKS}/ambient", r"city\.ogg", "btanks-data")),
}
AMBIENT_KINDS = tuple(sorted(AMBIENT_SOURCES))
COLORED_KINDS = ("colored",)
#: Crossfade (seconds) where a short ambience loops.
LOOP_FADE_S = 0.05


#: Draws of a segment before a silent one is an error.
MAX_TRIES = 20


class NoiseError(RuntimeError):
    """A noise source is missing or unusable."""


@dataclass
class NoiseContext:
    """What a generator may use besides its random generator."""

    sample_rate: int
    #: (speaker id, speech) pairs that babble is built from.
    babble_pool: Sequence[Tuple[str, np.ndarray]] = field(default_factory=list)
    #: Speaker whose voice must not appear in babble (the target of the mixture).
    target_speaker: str = ""


def recorded_files(kind: str) -> List[str]:
    """Sorted files of a recorded kind; NoiseError naming the Debian package when absent."""
    if kind in AMBIENT_SOURCES:
        return _ambient_files(kind)
    pattern, package = RECORDED_SOURCES[kind]
    files = _archive_members(pattern) if pattern.startswith("zip:") else sorted(glob.glob(pattern, recursive=True))
    if not files:
        raise NoiseError(
            f"noise kind '{kind}' needs files {pattern} from the Debian package '{package}': "
            "run tools/installers/install_audio_tools.sh"
        )
    return files


def check_sources(kinds: Sequence[str]) -> None:
    """Fail early (before any synthesis) when a recorded kind's package is missing."""
    for kind in kinds:
        if kind not in NOISE_KINDS:
            raise NoiseError(f"unknown noise kind '{kind}'; known: {', '.join(sorted(NOISE_KINDS))}")
        if kind in RECORDED_SOURCES or kind in AMBIENT_SOURCES:
            recorded_files(kind)


def _ambient_files(kind: str) -> List[str]:
    """Files of a test_ambient kind: every source must give at least one (else its package is missing)."""
    files: List[str] = []
    for root, regex, package in AMBIENT_SOURCES[kind]:
        if root.startswith("zip:"):
            found = _archive_members(f"{root}!(?:{regex})$")
        else:
            found = sorted(f"{root}/{n}" for n in (os.listdir(root) if os.path.isdir(root) else []) if re.fullmatch(regex, n))
        if not found:
            raise NoiseError(f"noise kind '{kind}' needs {root} ({regex}) from the Debian package '{package}': "
                             "run tools/installers/install_audio_tools.sh")
        files += found
    return files


def _unit_rms(x: np.ndarray, kind: str) -> np.ndarray:
    x = x - x.mean()
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    if not np.isfinite(rms) or rms < 1e-6:
        raise NoiseError(f"noise kind '{kind}': generated a silent segment")
    return (x / rms).astype(np.float32)


def _archive_members(pattern: str) -> List[str]:
    """``zip:ARCHIVE!MEMBER`` names of the audio members of ``zip:ARCHIVE!REGEX`` (none when absent)."""
    archive, regex = pattern[len("zip:"):].split("!", 1)
    try:
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return []
    return [f"zip:{archive}!{n}" for n in sorted(names) if re.match(regex, n) and AUDIO_MEMBER.search(n)]


def _open(path: str):
    """A path, or the bytes of a ``zip:ARCHIVE!MEMBER``, for soundfile."""
    if not path.startswith("zip:"):
        return path
    archive, member = path[len("zip:"):].split("!", 1)
    with zipfile.ZipFile(archive) as z:
        return io.BytesIO(z.read(member))


def _read_mono(path: str, sample_rate: int, start: int = 0, frames: int = -1) -> np.ndarray:
    try:
        data, rate = sf.read(_open(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for bad files
        raise NoiseError(f"{path}: cannot read recorded noise: {e}") from None
    data = data.mean(axis=1)
    if rate != sample_rate:
        data = soxr.resample(data, rate, sample_rate, quality="HQ")
    return np.asarray(data, dtype=np.float32)


@lru_cache(maxsize=None)
def _frames(path: str) -> Tuple[int, int]:
    info = sf.info(path)
    return info.frames, info.samplerate


@lru_cache(maxsize=4096)
def _clip(path: str, sample_rate: int) -> np.ndarray:
    """A whole short recording at ``sample_rate`` (cached: alerts and prompts are reused)."""
    return _read_mono(path, sample_rate)


def _loud_enough(x: np.ndarray) -> bool:
    return x.size > 0 and float(np.sqrt(np.mean(x ** 2))) > 1e-3


def _sequence(rng: np.random.Generator, n: int, ctx: NoiseContext, files: List[str], max_gap_s: float) -> np.ndarray:
    """Random recordings one after another, random gains, random gaps, from a random start."""
    sr = ctx.sample_rate
    pieces, total, target = [], 0, n + int(rng.integers(0, sr))
    while total < target:
        clip = _clip(files[int(rng.integers(len(files)))], sr)
        if not _loud_enough(clip):
            continue
        clip = clip * (10 ** (rng.uniform(-6, 6) / 20) / np.sqrt(np.mean(clip ** 2)))
        gap = np.zeros(int(rng.uniform(0, max_gap_s) * sr), np.float32)
        pieces += [clip.astype(np.float32), gap]
        total += clip.size + gap.size
    seq = np.concatenate(pieces)
    start = int(rng.integers(0, seq.size - n + 1))
    return seq[start : start + n]


def white(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    return rng.standard_normal(n).astype(np.float32)


def _coloured(rng: np.random.Generator, n: int, ctx: NoiseContext, exponent: float) -> np.ndarray:
    """Gaussian noise whose power falls as 1/f**exponent above 20 Hz."""
    size = next_fast_len(n, real=True)  # FFTs of prime lengths are slow
    spectrum = np.fft.rfft(rng.standard_normal(size))
    freqs = np.fft.rfftfreq(size, d=1.0 / ctx.sample_rate)
    spectrum *= 1.0 / np.maximum(freqs, 20.0) ** (exponent / 2)
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, size)[:n].astype(np.float32)


def pink(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    return _coloured(rng, n, ctx, 1.0)


def brown(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    return _coloured(rng, n, ctx, 2.0)


def hum(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    """Mains hum and buzz: a 50/60 Hz fundamental, odd-heavy harmonics, slow wobble, a little hiss."""
    t = np.arange(n) / ctx.sample_rate
    f0 = float(rng.choice([50.0, 60.0])) * rng.uniform(0.99, 1.01)
    num_harmonics = int(rng.integers(8, int(3000 // f0)))
    decay = rng.uniform(0.5, 1.5)
    # one period of the waveform on a fine phase grid, then read at the running phase
    grid = np.linspace(0, 2 * np.pi, 8192, endpoint=False)
    period = np.zeros(grid.size)
    for k in range(1, num_harmonics + 1):
        weight = (2.0 if k % 2 else 1.0) * k ** -decay * rng.uniform(0.3, 1.0)
        period += weight * np.sin(k * grid + rng.uniform(0, 2 * np.pi))
    x = np.interp(np.mod(2 * np.pi * f0 * t, 2 * np.pi), grid, period, period=2 * np.pi)
    x *= 1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.1, 2.0) * t + rng.uniform(0, 2 * np.pi))
    x /= np.sqrt(np.mean(x ** 2))
    return (x + 0.03 * rng.standard_normal(n)).astype(np.float32)


def siren(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    """A wail (slow sweep) or yelp (fast sweep) between ~500 and ~1800 Hz, with harmonics."""
    t = np.arange(n) / ctx.sample_rate
    low, high = rng.uniform(500, 900), rng.uniform(1200, 1800)
    sweep_hz = rng.uniform(0.15, 0.5) if rng.random() < 0.5 else rng.uniform(2.5, 5.0)
    freq = low + (high - low) * 0.5 * (1 + np.sin(2 * np.pi * sweep_hz * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(freq) / ctx.sample_rate
    x = sum(rng.uniform(0.2, 1.0) / k * np.sin(k * phase) for k in (1, 2, 3))
    return (x + 0.01 * rng.standard_normal(n)).astype(np.float32)


def babble(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    """3-6 overlapping talkers from the babble pool, none of them the target speaker."""
    others = [wav for spk, wav in ctx.babble_pool if spk != ctx.target_speaker and _loud_enough(wav)]
    if not others:
        raise NoiseError(f"babble: no pool speech from speakers other than '{ctx.target_speaker}'")
    mix = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(3, 7))):
        talker = others[int(rng.integers(len(others)))]
        talker = np.roll(np.resize(talker, max(n, talker.size)), -int(rng.integers(talker.size)))[:n]
        mix += talker * (10 ** (rng.uniform(-3, 3) / 20) / np.sqrt(np.mean(talker ** 2) + 1e-12))
    return mix


def music(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    """A random stretch of a random music-on-hold track."""
    files = recorded_files("music")
    for _ in range(10):  # skip silent stretches (track starts and ends)
        path = files[int(rng.integers(len(files)))]
        frames, rate = _frames(path)
        need = int(np.ceil(n * rate / ctx.sample_rate)) + 32
        if frames < need:
            x = np.resize(_clip(path, ctx.sample_rate), n)
        else:
            x = _read_mono(path, ctx.sample_rate, start=int(rng.integers(0, frames - need + 1)), frames=need)[:n]
        if x.size == n and _loud_enough(x):
            return x
    raise NoiseError("music: no audible stretch found in 10 tries")


def alerts(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    return _sequence(rng, n, ctx, recorded_files("alerts"), max_gap_s=0.3)


def _recorded_sequence(kind: str, max_gap_s: float) -> Callable[[np.random.Generator, int, NoiseContext], np.ndarray]:
    def generate(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
        return _sequence(rng, n, ctx, recorded_files(kind), max_gap_s)

    generate.__name__ = kind
    return generate


def _layered(kind: str, max_gap_s: float) -> Callable[[np.random.Generator, int, NoiseContext], np.ndarray]:
    """Two overlapping streams of a recorded kind (a busier scene than one stream)."""
    def generate(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
        files = recorded_files(kind)
        return _sequence(rng, n, ctx, files, max_gap_s) + _sequence(rng, n, ctx, files, max_gap_s) * rng.uniform(0.3, 1.0)

    generate.__name__ = kind
    return generate


def loop_clip(clip: np.ndarray, n: int, start: int, fade: int) -> np.ndarray:
    """``n`` samples of ``clip`` from ``start``, looped with raised-cosine crossfades of ``fade`` samples."""
    fade = min(fade, clip.size // 4)
    if start + n <= clip.size:
        return clip[start : start + n]
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
    body = clip[: clip.size - fade].copy()  # one period: the tail fades into the head
    body[:fade] = clip[:fade] * ramp + clip[clip.size - fade :] * ramp[::-1]
    reps = int(np.ceil((start % body.size + n) / body.size))
    return np.tile(body, reps)[start % body.size : start % body.size + n]


def ambience(kind: str) -> Callable[[np.random.Generator, int, NoiseContext], np.ndarray]:
    """One recording of a test_ambient kind (files drawn uniformly) from a random start, looped if short."""
    def generate(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
        files = recorded_files(kind)
        clip = _clip(files[int(rng.integers(len(files)))], ctx.sample_rate)
        return loop_clip(clip, n, int(rng.integers(clip.size)), int(LOOP_FADE_S * ctx.sample_rate))

    generate.__name__ = kind
    return generate


def colored(rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    """Stationary Gaussian noise under a random smooth log-spectral envelope, drawn per call: a tilt of
    -6..+3 dB/octave around 1 kHz (flat below 100 Hz) plus 1-4 Gaussian peaks or dips (+-3..15 dB,
    0.3-2 octaves wide)."""
    size = next_fast_len(n, real=True)
    freqs = np.fft.rfftfreq(size, d=1.0 / ctx.sample_rate)
    octaves = np.log2(np.maximum(freqs, 100.0) / 1000.0)
    envelope_db = rng.uniform(-6.0, 3.0) * octaves
    top = np.log2(0.45 * ctx.sample_rate / 1000.0)
    for _ in range(int(rng.integers(1, 5))):
        centre, width = rng.uniform(np.log2(0.1), top), rng.uniform(0.3, 2.0)
        gain = rng.choice([-1.0, 1.0], p=[0.3, 0.7]) * rng.uniform(3.0, 15.0)
        envelope_db += gain * np.exp(-0.5 * ((octaves - centre) / (width / 2.355)) ** 2)
    envelope_db = np.maximum(envelope_db, envelope_db.max() - 50.0)
    spectrum = np.fft.rfft(rng.standard_normal(size)) * 10 ** (envelope_db / 20)
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, size)[:n].astype(np.float32)


NOISE_KINDS: Dict[str, Callable[[np.random.Generator, int, NoiseContext], np.ndarray]] = {
    **{kind: ambience(kind) for kind in AMBIENT_KINDS},
    "colored": colored,
    "alerts": alerts,
    "babble": babble,
    "battle": _layered("battle", 0.3),
    "brown": brown,
    "effects": _layered("effects", 0.3),
    "footsteps": _recorded_sequence("footsteps", 0.15),
    "horns": _recorded_sequence("horns", 0.5),
    "hum": hum,
    "machinery": _layered("machinery", 0.1),
    "music": music,
    "nature": _layered("nature", 0.0),
    "pink": pink,
    "radio": _recorded_sequence("radio", 0.3),
    "siren": siren,
    "vehicles": _layered("vehicles", 0.1),
    "weapons": _layered("weapons", 0.4),
    "white": white,
}


def make_noise(kind: str, rng: np.random.Generator, n: int, ctx: NoiseContext) -> np.ndarray:
    """``n`` samples of noise ``kind`` with unit RMS."""
    if kind not in NOISE_KINDS:
        raise NoiseError(f"unknown noise kind '{kind}'; known: {', '.join(sorted(NOISE_KINDS))}")
    for _ in range(MAX_TRIES):  # a stretch of a recording can be digital silence: draw again
        x = np.asarray(NOISE_KINDS[kind](rng, n, ctx), dtype=np.float32)
        if x.shape != (n,):
            raise NoiseError(f"noise kind '{kind}': expected {n} samples, got shape {x.shape}")
        if _loud_enough(x - x.mean()):
            break
    return _unit_rms(x, kind)
