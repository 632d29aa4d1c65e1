"""A large recorded training noise pool, extracted once per machine from Debian game packages.

Every audio file of a source (a directory, a zip archive such as 0ad's ``public.zip``, or an
OpenClonk C4Group such as ``Sound.ocg``) is decoded, mixed to mono, resampled to 16 kHz and
checked: digital silence is trimmed, and clips that are silent, too short, clipped (flat tops)
or narrowband (no energy above 4 kHz) are dropped. Each kept clip gets a kind from its file and
folder names (``rain``, ``forest-night``, ``music-0ad``, ...) and is cached as a PCM-16 wav
under the cache directory, with one manifest per package; a package whose manifest is complete
is not read again. The pool is split into train / valid / test by clip (a seeded hash of the
clip id, so a clip's set does not depend on which other packages are present).

The evaluation-only packages (:data:`AMBIENT_TEST_PACKAGES`, test_ambient) are refused, by
name and by the files they own.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import welch

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:  # defined by the test_ambient builder; the same three names otherwise
    from noises import AMBIENT_TEST_PACKAGES  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the other builder being present
    AMBIENT_TEST_PACKAGES: Tuple[str, ...] = ("ufoai-sound", "btanks-data", "searchandrescue-data")

SAMPLE_RATE = 16000
VERSION = "1"  # bump when extraction or checks change: cached packages are then re-extracted
AUDIO_EXTENSIONS = (".wav", ".ogg", ".oga", ".flac", ".opus", ".mp3", ".wv")
DEFAULT_CACHE = Path(os.environ.get("MAL_CACHE", Path.home() / ".cache" / "mal")) / "noise_pool"
SETS = ("pool_train", "pool_valid", "pool_test")

#: Path words that mark speech (voice lines, unit replies): never noise.
SPEECH_WORDS = ("voice", "voices", "speech", "dialog", "dialogue", "narrat", "taunt", "vo", "talk", "say",
                "acknowledge", "ack", "select", "selected", "respond", "response", "order", "orders",
                "chat", "announcer", "commentator", "tutorial", "greet", "warcry", "battlecry", "yes", "no")
#: Words that say nothing about the sound: skipped when naming a kind.
GENERIC_WORDS = {"sound", "sounds", "snd", "sfx", "fx", "audio", "data", "loop", "looped", "loops", "amb",
                 "ambient", "ambience", "ambiance", "ambiences", "effect", "effects", "misc", "other", "general",
                 "generic", "default", "mono", "stereo", "short", "long", "new", "old", "var", "alt", "version",
                 "v", "a", "b", "c", "d", "e", "f", "l", "r", "s", "x", "the", "of", "and", "ogg", "wav",
                 "ocg", "ocd", "ocs", "ocf", "public", "mods", "audio", "art", "base", "share", "usr", "games",
                 "data", "res", "resources", "content", "media", "samples", "sample", "sounds", "sound"}


@dataclass(frozen=True)
class Source:
    """One Debian package: where its audio lies, which paths are music and which to skip."""

    package: str
    roots: Tuple[str, ...]  # directories, zip archives (``*.zip``, ``*.pk3``) or C4Groups (``*.ocg``)
    music: Tuple[str, ...] = ("music",)  # a path containing one of these (as a folder/file word) is music
    skip: Tuple[str, ...] = ()  # path substrings never read (besides SPEECH_WORDS)
    music_kind: str = ""  # defaults to ``music-<package>``
    prefix_folder: bool = False  # name kinds "<folder>-<stem>" (files named by action, folders by thing)
    kind: str = ""  # one kind for every clip that is not music (files named by number)


SOURCES: Dict[str, Source] = {s.package: s for s in (
    Source("0ad-data", ("/usr/share/games/0ad/mods/public/public.zip",),  # interface: musical stingers
           skip=("audio/voice/", "actor/human/death", "/dialogue/", "audio/interface/")),
    Source("megaglest-data", ("/usr/share/games/megaglest/data", "/usr/share/games/megaglest/tilesets",
                              "/usr/share/games/megaglest/techs", "/usr/share/games/megaglest/scenarios"),
           skip=("/units/",)),  # unit folders hold the unit voice replies
    Source("openclonk-data", ("/usr/share/games/openclonk/Sound.ocg", "/usr/share/games/openclonk/Music.ocg"),
           skip=("Clonk.ocg/Skin.ocg",), prefix_folder=True),  # the Clonk skins are voices
    Source("widelands-data", ("/usr/share/games/widelands/data/sound", "/usr/share/games/widelands/data/music"),
           skip=("/scenario",)),
    Source("scorched3d-data", ("/usr/share/games/scorched3d/data/globalmods",)),
    Source("boswars-data", ("/usr/share/games/boswars/units", "/usr/share/games/boswars/sounds",
                            "/usr/share/games/boswars/music"),
           skip=(".ready.", ".underattack.", "_select", "_die", "/ui/")),
    Source("endless-sky-data", ("/usr/share/games/endless-sky/sounds",)),
    Source("lugaru-data", ("/usr/share/games/lugaru/Sounds",)),
    Source("lmms-common", ("/usr/share/lmms/samples",),
           music=("basses", "bassloops", "beats", "drums", "drumsynth", "instruments", "latin", "shapes")),
    Source("minetest-data", ("/usr/share/games/minetest/games/minetest_game",)),
    Source("teeworlds-data", ("/usr/share/games/teeworlds/data/audio",)),
    Source("bucklespring-data", ("/usr/share/buckle/wav",), music=(), kind="keyboard"),
    Source("supertuxkart-data", ("/usr/share/games/supertuxkart/data/sfx", "/usr/share/games/supertuxkart/data/music",
                                 "/usr/share/games/supertuxkart/data/library", "/usr/share/games/supertuxkart/data/karts"),
           skip=("Scream",)),
)}


@dataclass
class Clip:
    """One manifest row: a kept clip (``reason`` empty) or a dropped file (``reason`` says why)."""

    clip_id: str
    kind: str
    source: str
    member: str
    seconds: float
    native_rate: int
    reason: str = ""


@dataclass
class Checks:
    """Thresholds of :func:`check_clip`."""

    min_seconds: float = 0.3
    max_seconds: float = 180.0  # longer clips are cut (music: ``max_music_seconds``): whole ambience loops
    max_music_seconds: float = 45.0
    silence_dbfs: float = -60.0  # RMS of the trimmed clip below this: silent
    clipped_share: float = 1e-3  # share of samples in flat-topped runs at the peak
    min_hf_db: float = -45.0  # energy above 4 kHz relative to the total, below this: narrowband


# ---------------------------------------------------------------- evaluation packages

def package_files(package: str) -> List[str]:
    """The files dpkg says ``package`` owns (empty when it is not installed)."""
    listing = Path(f"/var/lib/dpkg/info/{package}.list")
    if not listing.exists():
        listing = next(iter(Path("/var/lib/dpkg/info").glob(f"{package}:*.list")), listing)
    return listing.read_text().split("\n") if listing.exists() else []


def refuse_evaluation_sources(sources: Sequence[Source], owned: Optional[Dict[str, List[str]]] = None) -> None:
    """ValueError when a source is, or reads files of, an evaluation-only package."""
    for source in sources:
        if source.package in AMBIENT_TEST_PACKAGES:
            raise ValueError(f"noise pool: source package '{source.package}' is evaluation-only (test_ambient): refused")
    owned = owned if owned is not None else {p: package_files(p) for p in AMBIENT_TEST_PACKAGES}
    for package, files in owned.items():
        audio = [f for f in files if f.lower().endswith(AUDIO_EXTENSIONS + (".pk3", ".zip"))]
        for source in sources:
            for root in source.roots:
                inside = [f for f in audio if f == root or f.startswith(root.rstrip("/") + "/")]
                if inside:
                    raise ValueError(f"noise pool: source '{source.package}' root {root} holds {inside[0]} of the "
                                     f"evaluation-only package '{package}': refused")


# ---------------------------------------------------------------- reading the packages

Member = Tuple[str, Callable[[], bytes]]  # (path inside the package, bytes loader)


def _unscramble(header: bytes) -> bytes:
    data = bytearray(header)
    for i in range(0, len(data) - 2, 3):
        data[i], data[i + 2] = data[i + 2], data[i]
    return bytes(b ^ 237 for b in data)


C4_HEADER, C4_ENTRY = 204, 316


def c4group_members(data: bytes, prefix: str) -> Iterator[Tuple[str, bytes]]:
    """Files of an OpenClonk C4Group (gzip with its magic changed; nested groups recursed)."""
    if data[:2] == b"\x1e\x8c":
        data = gzip.decompress(b"\x1f\x8b" + data[2:])
    header = _unscramble(data[:C4_HEADER])
    if not header.startswith(b"RedWolf Design GrpFolder"):
        raise ValueError(f"{prefix}: not a C4Group")
    (entries,) = struct.unpack_from("<i", header, 36)
    base = C4_HEADER + entries * C4_ENTRY
    for i in range(entries):
        core = data[C4_HEADER + i * C4_ENTRY: C4_HEADER + (i + 1) * C4_ENTRY]
        name = core[:260].split(b"\0", 1)[0].decode("latin-1")
        _packed, child, size, _r1, offset = struct.unpack_from("<iiiii", core, 260)
        body = data[base + offset: base + offset + size]
        if child:
            yield from c4group_members(body, f"{prefix}/{name}")
        else:
            yield f"{prefix}/{name}", body


def members(source: Source) -> Iterator[Member]:
    """Audio files of a source, in a stable order."""
    for root in source.roots:
        path = Path(root)
        if not path.exists():
            continue
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix.lower() in AUDIO_EXTENSIONS:
                    yield str(file), file.read_bytes
        elif path.suffix.lower() in (".zip", ".pk3"):
            with zipfile.ZipFile(path) as archive:
                names = sorted(n for n in archive.namelist() if n.lower().endswith(AUDIO_EXTENSIONS))
                for name in names:
                    yield f"{path}!{name}", (lambda n=name, a=archive: a.read(n))
        elif path.suffix.lower() == ".ocg":
            for name, body in c4group_members(path.read_bytes(), str(path)):
                if name.lower().endswith(AUDIO_EXTENSIONS):
                    yield name, (lambda b=body: b)


def decode(name: str, data: bytes, max_seconds: Optional[float] = None) -> Tuple[np.ndarray, int]:
    """``([T, C] float32, rate)``, at most ``max_seconds`` of it: soundfile, or ffmpeg / wvunpack
    for what libsndfile cannot read."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            frames = f.frames if max_seconds is None else min(f.frames, int(max_seconds * f.samplerate))
            return f.read(frames, dtype="float32", always_2d=True), int(f.samplerate)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    tool = shutil.which("ffmpeg")
    command = [tool, "-v", "error", "-i", "pipe:0", "-f", "wav", "pipe:1"] if tool else None
    if command is None and name.lower().endswith(".wv") and shutil.which("wvunpack"):
        command = ["wvunpack", "-q", "-y", "-", "-o", "-"]
    if command is None:
        raise ValueError("undecodable (no ffmpeg)")
    out = subprocess.run(command, input=data, capture_output=True, check=False)
    if out.returncode != 0 or not out.stdout:
        raise ValueError(f"undecodable: {out.stderr.decode(errors='replace').strip()[:80]}")
    wav, rate = sf.read(io.BytesIO(out.stdout), dtype="float32", always_2d=True)
    return (wav if max_seconds is None else wav[: int(max_seconds * rate)]), int(rate)


