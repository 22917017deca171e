"""ONNX, fp16, int8 and TorchScript exports, each verified (Qt-free)."""
