"""The large real speech pool: per-clip checks, joining, speaker-disjoint splits, caching, data dirs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from mal.io import DataDir, read_scp

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "mini_offline"
sys.path.insert(0, str(RECIPE / "local"))

import speech_pool  # noqa: E402
from speech_pool import Checks, Source  # noqa: E402


def word(seconds: float, rate: int, seed: int, f0: float = 140.0) -> np.ndarray:
    """A voiced 'word': harmonics up to Nyquist with a 1/k roll-off and a smooth envelope, at about -20 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = f0 * rng.uniform(0.9, 1.1)
    ks = np.arange(1, int(min(rate / 2, 9000) / f0))
    wav = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k for k in ks)
    wav = wav * np.hanning(len(t)) ** 0.5
    return (0.1 * wav / np.sqrt(np.mean(wav ** 2))).astype(np.float32)


def with_pauses(core: np.ndarray, rate: int, seed: int, floor_db: float = -65.0, pause: float = 0.3) -> np.ndarray:
    """``core`` between two pauses of a faint noise floor (a recording, not a cut-out)."""
    rng = np.random.default_rng(seed + 1000)
    pad = np.zeros(int(pause * rate), np.float32)
    wav = np.concatenate([pad, core, pad])
    return (wav + 10 ** (floor_db / 20) * rng.standard_normal(len(wav))).astype(np.float32)


def clips(rate: int = 44100) -> Dict[str, np.ndarray]:
    """One clip per check outcome."""
    good = with_pauses(word(0.8, rate, 1), rate, 1)
    lowpass = lambda x, hz: sosfilt(butter(16, hz, fs=rate, output="sos"), x).astype(np.float32)  # noqa: E731
    return {
        "good": good,
        "padded": np.concatenate([np.zeros(rate, np.float32), good, np.zeros(rate, np.float32)]),
        "clipped": np.clip(good * 8, -1.0, 1.0),
        "narrowband": with_pauses(lowpass(word(0.8, rate, 2), 3000), rate, 2),
        "muffled": with_pauses(lowpass(word(0.8, rate, 3), 4500), rate, 3),
        "noisy": with_pauses(word(0.8, rate, 4), rate, 4, floor_db=-26.0),
        "quiet": good * 10 ** (-45 / 20),
        "silent": np.zeros(rate, np.float32),
        "short": with_pauses(word(0.06, rate, 5), rate, 5, pause=0.0),
    }


EXPECTED = {"good": "", "padded": "", "clipped": "clipped", "narrowband": "narrowband", "muffled": "muffled",
            "noisy": "noisy", "quiet": "quiet", "silent": "silent", "short": "short"}


def test_each_check_keeps_or_drops_as_it_should():
    checks = Checks()
    for name, wav in clips().items():
        out, reason = speech_pool.check_clip(wav, 44100, checks)
        assert reason == EXPECTED[name], name
        assert (out is None) == bool(reason), name
        if out is not None:
            assert out.dtype == np.float32 and out.ndim == 1


def test_check_functions_measure_what_they_name():
    rate = 16000
    c = {k: speech_pool.check_clip(v, 44100, Checks(min_snr_db=-99, min_hf4_db=-999, min_hf6_db=-999,
                                                   clipped_share=1.0, min_level_db=-999))[0] for k, v in clips().items()
         if k not in ("silent", "short")}
    # active level: a 0.5-amplitude tone (-9.03 dBFS RMS) with as much digital silence as tone
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    gated = np.concatenate([tone, np.zeros(rate)])
    assert speech_pool.active_level_db(gated) == pytest.approx(-9.03, abs=0.1)
    assert 10 * np.log10(np.mean(gated ** 2)) < -11.9  # the plain RMS counts the silence
    assert speech_pool.clipped_share(clips()["clipped"]) > 0.05 > speech_pool.clipped_share(clips()["good"])
    assert speech_pool.band_db(c["narrowband"], 4000) < -40 < speech_pool.band_db(c["good"], 4000)
    assert speech_pool.band_db(c["muffled"], 6000) < -55 < speech_pool.band_db(c["muffled"], 4000)
    assert speech_pool.snr_db(c["noisy"]) < 15 < 30 < speech_pool.snr_db(c["good"])
    assert speech_pool.snr_db(gated) < 1.0  # exact zeros are no floor: a steady tone has no SNR to speak of