# ---------------------------------------------------------------- checks and kinds

def _flat_top_share(wav: np.ndarray) -> float:
    """Share of samples in runs of >= 3 at the channel's peak magnitude (a clipped waveform)."""
    worst = 0.0
    for channel in wav.T:
        mag = np.abs(channel)
        peak = float(mag.max())
        if peak < 0.3:
            continue
        at = mag >= peak * 0.9999
        run = at[:-2] & at[1:-1] & at[2:]
        worst = max(worst, float(run.sum()) / len(channel))
    return worst


def _trim_silence(wav: np.ndarray, floor: float = 10 ** (-80 / 20)) -> np.ndarray:
    loud = np.flatnonzero(np.abs(wav) > floor)
    return wav[loud[0]: loud[-1] + 1] if loud.size else wav[:0]


def high_band_db(wav: np.ndarray, rate: int = SAMPLE_RATE, edge: float = 4000.0) -> float:
    """Energy above ``edge`` Hz relative to the total (dB)."""
    freqs, psd = welch(wav, rate, nperseg=min(512, len(wav)))
    total = float(psd.sum())
    return 10 * np.log10(max(float(psd[freqs >= edge].sum()), 1e-20) / max(total, 1e-20))


def check_clip(wav: np.ndarray, rate: int, checks: Checks, music: bool = False) -> Tuple[Optional[np.ndarray], str]:
    """``(16 kHz mono float32 clip, "")`` when it passes, else ``(None, reason)``; ``wav`` is [T, C]."""
    if _flat_top_share(wav) > checks.clipped_share:
        return None, "clipped"
    limit = checks.max_music_seconds if music else checks.max_seconds
    mono = _trim_silence(wav.mean(axis=1))[: int(limit * rate)]
    if rate != SAMPLE_RATE and len(mono):
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    mono = _trim_silence(mono)
    if len(mono) < checks.min_seconds * SAMPLE_RATE:
        return None, "silent" if len(mono) == 0 else "short"
    if 10 * np.log10(float(np.mean(mono.astype(np.float64) ** 2)) + 1e-20) < checks.silence_dbfs:
        return None, "silent"
    if rate <= 8000 or high_band_db(mono) < checks.min_hf_db:
        return None, "narrowband"
    return mono, ""


