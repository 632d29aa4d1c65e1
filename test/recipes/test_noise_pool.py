"""The large recorded noise pool: kinds, checks, clip-disjoint splits, caching, evaluation packages refused."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from mal.io import read_scp

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "mini_offline"
sys.path.insert(0, str(RECIPE / "local"))

import noise_pool  # noqa: E402
from noise_pool import Checks, Source  # noqa: E402

KEPT = {  # relative path -> expected kind
    "sounds/rain_heavy01.wav": "rain-heavy",
    "sounds/Wind.ogg": "wind",
    "forest/sounds/day.wav": "forest-day",
    "sounds/animals/CowMoo2.flac": "cow-moo",
    "music/track1.ogg": "music-fakepkg",
}
DROPPED = {  # relative path -> reason
    "sounds/silence.wav": "silent",
    "sounds/clipped_engine.wav": "clipped",
    "sounds/phone_line.wav": "narrowband",  # 8 kHz file
    "sounds/muffled_hum.wav": "narrowband",  # 16 kHz file, low-passed at 1.5 kHz
    "sounds/click.wav": "short",
}
SPEECH = ("voices/hello.wav", "sounds/unit_acknowledge.wav")


def noise(seconds: float, rate: int, seed: int, level: float = 0.1) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


def write_package(root: Path) -> Path:
    """A fake game package: kept clips, clips every check drops, voice lines and a zip archive."""
    rates = {".wav": 44100, ".ogg": 22050, ".flac": 48000}
    for i, rel in enumerate(KEPT):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, noise(1.0 + i, rates[path.suffix], i), rates[path.suffix])
    for rel in (*DROPPED, *SPEECH):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
    sf.write(root / "sounds/silence.wav", np.zeros(16000, np.float32), 16000)
    sf.write(root / "sounds/clipped_engine.wav", np.clip(noise(1.0, 44100, 10, level=1.0), -0.8, 0.8), 44100)
    sf.write(root / "sounds/phone_line.wav", noise(1.0, 8000, 11), 8000)
    sos = butter(8, 1500, fs=16000, output="sos")
    sf.write(root / "sounds/muffled_hum.wav", sosfilt(sos, noise(1.0, 16000, 12)).astype(np.float32), 16000)
    sf.write(root / "sounds/click.wav", noise(0.1, 16000, 13), 16000)
    for j, rel in enumerate(SPEECH):
        sf.write(root / rel, noise(1.0, 16000, 20 + j), 16000)
    with zipfile.ZipFile(root / "extra.zip", "w") as archive:
        for k in range(3):
            path = root / f"tmp{k}.wav"
            sf.write(path, noise(0.8, 16000, 30 + k), 16000)
            archive.write(path, f"audio/ambient/water/stream{k}.wav")
            path.unlink()
    return root


@pytest.fixture
def package(tmp_path) -> Source:
    root = write_package(tmp_path / "pkg")
    return Source("fakepkg", (str(root), str(root / "extra.zip")))


def test_kinds_come_from_file_and_folder_names_and_every_check_drops_its_clips(tmp_path, package):
    result = noise_pool.build([package], tmp_path / "cache", tmp_path / "out", valid=0.0, test=0.0, log=lambda _: None)
    rows = noise_pool.read_manifest(tmp_path / "cache" / "fakepkg" / noise_pool.MANIFEST)
    by_member = {Path(r.member.split("!")[-1]).as_posix(): r for r in rows}
    for rel, kind in KEPT.items():
        row = next(r for m, r in by_member.items() if m.endswith(rel))
        assert (row.kind, row.reason) == (kind, ""), row
    for rel, reason in DROPPED.items():
        assert next(r for m, r in by_member.items() if m.endswith(rel)).reason == reason, rel
    assert not any(m.endswith(SPEECH) for m in by_member), "voice lines are never read"
    water = [r for m, r in by_member.items() if "stream" in m]
    assert [r.kind for r in water] == ["stream"] * 3 and all(not r.reason for r in water), "zip members read"
    train = tmp_path / "out" / "pool_train"
    wavs, kinds = read_scp(train / "wav.scp"), read_scp(train / "utt2category")
    assert len(wavs) == len(KEPT) + 3 == len(kinds)
    assert set(read_scp(train / "utt2source").values()) == {"fakepkg"}
    for key, entry in wavs.items():
        info = sf.info(entry)
        assert (info.samplerate, info.subtype, info.channels) == (16000, "PCM_16", 1)
        assert float(read_scp(train / "utt2dur")[key]) == pytest.approx(info.duration, abs=1e-3)
        assert str(tmp_path / "cache") in entry, "the clips stay in the cache, outside the data dirs"
    assert sorted(result.sets["pool_train"][i].kind for i in range(len(wavs))) == sorted(kinds.values())


def test_splits_never_share_a_clip_and_follow_the_seed(tmp_path):
    root = tmp_path / "many"
    for i in range(60):
        path = root / f"kind{i % 4}" / f"{'abcd'[i % 4]}sound_{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, noise(0.5, 16000, i), 16000)
    source = Source("many", (str(root),))
    ids = {}
    for seed in (0, 1):
        out = tmp_path / f"out{seed}"
        noise_pool.build([source], tmp_path / "cache", out, seed=seed, valid=0.2, test=0.2, log=lambda _: None)
        sets = {name: set(read_scp(out / name / "wav.scp")) for name in noise_pool.SETS}
        assert not sets["pool_train"] & sets["pool_valid"] and not sets["pool_train"] & sets["pool_test"]
        assert not sets["pool_valid"] & sets["pool_test"]
        assert sum(len(s) for s in sets.values()) == 60
        assert all(len(sets[name]) >= 5 for name in ("pool_valid", "pool_test"))
        ids[seed] = sets
    assert ids[0]["pool_valid"] != ids[1]["pool_valid"], "another seed, another split"
    again = tmp_path / "again"
    noise_pool.build([source], tmp_path / "cache", again, seed=0, valid=0.2, test=0.2, log=lambda _: None)
    assert set(read_scp(again / "pool_valid" / "wav.scp")) == ids[0]["pool_valid"]


def test_a_second_run_reads_no_package_and_rewrites_nothing(tmp_path, package):
    cache, out = tmp_path / "cache", tmp_path / "out"
    first = noise_pool.build([package], cache, out, log=lambda _: None)
    assert first.extracted == ["fakepkg"]
    files = sorted(p for p in [*cache.rglob("*"), *out.rglob("*")] if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    Path(package.roots[1]).unlink()  # a package read again would now lose its zip members
    second = noise_pool.build([package], cache, out, log=lambda _: None)
    assert second.extracted == []
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    assert sorted(p for p in [*cache.rglob("*"), *out.rglob("*")] if p.is_file()) == files
    third = noise_pool.build([package], cache, out, checks=Checks(min_seconds=0.05), log=lambda _: None)
    assert third.extracted == ["fakepkg"], "other checks: the cached package is extracted again"


def test_evaluation_packages_are_refused_by_name_and_by_the_files_they_own(tmp_path, package):
    assert set(noise_pool.AMBIENT_TEST_PACKAGES) >= {"ufoai-sound", "btanks-data", "searchandrescue-data"}
    assert not set(noise_pool.SOURCES) & set(noise_pool.AMBIENT_TEST_PACKAGES)
    for name in noise_pool.AMBIENT_TEST_PACKAGES:
        with pytest.raises(ValueError, match=f"'{name}' is evaluation-only"):
            noise_pool.build([Source(name, package.roots)], tmp_path / "cache", tmp_path / "out", log=lambda _: None)
    owned = {"ufoai-sound": [f"{package.roots[0]}/sounds/Wind.ogg"]}
    with pytest.raises(ValueError, match="evaluation-only package 'ufoai-sound'"):
        noise_pool.refuse_evaluation_sources([package], owned)
    noise_pool.refuse_evaluation_sources([package], {"ufoai-sound": ["/usr/share/games/ufoai/base/0snd.pk3"]})
    assert not (tmp_path / "cache").exists(), "nothing extracted before the refusal"
    cli = subprocess.run([sys.executable, str(RECIPE / "local" / "make_noise_pool.py"), "--out", str(tmp_path / "o"),
                          "--cache", str(tmp_path / "c"), "--packages", "lugaru-data,btanks-data"],
                         capture_output=True, text=True)
    assert cli.returncode == 2 and "'btanks-data' is evaluation-only" in cli.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.skipif(not noise_pool.package_files("ufoai-sound"), reason="ufoai-sound not installed")
def test_a_root_inside_an_installed_evaluation_package_is_refused(tmp_path):
    with pytest.raises(ValueError, match="evaluation-only package 'ufoai-sound'"):
        noise_pool.build([Source("renamed", ("/usr/share/games/ufoai",))], tmp_path / "c", tmp_path / "o", log=lambda _: None)


@pytest.mark.skipif(not Path("/usr/share/games/openclonk/Sound.ocg").exists(), reason="openclonk-data not installed")
def test_openclonk_c4groups_are_unpacked_into_named_decodable_files():
    members = noise_pool.members(noise_pool.SOURCES["openclonk-data"])
    names = []
    for name, load in members:
        names.append(name)
        if len(names) <= 3:
            wav, rate = noise_pool.decode(name, load())
            assert wav.shape[0] > rate // 10 and rate >= 16000
    assert len(names) > 300 and any(n.endswith("Animals.ocg/Bat.ocg/Chirp.wav") for n in names)


def write_pool_dir(path: Path) -> None:
    clips = {  # key -> (kind, duration, package)
        "a-rain1": ("rain-heavy", 8.0, "pkga"), "a-click": ("click", 0.5, "pkga"), "a-song": ("music-pkga", 45.0, "pkga"),
        "b-wind": ("wind", 3.0, "pkgb"), "b-door": ("door", 1.2, "pkgb"), "b-song": ("music-pkgb", 30.0, "pkgb"),
    }
    path.mkdir(parents=True)
    (path / "wav.scp").write_text("".join(f"{k} /cache/{k}.wav\n" for k in sorted(clips)))
    (path / "utt2category").write_text("".join(f"{k} {clips[k][0]}\n" for k in sorted(clips)))
    (path / "utt2dur").write_text("".join(f"{k} {clips[k][1]}\n" for k in sorted(clips)))
    (path / "utt2source").write_text("".join(f"{k} {clips[k][2]}\n" for k in sorted(clips)))


def test_group_noise_keeps_long_clips_and_makes_packages_the_kinds(tmp_path):
    """local/group_noise.py: clips shorter than --min-seconds dropped, one kind per package and
    one for all music with --group source, the fine kinds kept with --group kind; the input dir
    is never written and cannot be the output."""
    src = tmp_path / "pool_train"
    write_pool_dir(src)
    before = {p.name: p.read_text() for p in src.iterdir()}
    script = RECIPE / "local" / "group_noise.py"
    run = lambda *args: subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)  # noqa: E731
    done = run("--in", str(src), "--out", str(tmp_path / "long"), "--min-seconds", "3", "--group", "source")
    assert done.returncode == 0, done.stderr
    assert read_scp(tmp_path / "long" / "utt2category") == {"a-rain1": "pkga", "a-song": "music", "b-song": "music", "b-wind": "pkgb"}
    assert set(read_scp(tmp_path / "long" / "wav.scp")) == set(read_scp(tmp_path / "long" / "utt2dur")) == {"a-rain1", "a-song", "b-song", "b-wind"}
    assert "4 of 6 clips" in done.stdout and "3 kinds" in done.stdout
    done = run("--in", str(src), "--out", str(tmp_path / "kinds"), "--min-seconds", "1")
    assert done.returncode == 0, done.stderr
    assert read_scp(tmp_path / "kinds" / "utt2category")["b-door"] == "door" and "a-click" not in read_scp(tmp_path / "kinds" / "wav.scp")
    assert {p.name: p.read_text() for p in src.iterdir()} == before
    refused = run("--in", str(src), "--out", str(src))
    assert refused.returncode != 0 and "is the input dir" in refused.stderr
    (src / "utt2source").write_text("a-rain1 pkga\n")
    broken = run("--in", str(src), "--out", str(tmp_path / "broken"))
    assert broken.returncode != 0 and "utt2source" in broken.stderr and "a-click" in broken.stderr


def write_speech_set(path: Path, utts: int = 4) -> None:
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines, spk = [], []
    for i in range(utts):
        wav = path / f"spk{i % 2}-u{i}.wav"
        sf.write(wav, (0.1 * rng.standard_normal(8000 + 1000 * i)).astype(np.float32), 16000)
        lines.append(f"spk{i % 2}-u{i} {wav}\n")
        spk.append(f"spk{i % 2}-u{i} spk{i % 2}\n")
    (path / "spk1.scp").write_text("".join(lines))
    (path / "utt2spk").write_text("".join(spk))


def write_noise_split(path: Path) -> None:
    path.mkdir(parents=True)
    rng = np.random.default_rng(1)
    clips = {"a-rain": ("rain", 2.5, "pkga"), "a-click": ("click", 0.5, "pkga"), "b-wind": ("wind", 3.0, "pkgb")}
    for key, (_, seconds, _) in clips.items():
        sf.write(path / f"{key}.wav", (0.05 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), 16000)
    (path / "wav.scp").write_text("".join(f"{k} {path / k}.wav\n" for k in sorted(clips)))
    (path / "utt2category").write_text("".join(f"{k} {clips[k][0]}\n" for k in sorted(clips)))
    (path / "utt2dur").write_text("".join(f"{k} {clips[k][1]}\n" for k in sorted(clips)))
    (path / "utt2source").write_text("".join(f"{k} {clips[k][2]}\n" for k in sorted(clips)))


def test_valid_pool_mixes_the_speech_sets_targets_with_long_held_out_clips(tmp_path):
    """local/make_valid_pool.py: every utterance of the speech set, its target kept (level and
    samples), noise from a clip of at least --min-seconds at the SNR utt2snr records, within the
    range; the same seed gives the same set; inputs untouched; bad input named."""
    speech, noise = tmp_path / "valid", tmp_path / "pool_valid"
    write_speech_set(speech)
    write_noise_split(noise)
    before = {p: p.read_bytes() for d in (speech, noise) for p in d.iterdir()}
    script = RECIPE / "local" / "make_valid_pool.py"
    run = lambda out, *extra: subprocess.run([sys.executable, str(script), "--speech", str(speech), "--noise", str(noise),  # noqa: E731
                                              "--out", str(out), "--snr-low", "0", "--snr-high", "10", *extra],
                                             capture_output=True, text=True)
    done = run(tmp_path / "valid_pool")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "valid_pool"
    wavs, refs, snrs = read_scp(out / "wav.scp"), read_scp(out / "spk1.scp"), read_scp(out / "utt2snr")
    assert set(wavs) == set(read_scp(speech / "spk1.scp")) == set(refs)
    assert set(read_scp(out / "utt2category").values()) <= {"rain", "wind"}  # the 0.5 s click is too short
    assert read_scp(out / "utt2spk") == read_scp(speech / "utt2spk")
    assert all(Path(p).is_absolute() for p in list(wavs.values()) + list(refs.values()))
    for utt, path in wavs.items():
        noisy, _ = sf.read(path, dtype="float32")
        clean, _ = sf.read(refs[utt], dtype="float32")
        source, _ = sf.read(read_scp(speech / "spk1.scp")[utt], dtype="float32")
        np.testing.assert_allclose(clean, source, atol=2e-4)  # the target as it was (no peak scaling needed here)
        snr = 10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2))
        assert 0 <= float(snrs[utt]) <= 10 and abs(snr - float(snrs[utt])) < 0.1
    again = run(tmp_path / "again")
    assert again.returncode == 0 and read_scp(tmp_path / "again" / "utt2snr") == snrs
    assert {p: p.read_bytes() for d in (speech, noise) for p in d.iterdir()} == before
    (noise / "utt2dur").unlink()
    broken = run(tmp_path / "broken")
    assert broken.returncode != 0 and "utt2dur" in broken.stderr
    write_noise_split(tmp_path / "pool_valid2")
    (speech / "utt2spk").write_text("spk0-u0 spk0\n")
    unnamed = subprocess.run([sys.executable, str(script), "--speech", str(speech), "--noise", str(tmp_path / "pool_valid2"),
                              "--out", str(tmp_path / "unnamed")], capture_output=True, text=True)
    assert unnamed.returncode != 0 and "utt2spk" in unnamed.stderr and "spk0-u2" in unnamed.stderr
    assert not list((tmp_path / "unnamed").glob("audio/*.wav"))  # nothing written
