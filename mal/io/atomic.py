"""Write files atomically: a crash never leaves a half-written file behind; lock a directory."""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator, List, Union

PathLike = Union[str, os.PathLike]
logger = logging.getLogger(__name__)


#: The temporary files of :func:`atomic_path`: ``.NAME.<8 random chars>.tmp<NAME's suffix>``.
TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp(?P<suffix>\.[^./]*)?")


def is_temporary(path: PathLike) -> bool:
    """True for a temporary file of :func:`atomic_path` (left behind when its writer was killed)."""
    match = TEMPORARY.fullmatch(Path(path).name)
    return bool(match) and Path(match["name"]).suffix == (match["suffix"] or "")


def remove_temporaries(path: PathLike) -> List[Path]:
    """Delete the temporary files that killed writers of ``path`` left next to it; return them."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    found = [p for p in path.parent.glob(f".{glob_escape(path.name)}.*.tmp{glob_escape(path.suffix)}")
             if is_temporary(p) and TEMPORARY.fullmatch(p.name)["name"] == path.name]  # type: ignore[index]
    for stale in found:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    return found


def glob_escape(text: str) -> str:
    return re.sub(r"([*?[])", r"[\1]", text)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (see :data:`TEMPORARY`); rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``path`` only when the block succeeds."""
    with atomic_path(path) as tmp:
        kwargs = {} if "b" in mode else {"encoding": encoding}
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_json(path: PathLike, value: Any) -> None:
    """``value`` as indented JSON, written atomically."""
    with atomic_open(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=False)


@contextlib.contextmanager
def dir_lock(root: PathLike, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock on directory ``root`` (its ``.lock`` file), released when the process
    dies. With ``wait`` a second holder waits for the first; without it, it gets False at once."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            logger.info("'%s' is being run by another process; waiting for it", root.name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