def _words(text: str) -> List[str]:
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return [w for w in re.split(r"[^a-z]+", text.lower()) if w]


def is_speech(member: str) -> bool:
    """True when a word of the path names speech (voice lines, replies)."""
    words = set(_words(member))
    return bool(words & set(SPEECH_WORDS)) or any(w.startswith(("voice", "speech", "narrat", "dialog")) for w in words)


def is_music(source: Source, member: str) -> bool:
    words = set(_words(member))
    return any(m in words or f"/{m}" in member.lower() for m in source.music)


def kind_of(source: Source, member: str) -> str:
    """The kind a path names: its file stem's words, prefixed by its folder's when generic."""
    if is_music(source, member):
        return source.music_kind or f"music-{source.package.removesuffix('-data').removesuffix('-common')}"
    if source.kind:
        return source.kind
    parts = re.split(r"[/!]", member)
    ignore = GENERIC_WORDS | set(_words(source.package)) | {"games", "usr", "share", "sky", "megapack", "globalmods"}
    stem = [w for w in _words(Path(parts[-1]).stem) if w not in ignore][:3]
    folders = [[w for w in _words(p) if w not in ignore] for p in parts[:-1]]
    folder = next((f for f in reversed(folders) if f), [])
    generic_stem = not stem or all(len(w) <= 2 or w in GENERIC_FIRST for w in stem)
    prefix = generic_stem or (source.prefix_folder and folder[-1:] != stem[:1])
    words = (folder[-1:] + stem) if prefix else stem
    return "-".join(words[:3]) or "noise"


