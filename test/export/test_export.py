"""mal-export: every registered model's offline form, and the streaming form of causal models,
run in onnxruntime (and TorchScript) and match PyTorch within 1e-4."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mal.bin.export import main
from mal.export.runtime import OnnxOffline, exported_streamer
from mal.models import MODEL_REGISTRY, build_model
from mal.models.checkpoint import model_record, save_checkpoint

TOLERANCE = 1e-4
#: One small configuration per registered model, and the causal ones that stream.
CASES = {
    "bandgru": {"n_fft": 256, "hop_length": 64, "num_bands": 12, "hidden": 16, "rnn_layers": 2, "causal": False},
    "bandgru_causal": {"num_bands": 16, "hidden": 16, "rnn_layers": 2},
    "demucs": {"hidden": 4, "depth": 2, "lstm_layers": 1},
    "demucs_causal": {"hidden": 4, "depth": 3, "lstm_layers": 1, "causal": True},
    "tfmask": {"n_fft": 256, "hop_length": 64, "channels": [4, 8], "rnn_hidden": 16},
    "tfmask_causal": {"channels": [4, 8], "rnn_hidden": 16, "causal": True, "time_kernel": 2, "rnn_type": "lstm"},
    "tfmask_gain": {"channels": [4, 8], "rnn_hidden": 16, "causal": True, "mask": "gain", "mask_bound": 1.0},
    "tiny": {"channels": 4},
    "dpcrn": {"n_fft": 256, "hop_length": 64, "channels": [4, 8], "hidden": 8, "causal": False},
    "dpcrn_causal": {"channels": [4, 8], "hidden": 8, "time_kernel": 2, "mask": "gain", "mask_bound": 1.0, "intra": "mix"},
    "dfnet": {"n_fft": 256, "hop_length": 64, "num_bands": 12, "df_bins": 16, "df_order": 3, "channels": 4, "hidden": 8,
              "causal": False},
    "dfnet_causal": {"num_bands": 16, "df_bins": 32, "df_order": 4, "channels": 4, "hidden": 8},
}


def registry_name(case: str) -> str:
    return case.split("_")[0]


def test_every_registered_model_has_a_case():
    assert set(MODEL_REGISTRY) <= {registry_name(c) for c in CASES}


def saved(tmp_path, case: str):
    torch.manual_seed(0)
    name, conf = registry_name(case), CASES[case]
    model = build_model(name, **conf).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # not the identity TFMaskNet and BandGainGRU start as
    path = tmp_path / f"{case}.pth"
    save_checkpoint(path, {"model": model_record(model, name, conf)})
    return path, model


def signal(n: int, seed: int = 0, batch: int = 2) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((batch, n))).astype(np.float32)


@pytest.mark.parametrize("case", sorted(CASES))
def test_offline_onnx_matches_pytorch(tmp_path, case):
    path, model = saved(tmp_path, case)
    assert main(["--model", str(path), "--out-dir", str(tmp_path / "out"), "--form", "offline", "--length-seconds", "0.5",
                 "--torchscript"]) == 0
    runtime = OnnxOffline(tmp_path / "out" / f"{case}.onnx", norm_rms=None)  # the raw graph, as model(x)
    assert runtime.length == 0  # every registered model's graph takes any length
    x = signal(12345)  # not a valid length of the convolutional models: the runtime pads
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(runtime.run(x), want, atol=TOLERANCE, rtol=0)
    extra = {"mal.json": ""}
    traced = torch.jit.load(str(tmp_path / "out" / f"{case}.ts.pt"), _extra_files=extra)
    meta = json.loads(extra["mal.json"])
    n = model.valid_length(x.shape[1])
    graph_input = np.pad(x, ((0, 0), (0, n - x.shape[1])))  # the TorchScript graph takes a valid length
    if meta["scale_floor"] is not None:  # ... and, for a normalising DEMUCS, the scaled input
        scale = torch.from_numpy(x).std(dim=1, keepdim=True).numpy() + meta["scale_floor"]
        graph_input = graph_input / scale
    else:
        scale = 1.0
    with torch.no_grad():
        got = traced(torch.from_numpy(graph_input.astype(np.float32))).numpy()[:, : x.shape[1]] * scale
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


def test_tfmask_offline_graph_takes_any_length(tmp_path):
    path, model = saved(tmp_path, "tfmask")
    assert main(["--model", str(path), "--out-dir", str(tmp_path), "--form", "offline"]) == 0
    runtime = OnnxOffline(tmp_path / "tfmask.onnx", norm_rms=None)
    assert runtime.length == 0
    for n in (1000, 16000, 40001):
        x = signal(n, seed=n, batch=1)[0]
        with torch.no_grad():
            want = model(torch.from_numpy(x)[None])[0].numpy()
        out = runtime.run(x)
        assert out.shape == x.shape
        np.testing.assert_allclose(out, want, atol=TOLERANCE, rtol=0)


@pytest.fixture(scope="module")
def exported_both(tmp_path_factory):
    """``get(case)`` -> (folder, model): the case exported once in both forms, with TorchScript."""
    done = {}

    def get(case: str):
        if case not in done:
            folder = tmp_path_factory.mktemp(case)
            path, model = saved(folder, case)
            assert main(["--model", str(path), "--out-dir", str(folder), "--torchscript"]) == 0  # both forms
            done[case] = folder, model
        return done[case]

    return get


@pytest.mark.parametrize("case", ["tfmask_causal", "tfmask_gain", "demucs_causal", "bandgru_causal", "dpcrn_causal"])
@pytest.mark.parametrize("block", [64, 333])
def test_streaming_onnx_and_torchscript_match_pytorch(exported_both, case, block):
    tmp_path, model = exported_both(case)
    assert (tmp_path / f"{case}.onnx").is_file()
    x = signal(9000, seed=3, batch=1)[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)[None])[0].numpy()
    for name in (f"{case}.stream.onnx", f"{case}.stream.ts.pt"):
        streamed = exported_streamer(tmp_path / name).run(x, block, norm_rms=None)
        assert streamed.shape == x.shape
        np.testing.assert_allclose(streamed, want, atol=TOLERANCE, rtol=0, err_msg=name)


def test_streaming_a_model_without_that_form_is_a_clear_error(tmp_path, capsys):
    path, _ = saved(tmp_path, "tfmask")
    assert main(["--model", str(path), "--out-dir", str(tmp_path), "--form", "streaming"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mal-export: error: streaming export needs a causal TFMaskNet") and len(err.splitlines()) == 1
    assert main(["--model", str(path), "--out-dir", str(tmp_path)]) == 0  # both: the offline form only
    assert (tmp_path / "tfmask.onnx").is_file() and not (tmp_path / "tfmask.stream.onnx").exists()


def test_metadata_tells_a_runtime_what_it_needs(exported_both):
    import onnx

    tmp_path, model = exported_both("tfmask_causal")
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(tmp_path / "tfmask_causal.stream.onnx")).metadata_props}
    assert meta["form"] == "streaming" and meta["sample_rate"] == 16000
    assert (meta["n_fft"], meta["hop_length"], meta["window"]) == (model.n_fft, model.hop_length, "sqrt_hann")
