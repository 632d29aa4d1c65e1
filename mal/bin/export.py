"""mal-export: write a trained model as ONNX (offline and streaming forms) and TorchScript.

    mal-export --model exp/x/mal/model.pth --out-dir deploy/ [--form both] [--torchscript]

writes ``OUT_DIR/<name>.onnx`` (offline: [batch, time] in and out), ``OUT_DIR/<name>.stream.onnx``
(streaming, causal TFMaskNet, BandGainGRU and DEMUCS: the network steps with their state explicit), and with
``--torchscript`` ``OUT_DIR/<name>.ts.pt`` (and ``<name>.stream.ts.pt``). Each file is run once
after writing and must match PyTorch within ``--tolerance``. Run them with mal.export.runtime (OnnxOffline, exported_streamer).

The files are written into a hidden folder inside OUT_DIR and renamed into place only when all
passed, so a killed export leaves the earlier set whole; each records the model's sha256 and
mal's version (``mal.export.runtime.export_info``), and this stem's files of another model
(a form not written this time) are removed, so a set never mixes two models.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from mal.export.graphs import ExportError, UnsupportedForm
from mal.export.onnx_export import (
    TOLERANCE,
    export_offline_onnx,
    export_streaming_onnx,
    export_streaming_torchscript,
    export_torchscript,
    provenance,
    require_export_extra,
)
from mal.export.runtime import export_info, export_names
from mal.models.pretrained import load_model
from mal.models.shipped import resolve_model

FORMS = ("offline", "streaming", "both")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mal-export",
        description="Export a trained model to ONNX (offline and streaming forms) and TorchScript.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", help="model.pth, packed archive or shipped model name (none: the shipped default)")
    p.add_argument("--out-dir", required=True, help="where the exported files go")
    p.add_argument("--name", help="file name stem (default: the model file's stem, e.g. 'model')")
    p.add_argument("--form", choices=FORMS, default="both",
                   help="offline, streaming (causal TFMaskNet, BandGainGRU or DEMUCS), or both (streaming only where the model streams)")
    p.add_argument("--onnx", action="store_true", help="write ONNX files (what mal-export always does)")
    p.add_argument("--torchscript", action="store_true", help="also write the forms as TorchScript")
    p.add_argument("--length-seconds", type=float, default=4.0,
                   help="samples per call of an offline graph that cannot take any length (and of the checks)")
    p.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest difference from PyTorch accepted")
    return p


def _export_all(args: argparse.Namespace, path: str, stage: Path, stem: str) -> List[str]:
    """Write every requested form into ``stage``; the names written."""
    extra = provenance(path)
    model, _ = load_model(path)
    length = model.valid_length(max(1, int(round(args.length_seconds * model.sample_rate))))
    written: List[str] = []

    def write(name: str, data: bytes, what: str) -> None:
        (stage / name).write_bytes(data)
        written.append(name)
        logging.info("exported %s (%s)", name, what)

    if args.form in ("offline", "both"):
        data, fixed = export_offline_onnx(model, length, args.tolerance, extra)
        write(f"{stem}.onnx", data, f"offline; {f'{fixed} samples per call' if fixed else 'any length'}")
        if args.torchscript:
            data, fixed = export_torchscript(model, length, args.tolerance, extra)
            write(f"{stem}.ts.pt", data, f"TorchScript, offline; {f'{fixed} samples per call' if fixed else 'any length'}")
    if args.form in ("streaming", "both"):
        try:
            data = export_streaming_onnx(model, args.tolerance, extra)
            write(f"{stem}.stream.onnx", data, "streaming")
            if args.torchscript:
                write(f"{stem}.stream.ts.pt", export_streaming_torchscript(model, args.tolerance, extra), "TorchScript, streaming")
        except UnsupportedForm as e:
            if args.form == "streaming":
                raise
            logging.info("no streaming form: %s", e)
    return written


def _move_into_place(stage: Path, out: Path, stem: str, written: List[str], sha256: str) -> None:
    """Rename the staged files over ``out``'s; then remove this stem's files of another model
    (an earlier export's form not written this time), so the set never mixes two models."""
    for name in written:
        os.replace(stage / name, out / name)
        logging.info("wrote %s", out / name)
    for name in export_names(stem):
        old = out / name
        if name not in written and old.is_file() and export_info(old).get("model_sha256") != sha256:
            old.unlink()
            logging.info("removed %s (exported from another model)", old)


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mal-export: %(message)s", stream=sys.stderr)
    stage: Optional[Path] = None
    try:
        require_export_extra()
        path = resolve_model(args.model)
        out, stem = Path(args.out_dir), args.name or Path(path).name.split(".")[0]
        if out.exists() and not out.is_dir():
            raise ExportError(f"--out-dir {out}: exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        # Staged beside the output (same file system) and renamed into place only when every
        # form passed its check: a killed export leaves the earlier set whole.
        stage = Path(tempfile.mkdtemp(prefix=f".{stem}.mal-export-", dir=out))
        written = _export_all(args, path, stage, stem)
        _move_into_place(stage, out, stem, written, str(provenance(path)["model_sha256"]))
    except (ValueError, OSError) as e:  # ExportError, CheckpointError, ShippedModelError are ValueErrors
        print(f"mal-export: error: {e}", file=sys.stderr)
        return 1
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
