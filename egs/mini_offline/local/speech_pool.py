"""A large real clean-speech pool, extracted once per machine from Debian data packages.

Every recording of a source is decoded, mixed to mono and checked at its native rate and at 16 kHz:
digital silence is trimmed, and a clip is dropped when it is silent, clipped (samples at or near
full scale, or flat tops at its peak), quiet (active-speech level), narrowband (little energy above
4 kHz), muffled (little above 6 kHz) or noisy (speech vs. noise-floor percentiles of its frame
levels). Kept clips are trimmed of quiet edges and set to one active level; a speaker's short
clips (words, syllables, short lines) are joined into 2-5 s utterances with short pauses, longer
ones stay whole. Utterances are cached as PCM-16 16 kHz wavs beside the noise pool (one folder and
manifest per package; a package whose marker matches is not read again).

Speakers are split into train / valid / test by *split group* (a speaker, or speakers that may
share a voice actor), so no voice crosses sets; very large groups always train. The ktuberling and
hedgewars speakers stay with the corpus (``real_speech.py``) and are not read here.
"""
from __future__ import annotations

import csv
import hashlib
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from noise_pool import SAMPLE_RATE, _flat_top_share, _trim_silence, _write_if_changed, decode, members  # noqa: E402
import noise_pool  # noqa: E402

VERSION = "2"  # bump when extraction or checks change: cached packages are then re-extracted
DEFAULT_CACHE = noise_pool.DEFAULT_CACHE.parent / "speech_pool"
SETS = ("train", "valid", "test")
#: Packages whose speakers the corpus already uses (test_real's held-out speakers among them).
CORPUS_PACKAGES = ("ktuberling-data", "hedgewars-data")
FRAME = 320  # 20 ms at 16 kHz


# ---------------------------------------------------------------- sources and speakers

def _stem(member: str) -> str:
    return Path(member).stem


def _fillets_speaker(member: str) -> Optional[str]:
    """``m`` / ``v`` (the two fish, from ``<level>-<m|v>-<line>`` or ``<word>-<m|v>``), else
    ``<level folder>-<role>`` from ``<level>-<role>-<line>``, else the level folder."""
    tokens = _stem(member).lower().split("-")
    folder = Path(member).parent.parent.name
    if len(tokens) >= 2 and (tokens[1] in ("m", "v") or tokens[-1] in ("m", "v") or tokens[0] in ("m", "v")):
        return tokens[1] if tokens[1] in ("m", "v") else tokens[-1] if tokens[-1] in ("m", "v") else tokens[0]
    role = tokens[1] if len(tokens) >= 3 else ""
    return re.sub(r"[^a-z0-9]+", "", f"{folder}{role}") or "misc"


def _fillets_group(speaker: str) -> str:
    """The fish are themselves; every secondary role may share an actor: one group."""
    return speaker if speaker in ("m", "v") else "roles"


def _tuxpaint_speaker(member: str) -> Optional[str]:
    """The language of ``<stamp>_desc[_<lang>].ogg`` (English without a suffix)."""
    match = re.search(r"_desc(?:_([A-Za-z]{2,3}(?:_[A-Z]{2})?))?(?:\.ogg)?$", _stem(member))
    return None if match is None else (match.group(1) or "en")


def _klettres_speaker(member: str) -> Optional[str]:
    parts = Path(member).parts
    i = parts.index("klettres") if "klettres" in parts else -3
    return parts[i + 1] if i + 1 < len(parts) else None


def _gcin_speaker(member: str) -> Optional[str]:
    """gcin-voice holds each syllable as ``<syllable>/<speaker>.ogg``."""
    return _stem(member) if _stem(member).isdigit() else None


@dataclass(frozen=True)
class Source:
    """One Debian package: where its recordings lie and who speaks each."""

    package: str
    code: str  # short prefix of its speaker ids
    roots: Tuple[str, ...]
    speaker: Callable[[str], Optional[str]]  # a member's speaker (None: not speech, skipped)
    group: Callable[[str], str] = lambda speaker: speaker  # the split group of a speaker
    pattern: str = ""  # regex a member must match (search)
    drop_speakers: Tuple[str, ...] = ()  # speakers left out whatever the checks say (counted as 'excluded')
    licence: str = ""  # as /usr/share/doc/<package>/copyright states it for the recordings


