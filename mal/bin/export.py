"""mal-export: write a trained model as ONNX (offline and streaming forms) and TorchScript.

    mal-export --model exp/x/mal/model.pth --out-dir deploy/ [--form both] [--torchscript]

writes ``OUT_DIR/<name>.onnx`` (offline: [batch, time] in and out), ``OUT_DIR/<name>.stream.onnx``
(streaming, causal TFMaskNet, BandGainGRU and DEMUCS: the network steps with their state explicit), and with
``--torchscript`` ``OUT_DIR/<name>.ts.pt`` (and ``<name>.stream.ts.pt``). Each file is run once
after writing and must match PyTorch within ``--tolerance``. Run them with mal.export.runtime (OnnxOffline, exported_streamer).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from mal.export.graphs import UnsupportedForm
from mal.export.onnx_export import (
    TOLERANCE,
    export_offline_onnx,
    export_streaming_onnx,
    export_streaming_torchscript,
    export_torchscript,
    write_bytes,
)
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


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mal-export: %(message)s", stream=sys.stderr)
    try:
        path = resolve_model(args.model)
        model, _ = load_model(path)
        length = model.valid_length(max(1, int(round(args.length_seconds * model.sample_rate))))
        out, stem = Path(args.out_dir), args.name or Path(path).name.split(".")[0]
        if args.form in ("offline", "both"):
            data, fixed = export_offline_onnx(model, length, args.tolerance)
            logging.info("wrote %s (offline; %s)", write_bytes(out / f"{stem}.onnx", data),
                         f"{fixed} samples per call" if fixed else "any length")
            if args.torchscript:
                data, fixed = export_torchscript(model, length, args.tolerance)
                logging.info("wrote %s (TorchScript, offline; %s)", write_bytes(out / f"{stem}.ts.pt", data),
                             f"{fixed} samples per call" if fixed else "any length")
        if args.form in ("streaming", "both"):
            try:
                data = export_streaming_onnx(model, args.tolerance)
                logging.info("wrote %s (streaming)", write_bytes(out / f"{stem}.stream.onnx", data))
                if args.torchscript:
                    data = export_streaming_torchscript(model, args.tolerance)
                    logging.info("wrote %s (TorchScript, streaming)", write_bytes(out / f"{stem}.stream.ts.pt", data))
            except UnsupportedForm as e:
                if args.form == "streaming":
                    raise
                logging.info("no streaming form: %s", e)
    except (ValueError, OSError) as e:  # ExportError, CheckpointError, ShippedModelError are ValueErrors
        print(f"mal-export: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
