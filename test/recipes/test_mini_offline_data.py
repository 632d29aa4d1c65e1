"""egs/mini_offline/local/data.sh: the offline corpus, built for real at a tiny size."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import welch

from mal.io import DataDir, read_scp

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "mini_offline"
sys.path.insert(0, str(RECIPE / "local"))

import corpus_plan  # noqa: E402
import make_corpus  # noqa: E402
import noises  # noqa: E402
import real_speech  # noqa: E402
import text_pool  # noqa: E402
from mal.train import mixing  # noqa: E402

SIZES = {"train": 12, "valid": 4, "test": 4, "test_ood": 4, "test_real": 4, "test_ambient": 4, "test_colored": 4}
SNR_RANGE = (-5.0, 15.0)
KALDI_FILES = ("wav.scp", "spk1.scp", "noise1.scp", "utt2spk", "utt2num_samples", "utt2category", "utt2snr", "utt2room")
#: Sets whose utterances are all synthetic and so carry a transcript.
TEXT_SETS = ("test_ood",)
POOL_OPTIONS = ("--num_noise_clips", "2", "--num_train_rooms", "3")
#: test_real and the two sets that reuse its speakers.
HELD_OUT_FAMILY = ("test_real", *corpus_plan.SAME_SPEECH_SETS)


def snr_range(set_name: str) -> tuple:
    return corpus_plan.SAME_SPEECH_SNR if set_name in corpus_plan.SAME_SPEECH_SETS else SNR_RANGE


def run_data_sh(cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", LC_ALL="C")
    cmd = [str(RECIPE / "local" / "data.sh"), "--nj", "2", "--data_dir", "data", "--audio_dir", "audio",
           "--snr_low", str(SNR_RANGE[0]), "--snr_high", str(SNR_RANGE[1]), *POOL_OPTIONS]
    for name, count in SIZES.items():
        cmd += [f"--num_{name}", str(count)]
    cmd += extra  # later options win
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout
    return proc


def snapshot(root: Path) -> Dict[str, tuple]:
    """Every file under ``root`` -> (mtime_ns, sha1)."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mini_offline")
    run_data_sh(root)
    return root


def test_every_set_has_sorted_consistent_kaldi_files(corpus: Path) -> None:
    for name, count in SIZES.items():
        set_dir = corpus / "data" / name
        tables = {f: read_scp(set_dir / f, require_sorted=True) for f in KALDI_FILES}
        keys = list(tables["wav.scp"])
        assert len(keys) == count
        for f, table in tables.items():
            assert list(table) == keys, f"{name}/{f}: keys differ from wav.scp"
        spk2utt = read_scp(set_dir / "spk2utt", require_sorted=True)
        assert sorted(u for utts in spk2utt.values() for u in utts.split()) == keys
        for utt, spk in tables["utt2spk"].items():
            assert utt.startswith(spk + "-"), f"{utt} is not prefixed by its speaker {spk}"
            assert utt in spk2utt[spk].split()
        assert (set_dir / "text").exists() == (name in TEXT_SETS), f"{name}: text only where every utterance is synthetic"
        for utt, text in (read_scp(set_dir / "text") if name in TEXT_SETS else {}).items():
            words = text.split()
            assert 5 <= len(words) <= 11 and text == text.upper(), f"{name}/text {utt}: {text!r}"
        low, high = snr_range(name)
        assert all(low <= float(v) <= high for v in tables["utt2snr"].values()), name


def test_audio_is_16k_pcm16_mono_and_noisy_is_clean_plus_noise(corpus: Path) -> None:
    lsb = 1.0 / 32768
    for name in SIZES:
        data = DataDir(corpus / "data" / name, sample_rate=16000)
        lengths = data.num_samples()
        snr = read_scp(corpus / "data" / name / "utt2snr")
        for key in data.keys:
            info = sf.info(data.table("wav.scp")[key])
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            noisy, clean, noise = (data.audio(key, scp) for scp in ("wav.scp", "spk1.scp", "noise1.scp"))
            assert noisy.size == clean.size == noise.size == lengths[key]
            assert 0.5 <= noisy.size / 16000 <= 10.0
            assert np.abs(noisy).max() < 0.99, f"{key}: mixture reaches full scale"
            assert np.abs(noisy - clean - noise).max() <= 1.01 * lsb, f"{key}: noisy != clean + noise"
            measured, (low, high) = mixing.snr_db(clean, noise), snr_range(name)
            assert low - 0.05 <= measured <= high + 0.05, f"{key}: SNR {measured:.2f} dB out of range"
            assert measured == pytest.approx(float(snr[key]), abs=0.05), key


