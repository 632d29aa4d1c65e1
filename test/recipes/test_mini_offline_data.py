"""egs/mini_offline/local/data.sh: the offline corpus, built for real at a tiny size."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import soundfile as sf

from mal.io import DataDir, read_scp

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "mini_offline"
sys.path.insert(0, str(RECIPE / "local"))

import corpus_plan  # noqa: E402
import mixing  # noqa: E402
import noises  # noqa: E402
import text_pool  # noqa: E402

SIZES = {"train": 12, "valid": 4, "test": 4, "test_ood": 4}
SNR_RANGE = (-5.0, 15.0)
KALDI_FILES = ("wav.scp", "spk1.scp", "noise1.scp", "utt2spk", "text", "utt2num_samples", "utt2category", "utt2snr")


def run_data_sh(cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", LC_ALL="C")
    cmd = [str(RECIPE / "local" / "data.sh"), "--nj", "2", "--data_dir", "data", "--audio_dir", "audio",
           "--snr_low", str(SNR_RANGE[0]), "--snr_high", str(SNR_RANGE[1])]
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
        for utt, text in tables["text"].items():
            words = text.split()
            assert 5 <= len(words) <= 11 and text == text.upper(), f"{name}/text {utt}: {text!r}"
        assert all(SNR_RANGE[0] <= float(v) <= SNR_RANGE[1] for v in tables["utt2snr"].values())


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
            assert 1.0 <= noisy.size / 16000 <= 8.0
            assert np.abs(noisy).max() < 0.99, f"{key}: mixture reaches full scale"
            assert np.abs(noisy - clean - noise).max() <= 1.01 * lsb, f"{key}: noisy != clean + noise"
            measured = mixing.snr_db(clean, noise)
            assert SNR_RANGE[0] - 0.05 <= measured <= SNR_RANGE[1] + 0.05, f"{key}: SNR {measured:.2f} dB out of range"
            assert measured == pytest.approx(float(snr[key]), abs=0.05), key


def test_speakers_sentences_and_noise_kinds_do_not_cross_sets(corpus: Path) -> None:
    speakers, texts, kinds = {}, {}, {}
    for name in SIZES:
        set_dir = corpus / "data" / name
        speakers[name] = set(read_scp(set_dir / "utt2spk").values())
        texts[name] = set(read_scp(set_dir / "text").values())
        kinds[name] = set(read_scp(set_dir / "utt2category").values())
    names = list(SIZES)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not speakers[a] & speakers[b], (a, b)
            assert not texts[a] & texts[b], (a, b)
    assert all(s.startswith("fl-") for n in ("train", "valid", "test") for s in speakers[n])
    assert all(s.startswith("es-") for s in speakers["test_ood"])
    assert not kinds["train"] & kinds["test_ood"]
    assert kinds["test_ood"] <= set(noises.OOD_KINDS) and kinds["train"] <= set(noises.TRAIN_KINDS)
    assert len(kinds["train"]) == len(noises.TRAIN_KINDS), "12 train utterances cover all 6 kinds"
    assert "music" in kinds["train"], "a recorded noise kind is in training"


def test_rerun_is_a_noop_and_an_incomplete_set_is_rebuilt_identically(corpus: Path) -> None:
    before = snapshot(corpus)
    start = time.time()
    proc = run_data_sh(corpus)
    assert time.time() - start < 15
    assert proc.stdout.count("skipping") == 4, proc.stdout
    assert snapshot(corpus) == before

    (corpus / "data" / "test" / ".done").unlink()  # as if the build had died before the marker
    (corpus / "audio" / "test" / "noisy" / "stale.wav").write_bytes(b"junk")
    proc = run_data_sh(corpus)
    assert proc.stdout.count("skipping") == 3, proc.stdout
    after = snapshot(corpus)
    assert not (corpus / "audio" / "test" / "noisy" / "stale.wav").exists()
    assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in before.items()}, "rebuild is deterministic"
    assert all(after[k][0] == before[k][0] for k in after if not k.startswith(("data/test/", "audio/test/")))


def test_changed_options_rebuild_only_the_changed_set(corpus: Path, tmp_path: Path) -> None:
    proc = run_data_sh(corpus, "--num_valid", "5")
    assert "valid: 5 utterances" in proc.stdout and proc.stdout.count("skipping") == 3, proc.stdout
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
