"""Inference: chunked overlap-add and streaming enhancement, wav.scp/file drivers, self-consistency."""
from mal.enhance.chunked import EnhanceError, enhance_chunked
from mal.enhance.inference import EnhanceOptions, Enhancer, enhance_file, enhance_scp
from mal.enhance.streaming import StreamingError, enhance_streaming

__all__ = [
    "EnhanceError",
    "EnhanceOptions",
    "Enhancer",
    "StreamingError",
    "enhance_chunked",
    "enhance_file",
    "enhance_scp",
    "enhance_streaming",
]
