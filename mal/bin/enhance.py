"""mal-enhance: enhance a wav.scp into DIR/wav/<key>.wav + DIR/wav.scp, or files, folders and globs.

    mal-enhance --model exp/x/model.pth --wav-scp data/test/wav.scp --out-dir DIR \\
        [--key-file keys.scp] [--chunk-seconds 10 --overlap-seconds 1] [--streaming] \\
        [--device auto] [--num-threads 1] [--skip-existing]
    mal-enhance --model exp/x/model.pth in.wav out.flac
    mal-enhance --model exp/x/model.pth noisy_dir/ clean_dir/          # a folder, mirrored
    mal-enhance --model exp/x/model.pth 'noisy/**/*.wav' clean_dir/     # a glob (quoted)
    mal-enhance --channels each stereo.wav out.wav                     # the shipped default model
    mal-enhance --peer rnnoise --wav-scp data/test/wav.scp --out-dir DIR [--key-file keys.scp]

Folders and globs go on past a file that cannot be read or enhanced and exit 1 at the end,
listing it; an existing output is replaced (logged) unless ``--no-clobber``. Output that would
clip (float input above 1.0) is scaled down, with a warning, unless ``--keep-level``.
Output keeps the input's sample rate (other rates are resampled to the model's and back).
``--model`` takes a model.pth, a packed archive or a shipped model's name; without it (and
without ``--peer``) the shipped default model runs. Multichannel files need ``--channels``.
``--peer NAME`` runs an external enhancer instead of a mal model (mal.enhance.peers: rnnoise,
noisereduce, noisereduce_stationary, nsnet2) with the same outputs; the model options
(chunks, streaming, --norm-rms, --device) do not apply to peers.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from typing import Callable, List, NoReturn, Optional

import torch

from mal.bin import add_device_option
from mal.bin.interrupt import exit_interrupted, reliable_interrupt
from mal.enhance.chunked import DEFAULT_NORM_RMS
from mal.enhance.files import CHANNEL_MODES, enhance_paths
from mal.enhance.inference import EnhanceOptions, Enhancer, SignalEnhancer, enhance_scp
from mal.enhance.peers import build_peer, peer_names
from mal.enhance.streaming import DEFAULT_BLOCK_SECONDS
from mal.models.shipped import resolve_model


def number(kind: type, minimum: float, strict: bool) -> Callable[[str], float]:
    """An argparse type: a finite ``kind`` above (``strict``) or at least ``minimum``."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum}, got {text}")
        return value
    return parse


def add_model_options(p: argparse.ArgumentParser) -> None:
    """How the model runs (shared with mal-self-consistency)."""
    p.add_argument("--chunk-seconds", type=float, default=10.0, help="offline chunk length; <= 0: whole file at once")
    p.add_argument("--overlap-seconds", type=number(float, 0, False), default=1.0, help="cross-faded overlap between chunks (<= chunk / 2)")
    p.add_argument("--streaming", action="store_true", help="run a causal model's streamer block by block")
    p.add_argument("--block-seconds", type=number(float, 0, True), default=DEFAULT_BLOCK_SECONDS, help="streaming block length")
    p.add_argument(
        "--norm-rms", type=number(float, 0, False), default=DEFAULT_NORM_RMS,
        help="scale each file to this RMS before the model and back after; 0 disables",
    )
    add_device_option(p)
    p.add_argument("--num-threads", type=number(int, 1, False), default=1, help="torch CPU threads")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line, ``prog: error: ...`` (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def options_from_args(args: argparse.Namespace) -> EnhanceOptions:
    return EnhanceOptions(
        chunk_seconds=args.chunk_seconds,
        overlap_seconds=args.overlap_seconds,
        streaming=args.streaming,
        block_seconds=args.block_seconds,
        norm_rms=args.norm_rms,
    )


def get_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="mal-enhance",
        description="Enhance speech with a trained mal model (a .pth or a packed archive).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="IN OUT",
                   help="an audio file, a folder or a quoted glob, and the output file or folder (format from its extension)")
    system = p.add_mutually_exclusive_group()
    system.add_argument("--model", help="model.pth, packed model archive or a shipped model's name (none: the shipped default model)")
    system.add_argument("--peer", choices=peer_names(), help="an external enhancer instead of a model")
    p.add_argument("--wav-scp", help="Kaldi wav.scp to enhance (data-dir mode)")
    p.add_argument("--out-dir", help="writes OUT_DIR/wav/<key>.wav and OUT_DIR/wav.scp")
    p.add_argument("--key-file", help="only these keys (first field of each line, e.g. a split wav.scp)")
    p.add_argument("--skip-existing", action="store_true", help="keep outputs already in OUT_DIR/wav")
    p.add_argument("--no-clobber", action="store_true", help="IN OUT mode: keep existing outputs (default: replace them, logged)")
    p.add_argument("--keep-level", action="store_true",
                   help="write output at the input's level even when it clips (float input above 1.0); default: scale it down, warned")
    p.add_argument("--channels", choices=CHANNEL_MODES,
                   help="multichannel files (IN OUT mode): downmix to mono, or enhance each channel")
    add_model_options(p)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.wav_scp is None and len(args.files) != 2:
        parser.error("give --wav-scp and --out-dir, or exactly two paths: IN OUT")
    if args.wav_scp is not None and (args.files or args.out_dir is None):
        parser.error("--wav-scp needs --out-dir and no positional paths")
    if args.wav_scp is not None and args.channels is not None:
        parser.error("--channels applies to IN OUT mode (files, folders, globs), not to --wav-scp")
    if args.peer is not None and args.streaming:
        parser.error("--streaming applies to mal models only, not to --peer")
    if args.wav_scp is not None and args.no_clobber:
        parser.error("--no-clobber applies to IN OUT mode; with --wav-scp use --skip-existing")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mal-enhance: %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.num_threads)
    try:
        with reliable_interrupt():
            enhancer: SignalEnhancer
            if args.peer is not None:
                enhancer = build_peer(args.peer, args.num_threads)
            else:
                enhancer = Enhancer.from_checkpoint(resolve_model(args.model), options_from_args(args), args.device)
            if args.wav_scp is not None:
                enhance_scp(enhancer, args.wav_scp, args.out_dir, args.key_file, args.skip_existing, args.keep_level)
            else:
                enhance_paths(enhancer, args.files[0], args.files[1], args.channels, args.no_clobber, args.keep_level)
    except (ValueError, KeyError) as e:
        print(f"mal-enhance: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. a folder that cannot be listed or created
        where = f"{e.filename}: " if e.filename else ""
        print(f"mal-enhance: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # outputs are written atomically: the finished ones are whole, none is partial
        again = "--skip-existing" if args.wav_scp is not None else "--no-clobber"
        exit_interrupted(f"mal-enhance: interrupted; the outputs written so far are complete (re-run with {again} to go on)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
