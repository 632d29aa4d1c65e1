"""Inference: chunked overlap-add and streaming enhancement."""