SOURCES: Dict[str, Source] = {s.package: s for s in (
    Source("festvox-ru", "sfr", ("/usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav",),
           lambda m: "nsh", licence="BSD-like"),
    Source("fillets-ng-data-cs", "sff", ("/usr/share/games/fillets-ng/sound",), _fillets_speaker, _fillets_group,
           pattern=r"/cs/[^/]+$", licence="GPL-2"),
    Source("tuxpaint-stamps-default", "stx", ("/usr/share/tuxpaint/stamps",), _tuxpaint_speaker,
           pattern=r"_desc[^/]*$", licence="GPL-2"),
    Source("klettres-data", "skl", ("/usr/share/klettres",), _klettres_speaker, licence="GPL-2+"),
    Source("gcin-voice", "sgc", ("/usr/share/gcin-voice/ogg",), _gcin_speaker,
           licence="3.ogg: GPL-3 or LGPL-3; 5.ogg: CC-BY-3"),
)}


# ---------------------------------------------------------------- checks

@dataclass
class Checks:
    """Thresholds of :func:`check_clip` (measured values per source: the recipe README)."""

    min_seconds: float = 0.15  # shorter after trimming: 'short'
    full_scale: float = 0.99  # a sample at or above this magnitude counts as clipped
    clipped_share: float = 1e-3  # share of clipped samples above this: 'clipped'
    min_level_db: float = -50.0  # active-speech RMS (dBFS) below this: 'quiet'
    min_hf4_db: float = -40.0  # energy above 4 kHz relative to the total below this: 'narrowband'
    min_hf6_db: float = -55.0  # energy above 6 kHz relative to the total below this: 'muffled'
    min_snr_db: float = 15.0  # speech vs. noise-floor percentile estimate below this: 'noisy'
    min_speaker_keep: float = 0.5  # a speaker with a smaller share of clips passing is dropped whole
    utt_seconds: Tuple[float, float] = (2.0, 5.0)  # joined utterances; clips this long or longer stay whole
    pause_seconds: Tuple[float, float] = (0.1, 0.3)
    max_seconds: float = 30.0  # longer recordings are cut
    level_db: float = -26.0  # active level of every written utterance


def trim_digital_silence(wav: np.ndarray) -> np.ndarray:
    """``wav`` without leading/trailing samples below -80 dBFS."""
    return _trim_silence(wav)


