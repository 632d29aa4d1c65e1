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
import make_corpus  # noqa: E402
import noises  # noqa: E402
import real_speech  # noqa: E402
import text_pool  # noqa: E402
from mal.train import mixing  # noqa: E402

SIZES = {"train": 12, "valid": 4, "test": 4, "test_ood": 4, "test_real": 4}
SNR_RANGE = (-5.0, 15.0)
KALDI_FILES = ("wav.scp", "spk1.scp", "noise1.scp", "utt2spk", "utt2num_samples", "utt2category", "utt2snr", "utt2room")
#: Sets whose utterances are all synthetic and so carry a transcript.
TEXT_SETS = ("test_ood",)
POOL_OPTIONS = ("--num_noise_clips", "2", "--num_train_rooms", "3")


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
            assert 0.5 <= noisy.size / 16000 <= 10.0
            assert np.abs(noisy).max() < 0.99, f"{key}: mixture reaches full scale"
            assert np.abs(noisy - clean - noise).max() <= 1.01 * lsb, f"{key}: noisy != clean + noise"
            measured = mixing.snr_db(clean, noise)
            assert SNR_RANGE[0] - 0.05 <= measured <= SNR_RANGE[1] + 0.05, f"{key}: SNR {measured:.2f} dB out of range"
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
            assert not speakers[a] & speakers[b], (a, b)
    assert all(s[:3] in ("fl-", "es-", "rk-", "rh-") for n in ("train", "valid", "test") for s in speakers[n])
    assert any(s.startswith(("rk-", "rh-")) for s in speakers["train"]), "real speech is in training"
    assert all(s.startswith("fe-") for s in speakers["test_ood"])
    assert kinds["test_ood"] <= set(noises.OOD_KINDS) and kinds["train"] <= set(noises.TRAIN_KINDS)
    assert kinds["test_real"] <= set(noises.REAL_KINDS)
    for held_out in ("test_ood", "test_real"):
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


def test_reverberation_reaches_the_stated_share() -> None:
    options = corpus_plan.CorpusOptions(num_valid=400, num_test=400, num_test_ood=400, reverb_share=0.25)
    plans = corpus_plan.plan_corpus(options, ["valid", "test", "test_ood", "train"])
    for name in ("valid", "test", "test_ood"):
        share = np.mean([u.room >= 0 for u in plans[name].utterances])
        assert share == pytest.approx(0.25, abs=0.065), (name, share)  # 400 draws: 3 standard errors
    assert all(u.room == -1 for u in plans["train"].utterances), "train is reverberated by dynamic mixing"


def test_no_recipe_reads_asterisk_core_sounds(tmp_path: Path, monkeypatch) -> None:
    """Build a tiny corpus in this process and record every file and folder it opens, lists or
    globs (audit hook) and every file soundfile decodes."""
    opened, recording = [], [True]  # audit hooks cannot be removed: the hook stops recording after the test
    events = ("open", "glob.glob", "os.scandir", "os.listdir")

    def hook(event: str, args: tuple) -> None:
        if recording[0] and event in events and args and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)
    soundfile_init = sf.SoundFile.__init__

    def recording_init(self, file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            opened.append(os.fspath(file))
        return soundfile_init(self, file, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "__init__", recording_init)
    argv = ["--data_dir", str(tmp_path / "data"), "--audio_dir", str(tmp_path / "audio"), "--nj", "1", *POOL_OPTIONS,
            "--num_train", "20", "--num_valid", "3", "--num_test", "3", "--num_test_ood", "2", "--num_test_real", "8"]
    try:
        assert make_corpus.main(argv) == 0
    finally:
        recording[0] = False
    paths = opened
    assert any("/usr/share/ktuberling/" in p for p in paths) and any("/usr/share/games/" in p for p in paths), "the hook sees reads"
    assert not [p for p in paths if "/usr/share/asterisk/sounds" in p]
    for path in [*RECIPE.rglob("*"), *(RECIPE.parents[1] / "tools" / "installers").glob("*.sh")]:
        if path.is_file() and path.suffix in (".py", ".sh", ".yaml"):
            text = path.read_text(errors="replace")
            assert "/usr/share/asterisk/sounds" not in text, path
            code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
            assert "asterisk-core-sounds" not in code, path


def test_rerun_is_a_noop_and_an_incomplete_set_is_rebuilt_identically(corpus: Path) -> None:
    before = snapshot(corpus)
    start = time.time()
    proc = run_data_sh(corpus)
    assert time.time() - start < 15
    assert proc.stdout.count("skipping") == 6, proc.stdout  # 5 sets and the training pools
    assert snapshot(corpus) == before

    (corpus / "data" / "test" / ".done").unlink()  # as if the build had died before the marker
    (corpus / "audio" / "test" / "noisy" / "stale.wav").write_bytes(b"junk")
    proc = run_data_sh(corpus)
    assert proc.stdout.count("skipping") == 5, proc.stdout
    after = snapshot(corpus)
    assert not (corpus / "audio" / "test" / "noisy" / "stale.wav").exists()
    assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in before.items()}, "rebuild is deterministic"
    assert all(after[k][0] == before[k][0] for k in after if not k.startswith(("data/test/", "audio/test/")))


def test_changed_options_rebuild_only_the_changed_set(corpus: Path, tmp_path: Path) -> None:
    proc = run_data_sh(corpus, "--num_valid", "5")
    assert "valid: 5 utterances" in proc.stdout and proc.stdout.count("skipping") == 5, proc.stdout
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
