"""torch modules of the default networks, exported to ONNX in NVIDIA's I/O contract."""