def frame_db(wav: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """RMS level (dBFS) of consecutive frames (the last partial frame dropped, or one frame if short)."""
    count = max(1, len(wav) // frame)
    frames = np.resize(wav.astype(np.float64), count * frame).reshape(count, -1) if len(wav) >= frame else \
        wav.astype(np.float64)[None, :]
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)


def active_level_db(wav: np.ndarray, span_db: float = 25.0) -> float:
    """Active-speech level: RMS (dBFS) over the frames within ``span_db`` of the loud frames (95th percentile)."""
    levels = frame_db(wav)
    active = levels[levels >= np.percentile(levels, 95) - span_db]
    return float(10 * np.log10(np.mean(10 ** (active / 10))))


def clipped_share(wav: np.ndarray, full_scale: float = 0.99) -> float:
    """Share of samples at full scale, or in flat-topped runs at the peak (a clipped then scaled clip)."""
    mono = wav if wav.ndim == 1 else wav.reshape(len(wav), -1)
    at_full = float(np.mean(np.abs(mono) >= full_scale)) if mono.size else 0.0
    return max(at_full, _flat_top_share(mono.reshape(len(mono), -1)))


def active_spectrum(wav: np.ndarray, n: int = 512) -> np.ndarray:
    """Mean power spectrum (Hann, ``n`` points, half overlap; 16 kHz bins) of the active frames only."""
    levels = frame_db(wav)
    if len(wav) >= FRAME:
        keep = np.repeat(levels >= np.percentile(levels, 95) - 25.0, FRAME)
        wav = wav[: len(keep)][keep]
    if len(wav) < n:
        wav = np.pad(wav, (0, n - len(wav)))
    frames = np.lib.stride_tricks.sliding_window_view(wav.astype(np.float64), n)[:: n // 2]
    return np.mean(np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2, axis=0)


def band_db(wav: np.ndarray, edge: float, rate: int = SAMPLE_RATE, spectrum: Optional[np.ndarray] = None) -> float:
    """Energy above ``edge`` Hz relative to the total (dB), over the active frames only (one FFT per
    frame in numpy: scipy's welch detrends every segment and cost most of the build)."""
    psd = active_spectrum(wav) if spectrum is None else spectrum
    freqs = np.fft.rfftfreq(2 * (len(psd) - 1), 1 / rate)
    return float(10 * np.log10(max(float(psd[freqs >= edge].sum()), 1e-20) / max(float(psd.sum()), 1e-20)))


def snr_db(wav: np.ndarray, speech_pct: float = 95.0, noise_pct: float = 10.0) -> float:
    """Speech level (a high percentile of frame levels) minus the noise floor (a low one); exact-zero
    (gated) frames do not count as floor."""
    levels = frame_db(wav)
    live = levels[levels > -100.0]
    if live.size < 2:
        return 0.0
    return float(np.percentile(live, speech_pct) - np.percentile(live, noise_pct))


def check_clip(wav: np.ndarray, rate: int, checks: Checks) -> Tuple[Optional[np.ndarray], str]:
    """``(16 kHz mono float32 clip, "")`` when it passes, else ``(None, reason)``; ``wav`` is [T] or [T, C]."""
    wav = wav if wav.ndim == 2 else wav[:, None]
    if clipped_share(wav, checks.full_scale) > checks.clipped_share:
        return None, "clipped"
    mono = trim_digital_silence(wav.mean(axis=1))[: int(checks.max_seconds * rate)]
    if rate != SAMPLE_RATE and len(mono):
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    mono = trim_digital_silence(mono)
    if len(mono) == 0:
        return None, "silent"
    if len(mono) < checks.min_seconds * SAMPLE_RATE:
        return None, "short"
    if active_level_db(mono) < checks.min_level_db:
        return None, "quiet"
    spectrum = active_spectrum(mono)
    if rate <= 8000 or band_db(mono, 4000.0, spectrum=spectrum) < checks.min_hf4_db:
        return None, "narrowband"
    if band_db(mono, 6000.0, spectrum=spectrum) < checks.min_hf6_db:
        return None, "muffled"
    if snr_db(mono) < checks.min_snr_db:
        return None, "noisy"
    return mono, ""


def trim_quiet_edges(wav: np.ndarray, span_db: float = 40.0, margin: float = 0.05) -> np.ndarray:
    """Cut leading/trailing frames more than ``span_db`` below the loud frames, keeping a margin."""
    levels = frame_db(wav)
    loud = np.flatnonzero(levels >= np.percentile(levels, 95) - span_db)
    pad = int(margin * SAMPLE_RATE)
    return wav[max(0, loud[0] * FRAME - pad): min(len(wav), (loud[-1] + 1) * FRAME + pad)]


def set_level(wav: np.ndarray, level_db: float, peak: float = 0.99) -> np.ndarray:
    """``wav`` at the active level ``level_db`` (dBFS), turned down further if it would peak above ``peak``."""
    gain = 10 ** ((level_db - active_level_db(wav)) / 20)
    gain = min(gain, peak / max(float(np.abs(wav).max()), 1e-9))
    return (wav * gain).astype(np.float32)


def join_clips(clips: Sequence[np.ndarray], rng: np.random.Generator, checks: Checks) -> List[np.ndarray]:
    """Utterances from one speaker's clips: a clip at least ``utt_seconds[0]`` long stays whole;
    shorter ones, in a random order, are joined with pauses into utterances of ``utt_seconds``
    (a target length drawn per utterance); a leftover shorter than the minimum is dropped."""
    low, high = (int(s * SAMPLE_RATE) for s in checks.utt_seconds)
    out = [c for c in clips if len(c) >= low]
    short = [clips[i] for i in rng.permutation(len(clips)) if len(clips[i]) < low]
    pieces: List[np.ndarray] = []
    length, target = 0, int(rng.uniform(low + (high - low) * 0.2, high))
    for clip in short:
        pause = np.zeros(int(rng.uniform(*checks.pause_seconds) * SAMPLE_RATE), np.float32)
        extra = len(clip) + (len(pause) if pieces else 0)
        if pieces and length + extra > high:  # would overflow: close this one, start the next
            if length >= low:
                out.append(np.concatenate(pieces))
            pieces, length, target = [], 0, int(rng.uniform(low + (high - low) * 0.2, high))
            extra = len(clip)
        pieces += [pause, clip] if pieces else [clip]
        length += extra
        if length >= target:
            out.append(np.concatenate(pieces))
            pieces, length, target = [], 0, int(rng.uniform(low + (high - low) * 0.2, high))
    if pieces and length >= low:
        out.append(np.concatenate(pieces))
    return out


# ---------------------------------------------------------------- extraction with a cache

@dataclass
class Utterance:
    """One manifest row: a written utterance."""

    utt_id: str
    speaker: str  # full speaker id (``<code>-<name>``)
    group: str  # split group id
    source: str
    samples: int  # at 16 kHz

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


MANIFEST, DROPS = "manifest.tsv", "drops.tsv"
FIELDS = ("utt_id", "speaker", "group", "source", "samples")


@dataclass
class Extraction:
    utterances: List[Utterance]
    drops: Dict[str, int]  # reason -> clips dropped
    fresh: bool


def _marker(source: Source, checks: Checks) -> str:
    return f"{VERSION} {source.package} {source.roots} {source.pattern} {source.drop_speakers} {checks}"


def source_members(source: Source) -> Dict[str, List[Tuple[str, Callable[[], bytes]]]]:
    """The source's audio files grouped by speaker name (files in a stable order)."""
    listing = noise_pool.Source(source.package, source.roots, music=())
    grouped: Dict[str, List[Tuple[str, Callable[[], bytes]]]] = {}
    for member, load in members(listing):
        if source.pattern and not re.search(source.pattern, member):
            continue
        speaker = source.speaker(member)
        if speaker:
            grouped.setdefault(speaker, []).append((member, load))
    return grouped


def _seed(*parts: object) -> int:
    return int(hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def _read_rows(folder: Path) -> Tuple[List[Utterance], Dict[str, int]]:
    with open(folder / MANIFEST, newline="") as f:
        rows = [Utterance(r["utt_id"], r["speaker"], r["group"], r["source"], int(r["samples"]))
                for r in csv.DictReader(f, delimiter="\t")]
    with open(folder / DROPS, newline="") as f:
        drops: Dict[str, int] = {}
        for r in csv.DictReader(f, delimiter="\t"):
            drops[r["reason"]] = drops.get(r["reason"], 0) + 1
    return rows, drops


def extract_source(source: Source, cache: Path, checks: Checks, seed: int = 0,
                   log: Callable[[str], None] = lambda line: None) -> Extraction:
    """The cached manifest when its marker matches, else decode, check, join and write the package."""
    if source.package in CORPUS_PACKAGES:
        raise ValueError(f"speech pool: '{source.package}' is the corpus's (real_speech.py): not duplicated here")
    folder = cache / source.package
    marker = folder / ".done"
    if marker.exists() and (folder / MANIFEST).exists() and marker.read_text() == _marker(source, checks):
        return Extraction(*_read_rows(folder), fresh=False)
    started = time.perf_counter()
    utts_dir = folder / "utts"
    utts_dir.mkdir(parents=True, exist_ok=True)
    for old in utts_dir.glob("*.wav"):
        old.unlink()
    rows: List[Utterance] = []
    dropped: List[Tuple[str, str, str]] = []  # (member, speaker, reason)
    for name, files in sorted(source_members(source).items()):
        speaker = f"{source.code}-{re.sub(r'[^A-Za-z0-9_]+', '', name)}"
        group = f"{source.code}-{source.group(name)}"
        clips: List[np.ndarray] = []
        kept: List[str] = []
        for member, load in files:
            if name in source.drop_speakers:
                dropped.append((member, speaker, "excluded"))
                continue
            try:
                wav, rate = decode(member, load(), checks.max_seconds + 5)
            except (ValueError, sf.LibsndfileError, RuntimeError) as e:
                dropped.append((member, speaker, f"undecodable: {str(e)[:60]}"))
                continue
            clip, reason = check_clip(wav, rate, checks) if wav.size else (None, "silent")
            if clip is None:
                dropped.append((member, speaker, reason))
                continue
            clips.append(set_level(trim_quiet_edges(clip), checks.level_db))
            kept.append(member)
        failed = [r for _, spk, r in dropped if spk == speaker]
        if clips and len(clips) < checks.min_speaker_keep * (len(clips) + len(failed)):
            worst = max(set(failed), key=failed.count)  # the speaker's commonest failure
            dropped += [(member, speaker, f"speaker-{worst}") for member in kept]
            clips = []
        utterances = join_clips(clips, np.random.default_rng(_seed(seed, speaker)), checks)
        for index, utt in enumerate(utterances):
            utt_id = f"{speaker}-{index:05d}"
            utt = set_level(utt, checks.level_db)
            sf.write(utts_dir / f"{utt_id}.wav", utt, SAMPLE_RATE, subtype="PCM_16")
            rows.append(Utterance(utt_id, speaker, group, source.package, len(utt)))
    _write_tsv(folder / MANIFEST, FIELDS, [[r.utt_id, r.speaker, r.group, r.source, r.samples]
                                           for r in rows])
    _write_tsv(folder / DROPS, ("member", "speaker", "reason"), [list(d) for d in dropped])
    marker.write_text(_marker(source, checks))
    drops: Dict[str, int] = {}
    for _, _, reason in dropped:
        drops[reason] = drops.get(reason, 0) + 1
    log(f"{source.package}: {len(rows)} utterances ({sum(r.seconds for r in rows) / 60:.1f} min, "
        f"{len({r.speaker for r in rows})} speakers), {len(dropped)} clips dropped {drops}; "
        f"{time.perf_counter() - started:.0f} s")
    return Extraction(rows, drops, fresh=True)


def _write_tsv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([str(v).replace("\t", " ") for v in row])
    tmp.replace(path)


# ---------------------------------------------------------------- speaker split and data dirs

def split_groups(minutes: Dict[str, float], seed: int = 0, valid: float = 0.05, test: float = 0.05,
                 max_heldout_minutes: float = 20.0, min_groups: int = 3) -> Dict[str, str]:
    """Split group -> set. Groups over ``max_heldout_minutes`` train; the others, in a seeded order,
    go to valid until it holds ``valid`` of all the minutes and ``min_groups`` groups, then to test
    likewise; the rest train."""
    order = sorted((g for g, m in minutes.items() if m <= max_heldout_minutes),
                   key=lambda g: hashlib.sha1(f"{seed}:{g}".encode()).hexdigest())
    total = sum(minutes.values())
    sets = {g: "train" for g in minutes}
    for name, share in (("valid", valid), ("test", test)):
        held, count = 0.0, 0
        while share > 0 and len(order) > 1 and (held < share * total or count < min_groups):
            group = order.pop(0)
            sets[group], held, count = name, held + minutes[group], count + 1
    return sets


def check_no_corpus_speakers(speakers: Iterable[str]) -> None:
    """ValueError when a pool speaker id is one of the corpus's real speakers (test_real's held out among them)."""
    try:
        from corpus_plan import REAL_HELD_OUT  # type: ignore
        corpus = {s for ids in REAL_HELD_OUT.values() for s in ids}
    except ImportError:  # pragma: no cover - the corpus builder is beside this file
        corpus = set()
    clash = sorted(set(speakers) & corpus)
    if clash:
        raise ValueError(f"speech pool: speaker '{clash[0]}' is a corpus speaker (test_real/valid/test hold it out)")


def write_data_dirs(utterances: Iterable[Utterance], cache: Path, out: Path, seed: int = 0, valid: float = 0.05,
                    test: float = 0.05, max_heldout_minutes: float = 20.0, min_groups: int = 3
                    ) -> Dict[str, List[Utterance]]:
    """train / valid / test Kaldi dirs: wav.scp = spk1.scp (clean speech), utt2spk, spk2utt, utt2dur,
    utt2num_samples, utt2source; speakers never cross sets."""
    rows = sorted(utterances, key=lambda u: u.utt_id)
    check_no_corpus_speakers(u.speaker for u in rows)
    minutes: Dict[str, float] = {}
    for u in rows:
        minutes[u.group] = minutes.get(u.group, 0.0) + u.seconds / 60
    of_group = split_groups(minutes, seed, valid, test, max_heldout_minutes, min_groups)
    sets: Dict[str, List[Utterance]] = {name: [u for u in rows if of_group[u.group] == name] for name in SETS}
    speakers = [{u.speaker for u in sets[name]} for name in SETS]
    assert not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])
    for name, members_ in sets.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        scp = [f"{u.utt_id} {cache / u.source / 'utts' / (u.utt_id + '.wav')}" for u in members_]
        spk2utt: Dict[str, List[str]] = {}
        for u in members_:
            spk2utt.setdefault(u.speaker, []).append(u.utt_id)
        tables = {
            "wav.scp": scp, "spk1.scp": scp,
            "utt2spk": [f"{u.utt_id} {u.speaker}" for u in members_],
            "spk2utt": [f"{s} {' '.join(ids)}" for s, ids in sorted(spk2utt.items())],
            "utt2dur": [f"{u.utt_id} {u.seconds:.3f}" for u in members_],
            "utt2num_samples": [f"{u.utt_id} {u.samples}" for u in members_],
            "utt2source": [f"{u.utt_id} {u.source}" for u in members_],
        }
        for file, lines in tables.items():
            _write_if_changed(folder / file, "".join(line + "\n" for line in lines))
    return sets


@dataclass
class BuildResult:
    sets: Dict[str, List[Utterance]]
    drops: Dict[str, Dict[str, int]] = field(default_factory=dict)  # package -> reason -> clips
    extracted: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)