def test_speakers_sentences_and_noise_kinds_do_not_cross_sets(corpus: Path) -> None:
    speakers, kinds = {}, {}
    for name in SIZES:
        set_dir = corpus / "data" / name
        speakers[name] = set(read_scp(set_dir / "utt2spk").values())
        kinds[name] = set(read_scp(set_dir / "utt2category").values())
    names = list(SIZES)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if not {a, b} <= set(HELD_OUT_FAMILY):
                assert not speakers[a] & speakers[b], (a, b)
    assert all(s[:3] in ("fl-", "es-", "rk-", "rh-") for n in ("train", "valid", "test") for s in speakers[n])
    assert any(s.startswith(("rk-", "rh-")) for s in speakers["train"]), "real speech is in training"
    assert all(s.startswith("fe-") for s in speakers["test_ood"])
    assert kinds["test_ood"] <= set(noises.OOD_KINDS) and kinds["train"] <= set(noises.TRAIN_KINDS)
    assert kinds["test_real"] <= set(noises.REAL_KINDS)
    assert kinds["test_ambient"] <= set(noises.AMBIENT_KINDS) and kinds["test_colored"] == {"colored"}
    for name in corpus_plan.SAME_SPEECH_SETS:
        assert speakers[name] <= set(corpus_plan.REAL_HELD_OUT["test_real"]), name
    for held_out in ("test_ood", *HELD_OUT_FAMILY):
        assert not set(noises.TRAIN_KINDS) & kinds[held_out], held_out


def test_test_real_holds_only_held_out_real_speakers_and_unseen_real_noise() -> None:
    plans = corpus_plan.plan_corpus(corpus_plan.CorpusOptions(num_train=3000, num_test_real=200))
    real = plans["test_real"]
    held_out = set(corpus_plan.REAL_HELD_OUT["test_real"])
    assert {u.speaker.id for u in real.utterances} == held_out, "every held-out speaker speaks, nobody else"
    for name in ("train", "valid", "test"):
        assert not held_out & ({s.id for s in plans[name].speakers} | {s.id for s, _ in plans[name].babble}), name
    assert {u.noise_kind for u in real.utterances} == set(noises.REAL_KINDS)
    assert all(kind in noises.RECORDED_SOURCES for kind in noises.REAL_KINDS), "test_real noise is recorded, not generated"
    train_real = {s.id for s in plans["train"].speakers if isinstance(s, real_speech.RealSpeaker)}
    assert len(train_real) >= 12 and all(u.room == -1 for u in real.utterances)


def test_real_speech_carries_no_dc_offset_or_rumble() -> None:
    """Some ktuberling languages are recorded with a DC offset (gl: half its energy below 80 Hz):
    a reference with it makes every enhancer look worse (they all remove it); the clips are high-passed."""
    rate = 16000
    raw_low, kept_low = [], []
    for name in ("gl", "sr", "en", "da"):
        speaker = real_speech.RealSpeaker("ktuberling", name)
        for path in speaker.files()[:4]:
            raw = np.asarray(sf.read(path, dtype="float32", always_2d=True)[0].mean(axis=1), dtype=np.float64)
            clip = real_speech._clip(path, rate).astype(np.float64)
            raw_low.append(low_share(raw, sf.info(path).samplerate))
            kept_low.append(low_share(clip, rate))
            assert abs(clip.mean()) < 1e-3 * np.sqrt(np.mean(clip**2)), path
    assert max(raw_low) > 0.2, "the packaged recordings do carry low-frequency energy (else this test shows nothing)"
    assert max(kept_low) < 0.01, kept_low


