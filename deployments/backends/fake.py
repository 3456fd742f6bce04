"""Deterministic fake backend: right shapes, input-dependent values, no runtime needed.

Each output of item ``b`` is ``tanh(f_b @ W)`` reshaped to the output dims, where ``f_b`` holds
the mean, standard deviation, minimum and maximum of every input of item ``b`` and ``W`` is a
fixed Gaussian matrix seeded by (seed, model, output). So tests can check wiring (which item
went where, which model was called) without ONNX Runtime or Triton. It doubles as the no-model
mode of the service.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from deployments.backends.base import ModelNotFound, ModelSpec

_STATS = 4  # mean, std, min, max per input


def spec_from_onnx(onnx_path: Path | str) -> ModelSpec:
    """Serving-layout spec of an ONNX network (see ``python_model/model.py``)."""
    from deployments.triton.python_model import model as pymodel

    inputs, outputs = pymodel.onnx_io(str(onnx_path))
    net = pymodel.ServingNetwork(inputs, outputs, lambda feeds: feeds)
    return ModelSpec(
        inputs={n: tuple(d) for n, d in net.input_dims.items()},
        outputs={n: tuple(d) for n, d in net.output_dims.items()},
    )


class FakeBackend:
    """An :class:`~deployments.backends.base.InferenceBackend` with fixed random projections.

    Args:
        specs: Model name -> serving-layout I/O spec.
        seed: Changes every projection.
    """

    def __init__(self, specs: Mapping[str, ModelSpec], seed: int = 0) -> None:
        self.specs = dict(specs)
        self.seed = seed
        self.calls: list[tuple[str, int]] = []  # (model, batch) per infer call, for tests

    def _weights(self, model: str, output: str, n_in: int, n_out: int) -> np.ndarray:
        key = zlib.crc32(f"{self.seed}/{model}/{output}".encode())
        rng = np.random.default_rng(key)
        return (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)

    async def infer(self, model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Fixed random projection of per-item input statistics, in the spec's shapes."""
        spec = self.specs.get(model)
        if spec is None:
            raise ModelNotFound(
                f"{model}: unknown to the fake backend (known: {sorted(self.specs)})"
            )
        batch = spec.check_inputs(model, inputs)
        self.calls.append((model, batch))
        feats = []
        for name in sorted(spec.inputs):
            x = np.asarray(inputs[name], dtype=np.float32).reshape(batch, -1)
            feats += [x.mean(axis=1), x.std(axis=1), x.min(axis=1), x.max(axis=1)]
        f = np.stack(feats, axis=1)  # [B, 4 * inputs]
        out = {}
        for name, dims in spec.outputs.items():
            shape = tuple(max(d, 1) for d in dims)
            w = self._weights(model, name, f.shape[1], int(np.prod(shape)))
            out[name] = np.tanh(f @ w).reshape(batch, *shape)
        return out

    async def ready(self) -> bool:
        """Always ready."""
        return True

    async def close(self) -> None:
        """Nothing to release."""
