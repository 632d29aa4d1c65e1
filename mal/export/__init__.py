"""Export trained models for deployment: ONNX (and TorchScript), offline and streaming forms."""
