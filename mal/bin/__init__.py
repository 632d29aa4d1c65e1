"""Console entry points: each has get_parser() and main(argv); one job each."""

import argparse

#: Every CLI's --device default: CUDA when available, else the CPU.
DEFAULT_DEVICE = "auto"


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device`` with the default all mal CLIs share."""
    parser.add_argument("--device", default=DEFAULT_DEVICE, help="auto (cuda when available, else cpu), cpu, cuda or cuda:N")