def test_digital_silence_is_trimmed():
    wav = clips()["padded"]
    out, _ = speech_pool.check_clip(wav, 44100, Checks())
    good, _ = speech_pool.check_clip(clips()["good"], 44100, Checks())
    assert len(out) == pytest.approx(len(good), abs=4)
    assert abs(out[0]) > 0 and abs(out[-1]) > 0


def test_joining_gives_2_to_5_s_of_one_speaker():
    rng = np.random.default_rng(0)
    checks = Checks()
    short = [np.full(int(rng.uniform(0.2, 1.2) * 16000), i + 1, np.float32) for i in range(60)]
    whole = np.full(3 * 16000, 99, np.float32)
    utts = speech_pool.join_clips(short + [whole], np.random.default_rng(1), checks)
    lengths = [len(u) / 16000 for u in utts]
    assert all(2.0 <= s <= 5.0 for s in lengths), lengths
    assert any(np.all(u == 99) for u in utts)  # a clip long enough stays whole
    used = {int(v) for u in utts for v in np.unique(u) if v not in (0, 99)}
    assert len(used) >= 55 and len(utts) >= 10  # at most the last few clips are left over
    for u in utts:  # pauses between the pieces
        if not np.all(u == 99) and len(np.unique(u)) > 2:
            assert 0 in np.unique(u)


def test_split_is_speaker_disjoint_seeded_and_keeps_big_groups_in_train():
    minutes = {f"g{i}": 3.0 for i in range(30)} | {"big": 90.0}
    a = speech_pool.split_groups(minutes, seed=0)
    assert a == speech_pool.split_groups(minutes, seed=0)
    assert a != speech_pool.split_groups(minutes, seed=1)
    assert a["big"] == "train"
    assert sum(s == "valid" for s in a.values()) == 3 and sum(s == "test" for s in a.values()) == 3  # >= 3 groups
    wide = speech_pool.split_groups(minutes, seed=0, valid=0.2, test=0.1)  # >= 36 and >= 18 of 180 minutes
    assert sum(s == "valid" for s in wide.values()) == 12 and sum(s == "test" for s in wide.values()) == 6
    assert sorted(speech_pool.split_groups({"x": 1.0, "y": 1.0}).values()) == ["train", "valid"]  # one stays


def test_speaker_naming_of_the_packages():
    assert speech_pool._fillets_speaker("/s/sound/airplane/cs/let-m-divna.ogg") == "m"
    assert speech_pool._fillets_speaker("/s/sound/fdto/cs/hybeme-v.ogg") == "v"
    assert speech_pool._fillets_speaker("/s/sound/cabin1/cs/k1-pap-kruty.ogg") == "cabin1pap"
    assert speech_pool._fillets_speaker("/s/sound/briefcase/cs/help1.ogg") == "briefcase"
    assert speech_pool._fillets_group("cabin1pap") == "roles" and speech_pool._fillets_group("m") == "m"
    assert speech_pool._tuxpaint_speaker("/t/stamps/a/001penny_desc_el.ogg") == "el"
    assert speech_pool._tuxpaint_speaker("/t/stamps/a/001penny_desc.ogg") == "en"
    assert speech_pool._tuxpaint_speaker("/t/stamps/a/x_desc_pt_BR.wav") == "pt_BR"
    assert speech_pool._gcin_speaker("/usr/share/gcin-voice/ogg/ba/5.ogg") == "5"
    assert speech_pool._klettres_speaker("/usr/share/klettres/en_GB/alpha/a.ogg") == "en_GB"


def write_package(root: Path) -> Source:
    """Three speakers of short words (one mostly noisy), one of sentences, and every failing kind of clip."""
    rate = 44100
    for spk, seed in (("anna", 0), ("boris", 100)):
        (root / spk).mkdir(parents=True)
        for i in range(14):
            sf.write(root / spk / f"w{i:02d}.ogg", with_pauses(word(0.5 + 0.05 * i, rate, seed + i), rate, seed + i), rate)
    (root / "noisyman").mkdir()
    for i in range(6):
        wav = with_pauses(word(0.6, rate, 200 + i), rate, 200 + i, floor_db=-26.0 if i < 4 else -65.0)
        sf.write(root / "noisyman" / f"w{i}.wav", wav, rate)
    (root / "reader").mkdir()
    for i in range(3):
        sf.write(root / "reader" / f"s{i}.wav", with_pauses(word(3.0, 16000, 300 + i, f0=110), 16000, 300 + i), 16000)
    for name, wav in clips().items():
        if EXPECTED[name]:
            sf.write(root / "anna" / f"bad_{name}.wav", wav, rate)
    return Source("fake-speech", "sxx", (str(root),), lambda m: Path(m).parent.name)


