"""Typed Triton model configurations rendered as ``config.pbtxt`` text.

Only the fields the repository builder needs. The text is protobuf text format of Triton's
``inference.ModelConfig`` (tests parse it back with ``tritonclient.grpc.model_config_pb2``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

KIND_CPU = "KIND_CPU"
KIND_GPU = "KIND_GPU"


@dataclass(frozen=True)
class TensorConfig:
    """One input or output: name, dims without the batch axis (-1 dynamic), data type."""

    name: str
    dims: tuple[int, ...]
    data_type: str = "TYPE_FP32"


@dataclass(frozen=True)
class DynamicBatching:
    """Triton's dynamic batcher settings.

    Attributes:
        preferred_batch_size: Batch sizes the batcher tries to form first.
        max_queue_delay_microseconds: How long a request may wait for others to join its batch.
    """

    preferred_batch_size: tuple[int, ...] = (8, 16, 32)
    max_queue_delay_microseconds: int = 2000


@dataclass(frozen=True)
class InstanceGroup:
    """How many copies of the model run, and where (``KIND_CPU`` or ``KIND_GPU``)."""

    kind: str = KIND_CPU
    count: int = 1


@dataclass(frozen=True)
class ModelConfig:
    """The subset of Triton's ``ModelConfig`` the builder writes.

    Exactly one of ``backend`` (``python``, ``onnxruntime``) and ``platform``
    (``tensorrt_plan``) is set. ``max_batch_size`` 0 means the model sees full shapes (dims
    include the batch axis) and Triton does not batch; then ``dynamic_batching`` must be None.
    ``gpu_accelerator`` holds the parameters of ONNX Runtime's TensorRT execution provider.
    """

    name: str
    inputs: tuple[TensorConfig, ...]
    outputs: tuple[TensorConfig, ...]
    max_batch_size: int
    backend: str | None = None
    platform: str | None = None
    dynamic_batching: DynamicBatching | None = None
    instance_group: InstanceGroup = field(default_factory=InstanceGroup)
    parameters: tuple[tuple[str, str], ...] = ()
    default_model_filename: str | None = None
    gpu_accelerator: tuple[tuple[str, str], ...] | None = None

    def __post_init__(self) -> None:
        """Reject configurations Triton would refuse at load time."""
        if (self.backend is None) == (self.platform is None):
            raise ValueError(f"{self.name}: set exactly one of backend and platform")
        if self.max_batch_size == 0 and self.dynamic_batching is not None:
            raise ValueError(f"{self.name}: dynamic_batching needs max_batch_size > 0")
        too_big = [b for b in self._preferred() if b > self.max_batch_size]
        if too_big:
            raise ValueError(
                f"{self.name}: preferred_batch_size {too_big} exceeds max_batch_size "
                f"{self.max_batch_size}"
            )

    def _preferred(self) -> tuple[int, ...]:
        return self.dynamic_batching.preferred_batch_size if self.dynamic_batching else ()


def _q(value: str) -> str:
    """Quote a string for protobuf text format (JSON escapes are a compatible subset)."""
    return json.dumps(value, ensure_ascii=True)


def _tensor(t: TensorConfig) -> str:
    dims = ", ".join(str(d) for d in t.dims)
    return f"  {{\n    name: {_q(t.name)}\n    data_type: {t.data_type}\n    dims: [ {dims} ]\n  }}"


def _tensors(key: str, tensors: tuple[TensorConfig, ...]) -> list[str]:
    return [f"{key} [", ",\n".join(_tensor(t) for t in tensors), "]"]


def _accelerator(params: tuple[tuple[str, str], ...]) -> list[str]:
    body = "".join(f"\n        parameters {{ key: {_q(k)} value: {_q(v)} }}" for k, v in params)
    return [
        "optimization {",
        "  execution_accelerators {",
        f"    gpu_execution_accelerator: [ {{\n        name: {_q('tensorrt')}{body}\n    }} ]",
        "  }",
        "}",
    ]


def render(cfg: ModelConfig) -> str:
    """Render ``cfg`` as config.pbtxt text (stable: same config -> same bytes)."""
    lines = [f"name: {_q(cfg.name)}"]
    lines.append(f"backend: {_q(cfg.backend)}" if cfg.backend else f"platform: {_q(cfg.platform)}")
    lines.append(f"max_batch_size: {cfg.max_batch_size}")
    if cfg.default_model_filename:
        lines.append(f"default_model_filename: {_q(cfg.default_model_filename)}")
    lines += _tensors("input", cfg.inputs) + _tensors("output", cfg.outputs)
    if cfg.dynamic_batching:
        sizes = ", ".join(str(b) for b in cfg.dynamic_batching.preferred_batch_size)
        delay = cfg.dynamic_batching.max_queue_delay_microseconds
        lines += [
            "dynamic_batching {",
            f"  preferred_batch_size: [ {sizes} ]",
            f"  max_queue_delay_microseconds: {delay}",
            "}",
        ]
    group = cfg.instance_group
    lines.append(f"instance_group [ {{ count: {group.count} kind: {group.kind} }} ]")
    if cfg.gpu_accelerator is not None:
        lines += _accelerator(cfg.gpu_accelerator)
    for key, value in cfg.parameters:
        lines.append(f"parameters {{ key: {_q(key)} value: {{ string_value: {_q(value)} }} }}")
    return "\n".join(lines) + "\n"