#: Stem words that need their folder's name to say what sounds.
GENERIC_FIRST = {
        "day", "night", "idle", "start", "stop", "run", "move", "attack", "hit", "die", "death", "impact",
        "small", "big", "large", "medium", "low", "high", "light", "heavy", "fast", "slow", "open", "close"}


def clip_id(package: str, member: str) -> str:
    """A Kaldi-safe, unique id for a file of a package."""
    digest = hashlib.sha1(member.encode()).hexdigest()[:8]
    slug = re.sub(r"[^A-Za-z0-9]+", "_", Path(member.split("!")[-1]).stem).strip("_")[:40]
    return f"{package}-{slug}-{digest}"


# ---------------------------------------------------------------- extraction with a cache

MANIFEST = "manifest.tsv"
FIELDS = ("clip_id", "kind", "source", "member", "seconds", "native_rate", "reason")


def _marker(source: Source, checks: Checks) -> str:
    """What the cached clips depend on (kinds are named again whenever the data dirs are written)."""
    return f"{VERSION} {source.package} {source.roots} {source.skip} {checks}"


def read_manifest(path: Path) -> List[Clip]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [Clip(r["clip_id"], r["kind"], r["source"], r["member"], float(r["seconds"]), int(r["native_rate"]),
                 r["reason"]) for r in rows]