def build(tmp_path: Path, source: Source):
    return speech_pool.build([source], tmp_path / "cache", tmp_path / "data", valid=0.25, test=0.25, min_groups=1,
                             log=lambda line: None)


def test_build_writes_speaker_disjoint_dirs_and_counts_drops(tmp_path):
    source = write_package(tmp_path / "pkg")
    result = build(tmp_path, source)
    assert result.extracted == ["fake-speech"]
    drops = result.drops["fake-speech"]
    for reason in ("clipped", "narrowband", "muffled", "noisy", "quiet", "silent", "short"):
        assert drops[reason] >= 1, reason
    assert drops["speaker-noisy"] == 2  # noisyman: 4 of 6 clips noisy, so the 2 clean ones go too
    speakers = {}
    for name in speech_pool.SETS:
        folder = tmp_path / "data" / name
        data = DataDir(folder)  # tables agree and are sorted
        assert read_scp(folder / "wav.scp") == read_scp(folder / "spk1.scp")
        utt2spk = read_scp(folder / "utt2spk")
        speakers[name] = set(utt2spk.values())
        for key, path in read_scp(folder / "wav.scp").items():
            info = sf.info(path)
            assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.channels == 1
            assert info.frames == int(data.table("utt2num_samples")[key])
            if not utt2spk[key].endswith("reader"):
                assert 2.0 <= info.frames / 16000 <= 5.0
            assert read_scp(folder / "utt2source")[key] == "fake-speech"
    every = set.union(*speakers.values())
    assert every == {"sxx-anna", "sxx-boris", "sxx-reader"}
    assert sum(len(s) for s in speakers.values()) == len(every)  # no speaker in two sets
    assert all(speakers.values())  # one speaker in each set


def test_pool_trains_with_dynamic_mixing_as_it_is(tmp_path):
    from mal.train.dynamic_mixing import DynamicMixingDataset, MixingOptions
    build(tmp_path, write_package(tmp_path / "pkg"))
    noise_dir = tmp_path / "noise"
    noise_dir.mkdir()
    sf.write(noise_dir / "n.wav", (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32), 16000)
    (noise_dir / "wav.scp").write_text(f"n {noise_dir / 'n.wav'}\n")
    train = next(tmp_path / "data" / s for s in speech_pool.SETS if (tmp_path / "data" / s / "wav.scp").stat().st_size)
    dataset = DynamicMixingDataset(train, 16000, 1.0, MixingOptions(noise_scp=str(noise_dir / "wav.scp")))
    noisy, clean = dataset[0]
    assert noisy.shape == clean.shape == (16000,) and float(clean.abs().max()) > 0


def test_second_run_is_a_no_op(tmp_path):
    source = write_package(tmp_path / "pkg")
    first = build(tmp_path, source)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file() and "pkg" not in p.parts)
    stamps = {p: p.stat().st_mtime_ns for p in files}
    second = build(tmp_path, source)
    assert second.extracted == [] and second.drops == first.drops
    ids = lambda result: {n: [u.utt_id for u in rows] for n, rows in result.sets.items()}  # noqa: E731
    assert ids(second) == ids(first)
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    changed = speech_pool.build([source], tmp_path / "cache", tmp_path / "data", Checks(min_snr_db=10.0),
                                valid=0.25, test=0.25, min_groups=1, log=lambda _: None)  # other checks: again
    assert changed.extracted == ["fake-speech"]


def test_corpus_speakers_and_packages_are_refused(tmp_path):
    with pytest.raises(ValueError, match="rk-en"):
        speech_pool.check_no_corpus_speakers(["sxx-a", "rk-en"])
    with pytest.raises(ValueError, match="hedgewars-data"):
        speech_pool.extract_source(Source("hedgewars-data", "shw", (str(tmp_path),), lambda m: "x"), tmp_path, Checks())
    script = RECIPE / "local" / "make_speech_pool.py"
    for bad, words in (("ktuberling-data", "corpus"), ("nosuch-pkg", "unknown source")):
        out = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "o"), "--packages", bad],
                             capture_output=True, text=True)
        assert out.returncode == 2 and words in out.stderr and bad in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