def build(sources: Sequence[Source], cache: Path, out: Path, checks: Optional[Checks] = None, seed: int = 0,
          valid: float = 0.05, test: float = 0.05, max_heldout_minutes: float = 20.0, min_groups: int = 3,
          log: Callable[[str], None] = print) -> BuildResult:
    """Extract (or reuse) every installed source and write the three data dirs."""
    checks = checks or Checks()
    result = BuildResult({})
    rows: List[Utterance] = []
    for source in sources:
        if not any(Path(r).exists() for r in source.roots):
            result.missing.append(source.package)
            continue
        extraction = extract_source(source, cache, checks, seed, log)
        rows += extraction.utterances
        result.drops[source.package] = extraction.drops
        if extraction.fresh:
            result.extracted.append(source.package)
    result.sets = write_data_dirs(rows, cache, out, seed, valid, test, max_heldout_minutes, min_groups)
    return result


def summary(result: BuildResult) -> List[str]:
    """Markdown tables: minutes and speakers per source and set; drops per source and check."""
    lines = ["| set | source | utterances | minutes | speakers |", "|---|---|---:|---:|---:|"]
    for name, rows in result.sets.items():
        for source in sorted({u.source for u in rows}):
            part = [u for u in rows if u.source == source]
            lines.append(f"| {name} | {source} | {len(part)} | {sum(u.seconds for u in part) / 60:.1f} | "
                         f"{len({u.speaker for u in part})} |")
        lines.append(f"| {name} | all | {len(rows)} | {sum(u.seconds for u in rows) / 60:.1f} | "
                     f"{len({u.speaker for u in rows})} |")
    reasons = sorted({r.split(':')[0] for d in result.drops.values() for r in d})
    lines += ["", "| source | " + " | ".join(reasons) + " |", "|---|" + "---:|" * len(reasons)]
    for package, drops in result.drops.items():
        counts = {r: sum(v for k, v in drops.items() if k.split(':')[0] == r) for r in reasons}
        lines.append(f"| {package} | " + " | ".join(str(counts[r]) for r in reasons) + " |")
    return lines
