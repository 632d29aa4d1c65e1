"""Kaldi-style data directories: scp files, audio, validation."""

from mal.io.audio import AudioError, AudioInfo, audio_info, read_audio, write_wav
from mal.io.datadir import DataDir, DataDirError, write_data_dir
from mal.io.lengths import compute_num_samples, write_utt2num_samples
from mal.io.scp import ScpError, read_scp, scan_scp, write_scp
from mal.io.validate import validate_data_dir

__all__ = [
    "AudioError",
    "AudioInfo",
    "DataDir",
    "DataDirError",
    "ScpError",
    "audio_info",
    "compute_num_samples",
    "read_audio",
    "read_scp",
    "scan_scp",
    "validate_data_dir",
    "write_data_dir",
    "write_scp",
    "write_utt2num_samples",
    "write_wav",
]