def test_real_speech_is_freed_of_the_mains_hum_its_speaker_carries() -> None:
    """ktuberling Galician is recorded over 50 Hz mains hum (peaks 20-28 dB above the spectrum
    around them at 50 and 100 Hz): a reference with it costs every enhancer that removes it."""
    rate = 16000
    galician = real_speech.RealSpeaker("ktuberling", "gl")
    hum = real_speech.speaker_hum("ktuberling", "gl", rate)
    assert {50.0, 100.0} <= set(hum)
    paths = galician.files()[:real_speech.HUM_CLIPS]
    before = np.concatenate([real_speech._clip(p, rate) for p in paths])
    after = np.concatenate([real_speech._clip(p, rate, hum) for p in paths])
    assert real_speech.hum_frequencies(after, rate) == ()
    assert band_share(after, rate, 100.0) < 0.1 * band_share(before, rate, 100.0)
    assert np.sum(after.astype(np.float64) ** 2) > 0.85 * np.sum(before.astype(np.float64) ** 2)  # the speech stays
    assert real_speech.speaker_hum("ktuberling", "de", rate) == ()  # a clean speaker is left alone


def band_share(x: np.ndarray, rate: int, centre_hz: float, half_width_hz: float = 2.0) -> float:
    """Share of the signal's energy within ``half_width_hz`` of ``centre_hz``."""
    power = np.abs(np.fft.rfft(np.asarray(x, np.float64))) ** 2
    return float(power[np.abs(np.fft.rfftfreq(len(x), 1 / rate) - centre_hz) <= half_width_hz].sum() / power.sum())


def low_share(x: np.ndarray, rate: int, below_hz: float = 40.0) -> float:
    """Share of the signal's energy below ``below_hz``."""
    power = np.abs(np.fft.rfft(x)) ** 2
    return float(power[np.fft.rfftfreq(len(x), 1 / rate) < below_hz].sum() / power.sum())


def test_reverberation_reaches_the_stated_share() -> None:
    options = corpus_plan.CorpusOptions(num_valid=400, num_test=400, num_test_ood=400, reverb_share=0.25)
    plans = corpus_plan.plan_corpus(options, ["valid", "test", "test_ood", "train"])
    for name in ("valid", "test", "test_ood"):
        share = np.mean([u.room >= 0 for u in plans[name].utterances])
        assert share == pytest.approx(0.25, abs=0.065), (name, share)  # 400 draws: 3 standard errors
    assert all(u.room == -1 for u in plans["train"].utterances), "train is reverberated by dynamic mixing"


#: Audit events whose first argument is a path the process opens, lists or globs.
AUDIT_EVENTS = ("open", "glob.glob", "os.scandir", "os.listdir")
_RECORDER: List[Optional[List[str]]] = [None]  # audit hooks cannot be removed: one hook, pointed at a list
_HOOKED = [False]


def _audit(event: str, args: tuple) -> None:
    if _RECORDER[0] is not None and event in AUDIT_EVENTS and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _RECORDER[0].append(os.fsdecode(args[0]))


