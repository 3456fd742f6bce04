"""Inference backends behind one protocol (no heavy imports here).

``base`` (protocol, errors, :class:`ModelSpec`), ``fake.FakeBackend`` (deterministic, no
runtime needed), ``onnx_cpu.OnnxCpuBackend`` (ONNX Runtime in-process) and
``triton_grpc.TritonGrpcBackend`` (tritonclient gRPC aio). Import the adapters from their
modules; onnxruntime and tritonclient are only imported there.
"""

from deployments.backends.base import (
    BackendError,
    InferenceBackend,
    InferenceTimeout,
    ModelNotFound,
    ModelSpec,
    ServerUnavailable,
    ShapeMismatch,
)

__all__ = [
    "BackendError",
    "InferenceBackend",
    "InferenceTimeout",
    "ModelNotFound",
    "ModelSpec",
    "ServerUnavailable",
    "ShapeMismatch",
]
