"""Triton Inference Server: model repository builder, engine builder, process management.

Submodules: ``repository`` (``a2f models build-repo``), ``engines`` (``a2f models
build-engines``), ``server`` (``a2f triton start|stop|status``), ``pbtxt`` (config.pbtxt),
``fixtures`` (tiny ONNX networks in NVIDIA's I/O) and ``python_model/model.py`` (the CPU model
template). Nothing heavy is imported here.
"""