def build_recording_reads(argv: List[str], monkeypatch) -> List[str]:
    """Run make_corpus.main(argv) in this process (caches cleared) and return every path it opens,
    lists or globs (audit hook) and every file soundfile decodes."""
    if not _HOOKED[0]:
        sys.addaudithook(_audit)
        _HOOKED[0] = True
    opened: List[str] = []
    soundfile_init = sf.SoundFile.__init__

    def recording_init(self, file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            opened.append(os.fspath(file))
        return soundfile_init(self, file, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "__init__", recording_init)
    for cached in (noises._clip, noises._frames, real_speech._clip, real_speech.clip_files):
        cached.cache_clear()  # a file read earlier in this process must be read again, seen by the hook
    _RECORDER[0] = opened
    try:
        assert make_corpus.main(argv) == 0
    finally:
        _RECORDER[0] = None
        monkeypatch.undo()
    return opened


@lru_cache(maxsize=None)
def reserved_files() -> frozenset:
    """Every file that the evaluation-only packages (noises.AMBIENT_TEST_PACKAGES) install."""
    files = set()
    for package in noises.AMBIENT_TEST_PACKAGES:
        proc = subprocess.run(["dpkg-query", "-L", package], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        files |= {line for line in proc.stdout.splitlines() if line and os.path.isfile(line)}
    return frozenset(files)


def owner_path(path: str) -> str:
    """The file on disk behind a path or a ``zip:ARCHIVE!MEMBER`` name."""
    return os.path.realpath(path[len("zip:"):].split("!", 1)[0] if path.startswith("zip:") else path)


def reads_of_reserved_packages(paths: List[str]) -> List[str]:
    reserved = reserved_files()
    roots = tuple(os.path.dirname(f) + os.sep for f in reserved if f.endswith((".pk3", ".ogg")))
    return sorted({p for p in paths if owner_path(p) in reserved or (owner_path(p) + os.sep).startswith(roots)})


def small_build_argv(tmp_path: Path, sets: str) -> List[str]:
    return ["--data_dir", str(tmp_path / "data"), "--audio_dir", str(tmp_path / "audio"), "--nj", "1", *POOL_OPTIONS,
            "--num_train", "20", "--num_valid", "3", "--num_test", "3", "--num_test_ood", "2", "--num_test_real", "8",
            "--num_test_ambient", "8", "--num_test_colored", "3", "--sets", sets]


def test_no_recipe_reads_asterisk_core_sounds_and_training_never_reads_the_ambient_packages(tmp_path: Path, monkeypatch) -> None:
    """Build every set but test_ambient and test_colored (train with its noise and room pools) and
    record every file it reads: none of asterisk-core-sounds, none of AMBIENT_TEST_PACKAGES."""
    assert {"ufoai-sound", "btanks-data"} <= set(noises.AMBIENT_TEST_PACKAGES)
    assert any(f.endswith("0snd.pk3") for f in reserved_files()) and any("/btanks/" in f for f in reserved_files())
    sets = ",".join(s for s in corpus_plan.SET_NAMES if s not in corpus_plan.SAME_SPEECH_SETS)
    paths = build_recording_reads(small_build_argv(tmp_path, sets), monkeypatch)
    assert any("/usr/share/ktuberling/" in p for p in paths) and any("/usr/share/games/" in p for p in paths), "the hook sees reads"
    assert not [p for p in paths if "/usr/share/asterisk/sounds" in p]
    assert not reads_of_reserved_packages(paths), "a training, valid or test set (or a training pool) read an evaluation-only package"
    assert (tmp_path / "data" / "train_noise" / "wav.scp").exists()
    for path in [*RECIPE.rglob("*"), *(RECIPE.parents[1] / "tools" / "installers").glob("*.sh")]:
        if path.is_file() and path.suffix in (".py", ".sh", ".yaml"):
            text = path.read_text(errors="replace")
            assert "/usr/share/asterisk/sounds" not in text, path
            code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
            assert "asterisk-core-sounds" not in code, path


def test_ambient_noise_comes_only_from_the_reserved_packages(tmp_path: Path, monkeypatch) -> None:
    reserved = reserved_files()
    for kind in noises.AMBIENT_KINDS:
        assert {package for _, _, package in noises.AMBIENT_SOURCES[kind]} <= set(noises.AMBIENT_TEST_PACKAGES), kind
        files = noises.recorded_files(kind)
        assert files and all(owner_path(f) in reserved for f in files), kind
    for kind in sorted(set(noises.RECORDED_SOURCES) - set(noises.AMBIENT_KINDS)):  # train/valid/test and the other test sets
        assert noises.RECORDED_SOURCES[kind][1] not in noises.AMBIENT_TEST_PACKAGES, kind
        assert not reads_of_reserved_packages(noises.recorded_files(kind)), kind
    paths = build_recording_reads(small_build_argv(tmp_path, "test_ambient"), monkeypatch)
    speech_roots = tuple(root for root, _, _ in real_speech.SOURCES.values())
    system_reads = {owner_path(p) for p in paths if owner_path(p).startswith("/usr/share/")}  # not what it writes
    noise_reads = {p for p in system_reads if p.lower().endswith((".ogg", ".wav", ".pk3", ".wz", ".oga", ".flac", ".opus"))
                   and not p.startswith(speech_roots)}
    assert noise_reads and noise_reads <= reserved, sorted(noise_reads - reserved)
    kinds = set(read_scp(tmp_path / "data" / "test_ambient" / "utt2category").values())
    assert len(kinds) >= 6 and kinds <= set(noises.AMBIENT_KINDS), kinds


def test_test_ambient_and_test_colored_reuse_test_reals_speakers_with_the_same_speech() -> None:
    options = corpus_plan.CorpusOptions(num_test_ambient=64, num_test_colored=40)
    plans = corpus_plan.plan_corpus(options)
    held_out = set(corpus_plan.REAL_HELD_OUT["test_real"])
    assert {s.id for s in plans["test_real"].speakers} == held_out
    ambient, colored = plans["test_ambient"].utterances, plans["test_colored"].utterances
    for name, utts in (("test_ambient", ambient), ("test_colored", colored)):
        assert {u.speaker.id for u in utts} == held_out, name
        assert all(u.room == -1 for u in utts) and all(0.0 <= u.snr_db <= 20.0 for u in utts), name
    speech = lambda u: (u.speaker.id, u.sentence, u.level_dbfs, u.lead_s, u.trail_s)  # noqa: E731
    assert [speech(u) for u in ambient[:40]] == [speech(u) for u in colored]
    assert len({u.sentence for u in ambient}) > 50, "utterances differ"
    counts = np.bincount([noises.AMBIENT_KINDS.index(u.noise_kind) for u in ambient], minlength=len(noises.AMBIENT_KINDS))
    assert counts.min() == counts.max() == 8, "kinds are balanced"
    assert {u.noise_kind for u in colored} == {"colored"}
    assert np.std([u.snr_db for u in ambient]) > 4, "SNRs spread over the range"
    other = corpus_plan.plan_corpus(corpus_plan.CorpusOptions(num_test_ambient=64, num_test_colored=7), ["test_ambient"])
    assert other["test_ambient"].utterances == ambient, "one set's plan does not depend on the other's size"


def _band_levels_db(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    freqs, psd = welch(x, fs=16000, nperseg=512)
    return np.array([10 * np.log10(psd[(freqs >= lo) & (freqs < hi)].mean()) for lo, hi in zip(edges[:-1], edges[1:])])


EDGES = np.geomspace(100, 7000, 13)  # about third-octave bands over the speech range


def test_colored_noise_has_random_envelopes_and_is_stationary(corpus: Path) -> None:
    data = DataDir(corpus / "data" / "test_colored", sample_rate=16000)
    spectra = []
    for key in data.keys:
        noise = data.audio(key, "noise1.scp").astype(np.float64)
        whole = _band_levels_db(noise, EDGES)
        spectra.append(whole - whole.mean())
        halves = np.array_split(noise, 2)
        levels = [10 * np.log10(np.mean(h ** 2)) for h in halves]
        assert abs(levels[0] - levels[1]) < 0.5, f"{key}: level varies over time {levels}"
        octave_bands = [_band_levels_db(h, EDGES[::2]) for h in halves]
        assert np.abs(octave_bands[0] - octave_bands[1]).max() < 1.5, f"{key}: spectrum varies over time"
    for i in range(len(spectra)):
        for j in range(i + 1, len(spectra)):
            assert np.sqrt(np.mean((spectra[i] - spectra[j]) ** 2)) > 2.0, "two utterances share an envelope"


def test_colored_envelopes_are_seeded_and_not_just_power_laws() -> None:
    ctx = noises.NoiseContext(16000)
    draw = lambda seed: noises.make_noise("colored", np.random.default_rng(seed), 32000, ctx)  # noqa: E731
    np.testing.assert_array_equal(draw(3), draw(3))
    centres = np.sqrt(EDGES[:-1] * EDGES[1:])
    residuals, slopes = [], []
    for seed in range(20):
        level = _band_levels_db(draw(seed).astype(np.float64), EDGES)
        fit = np.polyfit(np.log2(centres), level, 1)
        slopes.append(fit[0])
        residuals.append(np.sqrt(np.mean((level - np.polyval(fit, np.log2(centres))) ** 2)))
    assert np.mean(np.array(residuals) > 2.0) >= 0.5, f"mostly straight spectra: {np.round(residuals, 1)}"
    assert np.ptp(slopes) > 6.0, f"tilts do not vary: {np.round(slopes, 1)}"


def test_rerun_is_a_noop_and_an_incomplete_set_is_rebuilt_identically(corpus: Path) -> None:
    before = snapshot(corpus)
    start = time.time()
    proc = run_data_sh(corpus)
    assert time.time() - start < 15
    assert proc.stdout.count("skipping") == 8, proc.stdout  # 7 sets and the training pools
    assert snapshot(corpus) == before

    (corpus / "data" / "test" / ".done").unlink()  # as if the build had died before the marker
    (corpus / "audio" / "test" / "noisy" / "stale.wav").write_bytes(b"junk")
    proc = run_data_sh(corpus)
    assert proc.stdout.count("skipping") == 7, proc.stdout
    after = snapshot(corpus)
    assert not (corpus / "audio" / "test" / "noisy" / "stale.wav").exists()
    assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in before.items()}, "rebuild is deterministic"
    assert all(after[k][0] == before[k][0] for k in after if not k.startswith(("data/test/", "audio/test/")))


def test_changed_options_rebuild_only_the_changed_set(corpus: Path, tmp_path: Path) -> None:
    proc = run_data_sh(corpus, "--num_valid", "5")
    assert "valid: 5 utterances" in proc.stdout and proc.stdout.count("skipping") == 7, proc.stdout
    assert len(read_scp(corpus / "data" / "valid" / "wav.scp")) == 5
    run_data_sh(corpus)  # restore the fixture's size for any later test


def test_bad_option_fails_with_a_clear_message(tmp_path: Path) -> None:
    proc = subprocess.run([str(RECIPE / "local" / "data.sh"), "--num_trian", "3"], cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode != 0 and "num_trian" in proc.stdout
    assert not (tmp_path / "data").exists()


def test_sentence_cleaning_keeps_plain_sentences_only() -> None:
    assert text_pool.is_plain_sentence("A bug in the code is worth two.")
    assert not text_pool.is_plain_sentence("Too short here.")
    assert not text_pool.is_plain_sentence("Call 555 now or you will regret it.")
    assert not text_pool.is_plain_sentence("The NASA budget was cut again this year.")
    assert not text_pool.is_plain_sentence("He said 'no way' to all of them.")
    assert not text_pool.is_plain_sentence("It is a well-known fact among us.")
    assert text_pool.transcript("Don't panic, it's only a test!") == "DON'T PANIC IT'S ONLY A TEST"
    sentences = text_pool.load_sentences(min_words=5, max_words=11)
    assert len(sentences) > 3000
    parts = text_pool.partition(sentences, corpus_plan.TEXT_FRACTIONS, seed=0)
    assert sum(len(p) for p in parts.values()) == len(sentences)
    assert len(set().union(*map(set, parts.values()))) == len(sentences)


def test_mix_never_clips_and_keeps_the_snr() -> None:
    rng = np.random.default_rng(0)
    clean = rng.standard_normal(16000).astype(np.float32)
    noise = rng.standard_normal(16000).astype(np.float32)
    c, n, y, gain_db = mixing.mix(clean, noise, snr=-5.0, level_dbfs=-3.0)
    assert gain_db < 0 and max(np.abs(c).max(), np.abs(n).max(), np.abs(y).max()) <= mixing.MAX_PEAK + 1e-6
    assert mixing.snr_db(c, n) == pytest.approx(-5.0, abs=1e-3)
    np.testing.assert_allclose(y, c + n, atol=1e-6)
    c, n, y, gain_db = mixing.mix(clean, noise, snr=10.0, level_dbfs=-30.0)
    assert gain_db == 0.0 and 10 * np.log10(mixing.power(c)) == pytest.approx(-30.0, abs=1e-3)


@pytest.mark.parametrize("kind", sorted(set(noises.NOISE_KINDS) - {"babble"}))
def test_each_noise_kind_gives_unit_rms_noise(kind: str) -> None:
    x = noises.make_noise(kind, np.random.default_rng(1), 8000, noises.NoiseContext(16000))
    assert x.shape == (8000,) and x.dtype == np.float32
    assert np.sqrt(np.mean(x.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-3)


def test_coloured_noise_slopes_and_babble_excludes_the_target() -> None:
    ctx = noises.NoiseContext(16000)
    low_share = {}
    for kind in ("white", "pink", "brown"):
        spec = np.abs(np.fft.rfft(noises.make_noise(kind, np.random.default_rng(2), 32000, ctx))) ** 2
        low_share[kind] = spec[: spec.size // 16].sum() / spec.sum()  # share of power below 500 Hz
    assert low_share["white"] < low_share["pink"] < low_share["brown"]
    voice = np.sin(np.arange(16000) * 0.1).astype(np.float32)
    only_target = noises.NoiseContext(16000, [("spk-a", voice)], target_speaker="spk-a")
    with pytest.raises(noises.NoiseError, match="other than 'spk-a'"):
        noises.make_noise("babble", np.random.default_rng(3), 8000, only_target)
