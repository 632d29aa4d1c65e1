"""mal-enhance end to end: data-dir mode, key-file subset, one-file mode, skip/resume, bad input."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers.audio import add_noise, harmonic
from helpers.disks import full_disk
from mal.bin.enhance import main
from mal.io import read_scp, write_wav
from mal.models import MODEL_REGISTRY, build_model
from mal.models.checkpoint import model_record, save_checkpoint
from mal.models.pack import pack_model

RATES = {"u1": 16000, "u2": 16000, "u3": 8000, "u4": 16000}


def save_model(path: Path, name: str = "tiny", **conf) -> Path:
    torch.manual_seed(0)
    save_checkpoint(path, {"model": model_record(build_model(name, **conf), name, conf)})
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("enh")
    model = save_model(root / "model.pth", channels=4)
    lines = []
    for i, (key, rate) in enumerate(RATES.items()):
        wav = add_noise(harmonic(0.5 + 0.1 * i, seed=i, sr=rate), 5.0, seed=i)
        write_wav(root / "in" / f"{key}.wav", wav, rate)
        lines.append(f"{key} {root / 'in' / key}.wav")
    (root / "wav.scp").write_text("\n".join(lines) + "\n")
    return root, model


def read(path) -> tuple:
    return sf.read(str(path), dtype="float32")


def check_outputs(out_dir: Path, in_scp: Path, keys) -> None:
    table = read_scp(out_dir / "wav.scp")
    assert sorted(table) == sorted(keys)
    inputs = read_scp(in_scp)
    for key, path in table.items():
        assert Path(path).is_file() and Path(path) == (out_dir / "wav" / f"{key}.wav").resolve()
        out, rate = read(path)
        ref, ref_rate = read(inputs[key])
        assert rate == ref_rate and out.shape == ref.shape
        assert np.all(np.isfinite(out)) and np.abs(out).max() > 0


def test_scp_mode_writes_every_key_at_input_rate(setup, tmp_path):
    root, model = setup
    assert main(["--model", str(model), "--wav-scp", str(root / "wav.scp"), "--out-dir", str(tmp_path / "o"),
                 "--chunk-seconds", "0.3", "--overlap-seconds", "0.05", "--device", "cpu", "--num-threads", "1"]) == 0
    check_outputs(tmp_path / "o", root / "wav.scp", RATES)
    assert not list((tmp_path / "o").rglob("*.tmp*")), "no temporary files left behind"


def test_key_file_subset_like_split_scp(setup, tmp_path):
    root, model = setup
    keys = tmp_path / "keys.2.scp"  # what utils/split_scp.pl writes: whole wav.scp lines
    keys.write_text("".join(line + "\n" for line in (root / "wav.scp").read_text().splitlines()[2:]))
    assert main(["--model", str(model), "--wav-scp", str(root / "wav.scp"), "--key-file", str(keys), "--out-dir", str(tmp_path / "o")]) == 0
    check_outputs(tmp_path / "o", root / "wav.scp", ["u3", "u4"])
    assert sorted(p.name for p in (tmp_path / "o" / "wav").iterdir()) == ["u3.wav", "u4.wav"]

    plain = tmp_path / "keys.txt"
    plain.write_text("u2\n")
    assert main(["--model", str(model), "--wav-scp", str(root / "wav.scp"), "--key-file", str(plain), "--out-dir", str(tmp_path / "p")]) == 0
    check_outputs(tmp_path / "p", root / "wav.scp", ["u2"])


def test_unknown_key_in_key_file_is_named(setup, tmp_path, capsys):
    root, model = setup
    (tmp_path / "keys").write_text("u1\nnope\n")
    assert main(["--model", str(model), "--wav-scp", str(root / "wav.scp"), "--key-file", str(tmp_path / "keys"), "--out-dir", str(tmp_path / "o")]) == 1
    assert "'nope'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "wav.scp").exists()


def test_resampled_input_matches_enhancing_at_model_rate(setup, tmp_path):
    """An 8 kHz file is resampled to the model's 16 kHz, enhanced, and brought back to 8 kHz."""
    from mal.enhance.inference import Enhancer, EnhanceOptions
    from mal.io.audio import resample
    from mal.models.pretrained import load_model

    root, model_path = setup
    enhancer = Enhancer(load_model(model_path)[0], EnhanceOptions(chunk_seconds=0))
    wav8, _ = read(root / "in" / "u3.wav")
    out8 = enhancer.enhance(wav8, 8000)
    direct = resample(enhancer.enhance(resample(wav8, 8000, 16000), 16000), 16000, 8000)
    assert out8.shape == wav8.shape
    np.testing.assert_allclose(out8, direct[: len(wav8)], atol=1e-5)


