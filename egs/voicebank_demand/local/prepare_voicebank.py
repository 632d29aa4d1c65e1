#!/usr/bin/env python3
"""VoiceBank+DEMAND (Valentini-Botinhao et al., Edinburgh DataShare 10283/2791) -> Kaldi data dirs.

Reads the official layout under ``--db_root``::

    clean_trainset_28spk_wav/p226_001.wav ...   noisy_trainset_28spk_wav/p226_001.wav ...
    clean_testset_wav/p232_001.wav ...          noisy_testset_wav/p232_001.wav ...
    trainset_28spk_txt/p226_001.txt ...         testset_txt/p232_001.txt ...

resamples the 48 kHz wavs to ``--sample_rate`` with soxr (high quality) into
``<dump_dir>/<set>/{noisy,clean}/<utt>.wav`` (PCM-16; files already there are kept, so a rerun
only does what is missing), and writes ``<data_dir>/{train,valid,test}`` with wav.scp (noisy),
spk1.scp (clean), utt2spk, spk2utt and text (absolute paths, so other recipes can use these
dirs as test sets). ``valid`` holds the training utterances of ``--valid_speakers``.
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import soundfile as sf

from mal.io import AudioError, read_audio, write_data_dir, write_wav
from mal.io.audio import resample

#: Utterances of the official release, for an informative note when a copy differs.
OFFICIAL_COUNTS = {"28spk": 11572, "test": 824}
UTT_PATTERN = re.compile(r"^(p\d+)_\d+$")


class CorpusError(RuntimeError):
    """The corpus copy is incomplete or laid out differently; the message says what is expected where."""


def expected_folders(trainset: str, with_text: bool) -> Dict[str, str]:
    """Role -> folder name of the official release."""
    folders = {
        "train_clean": f"clean_trainset_{trainset}_wav",
        "train_noisy": f"noisy_trainset_{trainset}_wav",
        "test_clean": "clean_testset_wav",
        "test_noisy": "noisy_testset_wav",
    }
    if with_text:
        folders.update(train_text=f"trainset_{trainset}_txt", test_text="testset_txt")
    return folders


def _hint(db_root: Path, name: str) -> str:
    """Why ``name`` may be missing: an unextracted zip, a similar name, or a nested copy."""
    if (db_root / f"{name}.zip").is_file():
        return f" ({name}.zip is there: unzip it in {db_root})"
    entries = sorted(os.listdir(db_root)) if db_root.is_dir() else []
    close = difflib.get_close_matches(name, entries, n=1, cutoff=0.75)
    if close:
        return f" (found '{close[0]}' instead: misnamed?)"
    nested = sorted(db_root.glob(f"*/{name}"))
    if nested:
        return f" (found {nested[0]}: point --db_root at {nested[0].parent})"
    return ""


def check_layout(db_root: Path, folders: Mapping[str, str]) -> None:
    """Raise CorpusError listing every expected folder that is missing, with a hint each."""
    if not db_root.is_dir():
        raise CorpusError(f"--db_root {db_root}: directory not found (expected the VoiceBank+DEMAND folders "
                          f"{', '.join(folders.values())} in it, or pass --download true)")
    missing = [f"  {db_root / name}/{_hint(db_root, name)}" for name in folders.values() if not (db_root / name).is_dir()]
    if missing:
        raise CorpusError(f"{db_root}: VoiceBank+DEMAND folders missing (expected the official layout of "
                          "Edinburgh DataShare 10283/2791):\n" + "\n".join(missing))


def list_wavs(folder: Path) -> Dict[str, Path]:
    """Utterance id -> wav path; CorpusError when the folder holds none or a name is not ``p<N>_<M>.wav``."""
    wavs = {p.stem: p.resolve() for p in folder.iterdir() if p.suffix.lower() == ".wav"}
    if not wavs:
        raise CorpusError(f"{folder}: no .wav files (expected p<speaker>_<number>.wav, e.g. p226_001.wav)")
    bad = sorted(u for u in wavs if not UTT_PATTERN.match(u))
    if bad:
        raise CorpusError(f"{wavs[bad[0]]}: unexpected file name (expected p<speaker>_<number>.wav); {len(bad)} such files")
    for utt, path in wavs.items():
        if any(c.isspace() for c in str(path)):
            raise CorpusError(f"{path}: white space in the path cannot go into a Kaldi scp file; move the corpus")
    return wavs


def pair_up(noisy: Dict[str, Path], clean: Dict[str, Path], noisy_dir: Path, clean_dir: Path) -> List[str]:
    """Sorted utterance ids present in both folders; CorpusError naming the first unpaired file."""
    for a, b, a_dir, b_dir in ((noisy, clean, noisy_dir, clean_dir), (clean, noisy, clean_dir, noisy_dir)):
        lone = sorted(set(a) - set(b))
        if lone:
            raise CorpusError(f"{a[lone[0]]}: no matching {b_dir / (lone[0] + '.wav')} ({len(lone)} files of {a_dir} unpaired)")
    return sorted(noisy)


def read_transcripts(folder: Path, utts: Sequence[str]) -> Dict[str, str]:
    """Utterance id -> transcript (one line, white space collapsed) from ``<folder>/<utt>.txt``."""
    text = {}
    for utt in utts:
        path = folder / f"{utt}.txt"
        try:
            raw = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise CorpusError(f"{path}: transcript missing (every wav needs its .txt; or run with --text false)") from None
        line = " ".join(raw.split())
        if not line:
            raise CorpusError(f"{path}: empty transcript")
        text[utt] = line
    return text


def convert(job: Tuple[str, str, str, int]) -> Tuple[str, int, bool]:
    """Resample one wav into the dump (atomic write): ``(dst, samples, written)``.

    An output already there at the right rate is kept (atomic writes leave no partial files).
    """
    key, src, dst, rate = job
    if os.path.isfile(dst):
        try:
            info = sf.info(dst)
            if info.samplerate == rate and info.frames > 0:
                return dst, int(info.frames), False
        except RuntimeError:
            pass  # unreadable: write it again
    wav, src_rate = read_audio(src, key=key)
    out = resample(wav, src_rate, rate)
    write_wav(dst, out, rate)
    return dst, len(out), True


def source_rate(path: Path) -> int:
    try:
        return int(sf.info(str(path)).samplerate)
    except RuntimeError as e:
        raise CorpusError(f"{path}: cannot read the wav header: {e}") from None


def build_set(name: str, utts: Sequence[str], noisy: Mapping[str, Path], clean: Mapping[str, Path],
              text: Mapping[str, str], args: argparse.Namespace, pool: ProcessPoolExecutor) -> None:
    """Resample (when needed) and write ``<data_dir>/<name>``."""
    jobs, tables = [], {"wav.scp": {}, "spk1.scp": {}, "utt2spk": {}}
    for utt in utts:
        for scp, kind, src in (("wav.scp", "noisy", noisy[utt]), ("spk1.scp", "clean", clean[utt])):
            if source_rate(src) == args.sample_rate:
                tables[scp][utt] = str(src)
            else:
                dst = Path(args.dump_dir).resolve() / name / kind / f"{utt}.wav"
                jobs.append((utt, str(src), str(dst), args.sample_rate))
                tables[scp][utt] = str(dst)
        tables["utt2spk"][utt] = UTT_PATTERN.match(utt).group(1)
    lengths: Dict[str, int] = {}
    written = 0
    try:
        for dst, length, wrote in pool.map(convert, jobs, chunksize=16):
            lengths[dst] = length
            written += wrote
    except AudioError as e:
        raise CorpusError(str(e)) from None
    for utt in utts:
        a, b = lengths.get(tables["wav.scp"][utt]), lengths.get(tables["spk1.scp"][utt])
        if a is not None and b is not None and a != b:
            raise CorpusError(f"{noisy[utt]} and {clean[utt]}: different lengths ({a} vs {b} samples at {args.sample_rate} Hz)")
    if text:
        tables["text"] = {utt: text[utt] for utt in utts}
    write_data_dir(Path(args.data_dir) / name, tables)
    speakers = sorted(set(tables["utt2spk"].values()))
    print(f"{name}: {len(utts)} utterances, {len(speakers)} speakers ({', '.join(speakers)}), "
          f"{written} files resampled to {args.sample_rate} Hz ({len(jobs) - written} already in {args.dump_dir}) -> {Path(args.data_dir) / name}")


def note_counts(what: str, found: int, official: int) -> None:
    if found != official:
        print(f"note: {what}: {found} utterances; the official release has {official}", file=sys.stderr)


def prepare(args: argparse.Namespace) -> None:
    db_root = Path(args.db_root).absolute()
    folders = expected_folders(args.trainset, args.text)
    check_layout(db_root, folders)
    sets: Dict[str, Tuple[List[str], Dict[str, Path], Dict[str, Path], Dict[str, str]]] = {}
    for part in ("train", "test"):
        noisy_dir, clean_dir = db_root / folders[f"{part}_noisy"], db_root / folders[f"{part}_clean"]
        noisy, clean = list_wavs(noisy_dir), list_wavs(clean_dir)
        utts = pair_up(noisy, clean, noisy_dir, clean_dir)
        text = read_transcripts(db_root / folders[f"{part}_text"], utts) if args.text else {}
        sets[part] = (utts, noisy, clean, text)
    if args.trainset in OFFICIAL_COUNTS:
        note_counts(folders["train_noisy"], len(sets["train"][0]), OFFICIAL_COUNTS[args.trainset])
    note_counts(folders["test_noisy"], len(sets["test"][0]), OFFICIAL_COUNTS["test"])

    valid_speakers = [s for s in args.valid_speakers.split(",") if s]
    if not valid_speakers:
        raise CorpusError("--valid_speakers: name at least one training speaker to hold out (e.g. p226,p287)")
    train_utts, noisy, clean, text = sets["train"]
    speaker_of = {u: UTT_PATTERN.match(u).group(1) for u in train_utts}
    unknown = sorted(set(valid_speakers) - set(speaker_of.values()))
    if unknown:
        raise CorpusError(f"--valid_speakers: {', '.join(unknown)} not among the training speakers of "
                          f"{db_root / folders['train_noisy']} ({', '.join(sorted(set(speaker_of.values())))})")
    test_speakers = {u.split("_")[0] for u in sets["test"][0]}
    overlap = sorted(test_speakers & set(speaker_of.values()))
    if overlap:
        raise CorpusError(f"speakers {', '.join(overlap)} are in both the training and the test folders of {db_root}")
    with ProcessPoolExecutor(max_workers=max(1, args.nj)) as pool:
        build_set("train", [u for u in train_utts if speaker_of[u] not in valid_speakers], noisy, clean, text, args, pool)
        build_set("valid", [u for u in train_utts if speaker_of[u] in valid_speakers], noisy, clean, text, args, pool)
        build_set("test", *sets["test"], args, pool)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db_root", required=True, help="folder holding the VoiceBank+DEMAND folders")
    parser.add_argument("--trainset", default="28spk", choices=("28spk", "56spk"), help="which training set")
    parser.add_argument("--valid_speakers", default="p226,p287", help="comma-separated training speakers held out for validation")
    parser.add_argument("--dump_dir", default="dump", help="resampled wavs go to <dump_dir>/<set>/{noisy,clean}")
    parser.add_argument("--data_dir", default="data", help="Kaldi data dirs go to <data_dir>/{train,valid,test}")
    parser.add_argument("--sample_rate", type=int, default=16000, help="output sample rate")
    parser.add_argument("--nj", type=int, default=4, help="parallel resampling processes")
    parser.add_argument("--text", default="true", choices=("true", "false"), help="write text from the .txt transcripts")
    return parser


def main(argv: Sequence[str] = None) -> int:
    args = get_parser().parse_args(argv)
    args.text = args.text == "true"
    try:
        prepare(args)
    except CorpusError as e:
        print(f"{Path(__file__).name}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
