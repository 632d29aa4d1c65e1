#!/usr/bin/env python3
"""DNS Challenge (Interspeech 2020) synthetic test sets -> data/test_no_reverb, data/test_with_reverb.

Noisy and clean files are paired by their file id: ``noisy/<anything>_fileid_<N>.wav`` with
``clean/clean_fileid_<N>.wav``. Keys are ``fileid_<N>`` zero-padded to 4 digits (so they sort
naturally); each utterance is its own speaker (the test set does not name speakers). When the
noisy name carries ``_snr<S>_tl<L>_`` (as the official files do), ``utt2snr`` and ``utt2level``
record them. Files are used in place (absolute paths); files not at ``--sample_rate`` are
resampled into ``<dump_dir>/<set>/``. Note that in ``with_reverb`` the clean reference is
itself reverberant (the challenge's convention): models are scored on denoising only.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Dict, Sequence

import soundfile as sf

from dns_layout import TEST_CONDITIONS, TEST_FOLDERS, CorpusError, check_folders, list_wavs
from mal.io import read_audio, write_data_dir, write_wav
from mal.io.audio import resample

FILEID = re.compile(r"fileid_(\d+)$")
SNR_LEVEL = re.compile(r"_snr(-?\d+(?:\.\d+)?)_tl(-?\d+(?:\.\d+)?)_")


def by_fileid(folder: Path) -> Dict[int, Path]:
    """File id -> path; CorpusError for a name without ``fileid_<N>`` or an id used twice."""
    files: Dict[int, Path] = {}
    for path in list_wavs(folder):
        match = FILEID.search(path.stem)
        if not match:
            raise CorpusError(f"{path}: name does not end in fileid_<N>.wav (cannot pair noisy and clean)")
        fileid = int(match.group(1))
        if fileid in files:
            raise CorpusError(f"{folder}: file id {fileid} appears twice ({files[fileid].name}, {path.name})")
        files[fileid] = path
    return files


def pair(noisy: Dict[int, Path], clean: Dict[int, Path], noisy_dir: Path, clean_dir: Path) -> list:
    for a, b, b_dir in ((noisy, clean, clean_dir), (clean, noisy, noisy_dir)):
        lone = sorted(set(a) - set(b))
        if lone:
            raise CorpusError(f"{a[lone[0]]}: no file with fileid_{lone[0]} in {b_dir} ({len(lone)} unpaired)")
    return sorted(noisy)


def at_rate(path: Path, dst: Path, rate: int) -> str:
    """``path`` itself when it is at ``rate``, else a resampled copy at ``dst`` (kept when present)."""
    if sf.info(str(path)).samplerate == rate:
        return str(path)
    if not dst.is_file():
        wav, src_rate = read_audio(str(path))
        write_wav(dst, resample(wav, src_rate, rate), rate)
    return str(dst)


def make_set(db_root: Path, condition: str, args: argparse.Namespace) -> None:
    name = f"test_{condition}"
    noisy_dir, clean_dir = db_root / TEST_FOLDERS[f"{condition}_noisy"], db_root / TEST_FOLDERS[f"{condition}_clean"]
    noisy, clean = by_fileid(noisy_dir), by_fileid(clean_dir)
    dump = Path(args.dump_dir).absolute() / name
    tables: Dict[str, Dict[str, str]] = {"wav.scp": {}, "spk1.scp": {}, "utt2spk": {}, "utt2snr": {}, "utt2level": {}}
    for fileid in pair(noisy, clean, noisy_dir, clean_dir):
        key = f"fileid_{fileid:04d}"
        tables["wav.scp"][key] = at_rate(noisy[fileid], dump / "noisy" / f"{key}.wav", args.sample_rate)
        tables["spk1.scp"][key] = at_rate(clean[fileid], dump / "clean" / f"{key}.wav", args.sample_rate)
        tables["utt2spk"][key] = key
        match = SNR_LEVEL.search(noisy[fileid].stem)
        if match:
            tables["utt2snr"][key], tables["utt2level"][key] = match.group(1), match.group(2)
    for extra in ("utt2snr", "utt2level"):
        if len(tables[extra]) != len(tables["wav.scp"]):
            del tables[extra]
    write_data_dir(Path(args.data_dir) / name, tables)
    print(f"{name}: {len(tables['wav.scp'])} utterances -> {Path(args.data_dir) / name}")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db_root", required=True, help="the DNS-Challenge clone (holding datasets/)")
    parser.add_argument("--data_dir", default="data", help="data dirs go to <data_dir>/test_{no,with}_reverb")
    parser.add_argument("--dump_dir", default="dump", help="resampled copies (only when a file is not at --sample_rate)")
    parser.add_argument("--sample_rate", type=int, default=16000)
    return parser


def main(argv: Sequence[str] = None) -> int:
    args = get_parser().parse_args(argv)
    db_root = Path(args.db_root).absolute()
    try:
        check_folders(db_root, TEST_FOLDERS)
        for condition in TEST_CONDITIONS:
            make_set(db_root, condition, args)
    except CorpusError as e:
        print(f"{Path(__file__).name}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