def extract_source(source: Source, cache: Path, checks: Checks,
                   log: Callable[[str], None] = lambda line: None) -> Tuple[List[Clip], bool]:
    """``(manifest rows, extracted now)``: the cached manifest when complete, else decode the package."""
    folder = cache / source.package
    manifest, marker = folder / MANIFEST, folder / ".done"
    if marker.exists() and manifest.exists() and marker.read_text() == _marker(source, checks):
        return read_manifest(manifest), False
    refuse_evaluation_sources([source])
    started = time.perf_counter()
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    rows: List[Clip] = []
    for member, load in members(source):
        cid = clip_id(source.package, member)
        if is_speech(member) or any(s in member for s in source.skip):
            continue
        music = is_music(source, member)
        kind = kind_of(source, member)
        try:
            wav, rate = decode(member, load(), 30 + (checks.max_music_seconds if music else checks.max_seconds))
        except (ValueError, sf.LibsndfileError, RuntimeError) as e:
            rows.append(Clip(cid, kind, source.package, member, 0.0, 0, f"undecodable: {str(e)[:60]}"))
            continue
        clip, reason = check_clip(wav, rate, checks, music) if wav.size else (None, "empty")
        if clip is None:
            rows.append(Clip(cid, kind, source.package, member, len(wav) / max(rate, 1), rate, reason))
            continue
        sf.write(folder / "clips" / f"{cid}.wav", clip, SAMPLE_RATE, subtype="PCM_16")
        rows.append(Clip(cid, kind, source.package, member, len(clip) / SAMPLE_RATE, rate))
    tmp = manifest.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(FIELDS)
        for r in rows:
            writer.writerow([r.clip_id, r.kind, r.source, r.member.replace("\t", " "), f"{r.seconds:.3f}",
                             r.native_rate, r.reason])
    tmp.replace(manifest)
    marker.write_text(_marker(source, checks))
    kept = [r for r in rows if not r.reason]
    log(f"{source.package}: {len(kept)} clips kept ({sum(r.seconds for r in kept) / 60:.1f} min, "
        f"{len({r.kind for r in kept})} kinds), {len(rows) - len(kept)} dropped; {time.perf_counter() - started:.0f} s")
    return rows, True


# ---------------------------------------------------------------- splits and data dirs

def split_of(cid: str, seed: int, valid: float, test: float) -> str:
    """The set of a clip: a seeded hash of its id (independent of the other clips)."""
    u = int(hashlib.sha1(f"{seed}:{cid}".encode()).hexdigest()[:15], 16) / 16 ** 15
    return SETS[1] if u < valid else SETS[2] if u < valid + test else SETS[0]


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


def write_data_dirs(clips: Iterable[Clip], cache: Path, out: Path, seed: int = 0, valid: float = 0.05,
                    test: float = 0.05) -> Dict[str, List[Clip]]:
    """pool_train / pool_valid / pool_test Kaldi dirs (wav.scp, utt2category, utt2dur, utt2source)."""
    sets: Dict[str, List[Clip]] = {name: [] for name in SETS}
    for clip in sorted(clips, key=lambda c: c.clip_id):
        if not clip.reason:
            sets[split_of(clip.clip_id, seed, valid, test)].append(clip)
    for name, rows in sets.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        tables = {
            "wav.scp": [f"{c.clip_id} {cache / c.source / 'clips' / (c.clip_id + '.wav')}" for c in rows],
            "utt2category": [f"{c.clip_id} {c.kind}" for c in rows],
            "utt2dur": [f"{c.clip_id} {c.seconds:.3f}" for c in rows],
            "utt2source": [f"{c.clip_id} {c.source}" for c in rows],
        }
        for file, lines in tables.items():
            _write_if_changed(folder / file, "".join(line + "\n" for line in lines))
    return sets


def summary(sets: Dict[str, List[Clip]]) -> List[str]:
    """Markdown table rows: clips, minutes, kinds, packages per set."""
    lines = ["| set | clips | minutes | kinds | music kinds | packages |", "|---|---:|---:|---:|---:|---:|"]
    for name, rows in sets.items():
        kinds = {c.kind for c in rows}
        lines.append(f"| {name} | {len(rows)} | {sum(c.seconds for c in rows) / 60:.1f} | {len(kinds)} | "
                     f"{sum(k.startswith('music-') for k in kinds)} | {len({c.source for c in rows})} |")
    return lines


@dataclass
class BuildResult:
    sets: Dict[str, List[Clip]]
    extracted: List[str] = field(default_factory=list)  # packages decoded in this run
    missing: List[str] = field(default_factory=list)  # packages not installed


def build(sources: Sequence[Source], cache: Path, out: Path, checks: Optional[Checks] = None, seed: int = 0,
          valid: float = 0.05, test: float = 0.05, log: Callable[[str], None] = print) -> BuildResult:
    """Extract (or reuse) every installed source and write the three data dirs."""
    refuse_evaluation_sources(sources)
    checks = checks or Checks()
    result = BuildResult({})
    clips: List[Clip] = []
    for source in sources:
        if not any(Path(r).exists() for r in source.roots):
            result.missing.append(source.package)
            continue
        rows, fresh = extract_source(source, cache, checks, log)
        for row in rows:  # the source's current naming
            row.kind = kind_of(source, row.member)
        clips += rows
        if fresh:
            result.extracted.append(source.package)
    result.sets = write_data_dirs(clips, cache, out, seed, valid, test)
    return result
