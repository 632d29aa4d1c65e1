"""The folders of the DNS Challenge (Interspeech 2020, github.com/microsoft/DNS-Challenge, branch
``interspeech2020/master``) and clear errors when a copy lacks them or holds Git LFS pointers."""
from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Dict, Iterable, List

#: Role -> folder under the repository root (``--db_root``).
TRAIN_FOLDERS = {"clean": "datasets/clean", "noise": "datasets/noise"}
TEST_CONDITIONS = ("no_reverb", "with_reverb")
TEST_FOLDERS = {
    f"{condition}_{kind}": f"datasets/test_set/synthetic/{condition}/{kind}"
    for condition in TEST_CONDITIONS for kind in ("clean", "noisy")
}
#: Where the later challenges ship RIRs (used for reverberation when present).
RIR_FOLDER = "datasets/impulse_responses"
READER = re.compile(r"reader_(\d+)")
LFS_POINTER = b"version https://git-lfs"


class CorpusError(RuntimeError):
    """The copy is incomplete or laid out differently; the message says what is expected where."""


def _hint(db_root: Path, relative: str) -> str:
    """A likely reason for a missing folder: a similar name where it should be, or --db_root one level off."""
    parent = db_root
    for part in Path(relative).parts:
        if not (parent / part).is_dir():
            close = difflib.get_close_matches(part, sorted(os.listdir(parent)), n=1, cutoff=0.75)
            if close:
                return f" (found '{parent / close[0]}' instead: misnamed?)"
            break
        parent = parent / part
    inner = relative.split("/", 1)[1] if relative.startswith("datasets/") else None
    if inner and (db_root / inner).is_dir():
        return f" (--db_root seems to be the datasets folder itself: point it at {db_root.parent})"
    nested = sorted(db_root.glob(f"*/{relative}"))
    if nested:
        return f" (found {nested[0]}: point --db_root at {nested[0].parents[len(Path(relative).parts) - 1]})"
    return ""


def check_folders(db_root: Path, folders: Dict[str, str]) -> None:
    """Raise CorpusError listing every missing folder with a hint, or Git LFS pointer files."""
    if not db_root.is_dir():
        raise CorpusError(f"--db_root {db_root}: directory not found (expected a clone of microsoft/DNS-Challenge, "
                          f"branch interspeech2020/master, with {', '.join(folders.values())})")
    missing = [f"  {db_root / rel}/{_hint(db_root, rel)}" for rel in folders.values() if not (db_root / rel).is_dir()]
    if missing:
        raise CorpusError(f"{db_root}: DNS Challenge folders missing (expected the Interspeech 2020 layout of "
                          "microsoft/DNS-Challenge):\n" + "\n".join(missing))


def list_wavs(folder: Path) -> List[Path]:
    """Sorted ``*.wav`` in ``folder``; CorpusError when there are none or they are Git LFS pointers."""
    wavs = sorted(p.absolute() for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
    if not wavs:
        raise CorpusError(f"{folder}: no .wav files")
    check_not_lfs_pointers(wavs[:3])
    for path in wavs:
        if any(c.isspace() for c in str(path)):
            raise CorpusError(f"{path}: white space in the path cannot go into a Kaldi scp file; move the corpus")
    return wavs


def check_not_lfs_pointers(paths: Iterable[Path]) -> None:
    for path in paths:
        with open(path, "rb") as f:
            if f.read(len(LFS_POINTER)) == LFS_POINTER:
                raise CorpusError(f"{path} is a Git LFS pointer, not audio: the clone lacks the LFS objects "
                                  "(run 'git lfs install && git lfs pull' in the DNS-Challenge clone)")


def speaker_of(path: Path) -> str:
    """``reader<id>`` from ``book_..._reader_<id>_<n>.wav``; ``unknown`` when the name has no reader."""
    match = READER.search(path.stem)
    return f"reader{match.group(1)}" if match else "unknown"
