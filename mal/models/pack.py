"""One-file model distribution: ``model.tar.gz`` = weights + config + RESULTS.md + sha256 manifest.

``unpack_model`` checks every member against the manifest (a tampered or truncated archive is
refused naming the member), then extracts to a cache directory (``$MAL_CACHE_DIR`` or
``~/.cache/mal``) keyed by the archive's own hash, and returns the path of ``model.pth``.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, Optional, Union

import yaml

from mal.io.atomic import atomic_path
from mal.io.paths import PathError, check_file_path, is_same_file
from mal.models.checkpoint import CheckpointError, first_line, load_checkpoint
from mal.yaml_strict import load_yaml

PathLike = Union[str, os.PathLike]

MANIFEST = "MANIFEST.sha256"
MODEL = "model.pth"
CONFIG = "config.yaml"
RESULTS = "RESULTS.md"


class PackError(CheckpointError):
    """A model archive that cannot be written or trusted; the message names the file/member."""


def _sha256_file(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_archive(path: PathLike) -> bool:
    """A file that is a tar archive rather than a ``.pth`` checkpoint (the archive is verified on unpacking)."""
    path = Path(path)
    return path.is_file() and path.suffix != ".pth" and tarfile.is_tarfile(path)


def cache_root() -> Path:
    return Path(os.environ.get("MAL_CACHE_DIR") or Path.home() / ".cache" / "mal") / "models"


def pack_model(model: PathLike, config: PathLike, out: PathLike, results: Optional[PathLike] = None) -> Path:
    """Write ``out`` (tar.gz) holding model.pth, config.yaml, RESULTS.md (optional) and the manifest."""
    model, config = Path(model), Path(config)
    try:
        check_file_path(out, "--out")
    except PathError as e:
        raise PackError(str(e)) from None
    state = load_checkpoint(model)
    if not isinstance(state.get("model"), dict) or "state_dict" not in state["model"]:
        raise PackError(f"{model}: not a model checkpoint (no 'model' record); pack the model.pth that mal-train wrote")
    try:
        with open(config, encoding="utf-8") as f:
            content = load_yaml(f)  # a key written twice is an error
    except FileNotFoundError:
        raise PackError(f"{config}: config file not found") from None
    except yaml.YAMLError as e:
        raise PackError(f"{config}: not valid YAML: {e}") from None
    _check_config_fits(content, state["model"], config, model)
    members: Dict[str, Path] = {MODEL: model, CONFIG: config}
    if results is not None:
        results = Path(results)
        if not results.is_file():
            raise PackError(f"{results}: results file not found")
        members[RESULTS] = results
    for name, path in members.items():
        if is_same_file(path, out):
            raise PackError(f"--out {out}: is the {name} to pack ({path}); choose another archive name")
    manifest = "".join(f"{_sha256_file(path)}  {name}\n" for name, path in members.items()).encode()
    try:
        with atomic_path(out) as tmp:
            with tarfile.open(tmp, "w:gz") as tar:
                for name, path in members.items():
                    tar.add(str(path), arcname=name, recursive=False)
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode = len(manifest), 0o644
                tar.addfile(info, io.BytesIO(manifest))
    except OSError as e:  # a read-only or full disk, an I/O error: nothing is left behind
        raise PackError(f"--out {out}: cannot write the archive: {os_reason(e)}") from None
    return Path(out)


def os_reason(error: OSError) -> str:
    """An OSError's reason without the temporary file it names ("No space left on device")."""
    return error.strerror or first_line(error)


def _check_config_fits(content: object, record: Dict[str, object], config: Path, model: Path) -> None:
    """The config's ``model`` section must describe the checkpoint's model (name and every conf key it sets)."""
    section = content.get("model") if isinstance(content, dict) else None
    if not isinstance(section, dict):
        raise PackError(f"{config}: no 'model' section; pack the config.yaml that mal-train wrote next to {model}")
    if section.get("name") != record.get("name"):
        raise PackError(f"{config}: model.name is '{section.get('name')}' but {model} holds a '{record.get('name')}' model")
    stored = record.get("conf") or {}
    for key, value in (section.get("conf") or {}).items():
        if stored.get(key) != value:
            raise PackError(f"{config}: model.conf.{key} is {value!r} but {model} was trained with {stored.get(key)!r}; "
                            "pack the config.yaml of that run")


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> Dict[str, str]:
    try:
        raw = tar.extractfile(MANIFEST).read().decode("utf-8")
    except (KeyError, AttributeError):
        raise PackError(f"{archive}: no {MANIFEST} inside; not a mal model archive") from None
    expected: Dict[str, str] = {}
    for lineno, line in enumerate(raw.splitlines(), 1):
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise PackError(f"{archive}: {MANIFEST}:{lineno}: expected '<sha256>  <name>', got {line!r}")
        expected[parts[1]] = parts[0]
    if MODEL not in expected:
        raise PackError(f"{archive}: {MANIFEST} does not list {MODEL}")
    return expected


def verify_archive(archive: PathLike) -> Dict[str, str]:
    """Check every member against the manifest; return ``{name: sha256}``."""
    archive = Path(archive)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            expected = _read_manifest(tar, archive)
            seen = set()
            for member in tar.getmembers():
                name = member.name
                if name == MANIFEST:
                    continue
                if not member.isfile() or "/" in name or name.startswith(".") or name not in expected:
                    raise PackError(f"{archive}: unexpected member '{name}' (not a plain file listed in {MANIFEST})")
                digest = hashlib.sha256()
                stream = tar.extractfile(member)
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(chunk)
                if digest.hexdigest() != expected[name]:
                    raise PackError(
                        f"{archive}: member '{name}' fails its sha256 check (manifest {expected[name][:12]}..., "
                        f"content {digest.hexdigest()[:12]}...): the archive was modified or corrupted; refusing to load it"
                    )
                seen.add(name)
    except PackError:
        raise
    except Exception as e:  # tarfile/gzip/zlib raise many types for damaged archives
        raise PackError(f"{archive}: not a readable model archive (truncated or corrupt?): {first_line(e)}") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise PackError(f"{archive}: member '{missing[0]}' listed in {MANIFEST} is missing")
    return expected


def unpack_model(archive: PathLike, cache_dir: Optional[PathLike] = None) -> Path:
    """Verify ``archive`` and extract it (once) to the cache; return the path of its model.pth."""
    archive = Path(archive)
    if not archive.is_file():
        raise PackError(f"{archive}: model archive not found")
    expected = verify_archive(archive)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / _sha256_file(archive)[:24]
    if _extracted(target, expected):
        return target / MODEL
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in expected:
                with tar.extractfile(name) as src, open(tmp / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        for name, digest in expected.items():  # the archive could change between the two reads
            if _sha256_file(tmp / name) != digest:
                raise PackError(f"{archive}: member '{name}' changed while extracting; try again")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not _extracted(target, expected):  # not a concurrent unpack of the same archive
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target / MODEL


def _extracted(target: Path, expected: Dict[str, str]) -> bool:
    return target.is_dir() and all((target / n).is_file() and _sha256_file(target / n) == h for n, h in expected.items())
