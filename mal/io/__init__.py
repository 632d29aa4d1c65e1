"""Kaldi-style data directories: scp files, audio, validation."""

from mal.io.audio import AudioError, read_audio, write_wav
from mal.io.datadir import DataDir, DataDirError
from mal.io.scp import ScpError, read_scp, write_scp

__all__ = [
    "AudioError",
    "DataDir",
    "DataDirError",
    "ScpError",
    "read_audio",
    "read_scp",
    "write_scp",
    "write_wav",
]