def test_one_file_mode_and_console_script(setup, tmp_path):
    root, model = setup
    out = tmp_path / "sub" / "out.wav"
    torch.set_num_threads(2)
    assert main(["--model", str(model), str(root / "in" / "u3.wav"), str(out), "--num-threads", "1"]) == 0
    assert torch.get_num_threads() == 1
    y, rate = read(out)
    x, _ = read(root / "in" / "u3.wav")
    assert rate == 8000 and y.shape == x.shape and np.all(np.isfinite(y))
    exe = shutil.which("mal-enhance") or pytest.skip("mal-enhance console script not installed")
    out2 = tmp_path / "out2.wav"
    proc = subprocess.run([exe, "--model", str(model), str(root / "in" / "u3.wav"), str(out2)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(read(out2)[0], y)


def test_usage_errors(setup, tmp_path):
    root, model = setup
    with pytest.raises(SystemExit):
        main(["--model", str(model), str(root / "in" / "u1.wav")])
    with pytest.raises(SystemExit):
        main(["--model", str(model), "--wav-scp", str(root / "wav.scp")])


def test_skip_existing_keeps_outputs_and_default_overwrites(setup, tmp_path):
    root, model = setup
    args = ["--model", str(model), "--wav-scp", str(root / "wav.scp"), "--out-dir", str(tmp_path / "o")]
    assert main(args) == 0
    marker = tmp_path / "o" / "wav" / "u1.wav"
    sf.write(str(marker), np.zeros(100, dtype=np.float32), 16000)
    assert main(args + ["--skip-existing"]) == 0
    assert len(read(marker)[0]) == 100, "--skip-existing must not redo a finished key"
    assert main(args) == 0
    assert len(read(marker)[0]) == 8000, "without --skip-existing outputs are rewritten"


def test_bad_input_names_key_and_keeps_finished_outputs(setup, tmp_path, capsys):
    root, model = setup
    scp = tmp_path / "wav.scp"
    lines = (root / "wav.scp").read_text().splitlines()
    scp.write_text("\n".join(lines[:2] + [f"broken {tmp_path}/missing.wav"] + lines[2:]) + "\n")
    out = tmp_path / "o"
    assert main(["--model", str(model), "--wav-scp", str(scp), "--out-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "'broken'" in err and "missing.wav" in err and "not found" in err
    assert sorted(p.name for p in (out / "wav").iterdir()) == ["u1.wav", "u2.wav"]
    assert not (out / "wav.scp").exists(), "a failed job must not leave a wav.scp"
    # Fix the input and resume: the finished keys are reused, the rest is done.
    scp.write_text("\n".join(lines) + "\n")
    assert main(["--model", str(model), "--wav-scp", str(scp), "--out-dir", str(out), "--skip-existing"]) == 0
    check_outputs(out, scp, RATES)


def test_multichannel_input_is_named(setup, tmp_path, capsys):
    root, model = setup
    sf.write(str(tmp_path / "st.wav"), np.zeros((800, 2), dtype=np.float32), 16000)
    (tmp_path / "wav.scp").write_text(f"stereo {tmp_path}/st.wav\n")
    assert main(["--model", str(model), "--wav-scp", str(tmp_path / "wav.scp"), "--out-dir", str(tmp_path / "o")]) == 1
    assert "'stereo'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_silent_and_clipped_input_enhance_without_nan(name, tmp_path):
    model = save_model(tmp_path / "m.pth", name)
    t = np.arange(16000) / 16000
    inputs = {
        "silent": np.zeros(16000, dtype=np.float32),
        "clipped": np.clip(3.0 * np.sin(2 * np.pi * 220 * t), -1, 1).astype(np.float32),
        "tiny": (1e-7 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32),
    }
    lines = []
    for key, wav in inputs.items():
        sf.write(str(tmp_path / f"{key}.wav"), wav, 16000, subtype="FLOAT")
        lines.append(f"{key} {tmp_path}/{key}.wav")
    (tmp_path / "wav.scp").write_text("\n".join(lines) + "\n")
    assert main(["--model", str(model), "--wav-scp", str(tmp_path / "wav.scp"), "--out-dir", str(tmp_path / "o"),
                 "--chunk-seconds", "0.6", "--overlap-seconds", "0.1"]) == 0
    for key in inputs:
        y, _ = read(tmp_path / "o" / "wav" / f"{key}.wav")
        assert len(y) == 16000 and np.all(np.isfinite(y))


def test_cli_streaming_equals_offline_for_causal_tfmask(setup, tmp_path):
    root, _ = setup
    model = save_model(tmp_path / "tf.pth", "tfmask", causal=True)
    base = ["--model", str(model), "--wav-scp", str(root / "wav.scp")]
    assert main(base + ["--out-dir", str(tmp_path / "off"), "--chunk-seconds", "0"]) == 0
    assert main(base + ["--out-dir", str(tmp_path / "str"), "--streaming", "--block-seconds", "0.01"]) == 0
    for key in RATES:
        off, _ = read(tmp_path / "off" / "wav" / f"{key}.wav")
        stream, _ = read(tmp_path / "str" / "wav" / f"{key}.wav")
        assert np.max(np.abs(off - stream)) <= 2 / 32768  # equal up to 16-bit rounding


def test_streaming_a_non_causal_model_fails_clearly(setup, tmp_path, capsys):
    root, model = setup
    assert main(["--model", str(model), "--streaming", str(root / "in" / "u1.wav"), str(tmp_path / "x.wav")]) == 1
    assert "not causal" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def test_packed_archive_enhances_like_its_checkpoint(setup, tmp_path, monkeypatch):
    root, model = setup
    monkeypatch.setenv("MAL_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "config.yaml").write_text("sample_rate: 16000\nmodel: {name: tiny, conf: {channels: 4}}\n")
    archive = pack_model(model, tmp_path / "config.yaml", tmp_path / "model.tar.gz")
    for name, m in (("pth", model), ("tar", archive)):
        assert main(["--model", str(m), str(root / "in" / "u1.wav"), str(tmp_path / f"{name}.wav")]) == 0
    np.testing.assert_array_equal(read(tmp_path / "tar.wav")[0], read(tmp_path / "pth.wav")[0])


def test_bad_device_is_a_clear_error(setup, tmp_path, capsys):
    root, model = setup
    args = ["--model", str(model), str(root / "in" / "u1.wav"), str(tmp_path / "x.wav")]
    assert main(args + ["--device", "gpu"]) == 1
    assert "--device must be" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(args + ["--device", "cuda"]) == 1
        assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


# --- issue #28 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("option, value, why", [
    ("--block-seconds", "0", "must be > 0, got 0"),
    ("--block-seconds", "-1", "must be > 0, got -1"),
    ("--norm-rms", "-1", "must be >= 0, got -1"),
    ("--norm-rms", "nan", "must be >= 0, got nan"),
    ("--overlap-seconds", "-0.5", "must be >= 0, got -0.5"),
    ("--num-threads", "0", "must be >= 1, got 0"),
    ("--block-seconds", "x", "expected a number, got 'x'"),
])
def test_out_of_range_options_are_refused_in_one_line(setup, tmp_path, capsys, option, value, why):
    root, model = setup
    with pytest.raises(SystemExit) as exit_:
        main(["--model", str(model), option, value, str(root / "in" / "u1.wav"), str(tmp_path / "o.wav")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"mal-enhance: error: argument {option}: {why} (see --help)"]
    assert not (tmp_path / "o.wav").exists()


def test_ctrl_c_is_one_line_and_exit_130_with_finished_outputs_whole(setup, tmp_path):
    root, model = setup
    scp = tmp_path / "wav.scp"  # u2 waits on a pipe: the run is surely inside it when Ctrl-C comes
    scp.write_text(f"u1 {root / 'in' / 'u1.wav'}\nu2 sleep 60; cat {root / 'in' / 'u2.wav'} |\n")
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "mal.bin.enhance", "--model", str(model), "--wav-scp", str(scp), "--out-dir", str(out)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True,  # a Ctrl-C at a
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # terminal: the group
    try:
        deadline = time.time() + 120
        while not (out / "wav" / "u1.wav").exists():
            assert proc.poll() is None and time.time() < deadline, "u1.wav not written"
            time.sleep(0.05)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == ("mal-enhance: interrupted; the outputs written so far are complete "
                                            "(re-run with --skip-existing to go on)")
    assert sorted(p.name for p in (out / "wav").iterdir()) == ["u1.wav"] and read(out / "wav" / "u1.wav")[0].size > 0


def test_scp_mode_on_a_full_disk_is_one_line(setup, tmp_path, capsys):
    root, model = setup
    with full_disk(tmp_path / "disk") as disk:
        assert main(["--model", str(model), "--wav-scp", str(root / "wav.scp"), "--out-dir", str(disk / "o")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert not list((disk / "o" / "wav").glob(".*"))  # no temporary left
    assert err[-1].startswith("mal-enhance: error: ") and err[-1].endswith("u1.wav: cannot write: No space left on device"), err
    assert "Traceback" not in "\n".join(err)
