"""Triton backend over gRPC (``tritonclient.grpc.aio``), errors mapped to typed exceptions.

System shared memory for large tensors was implemented (a pool of registered regions reused
per request) and measured with ``benchmarks/bench_triton.py`` on regression windows: it was
0.90x of plain gRPC at the best concurrency on this 2-core host (docs/triton.md), so it was
dropped. tritonclient is imported when a backend is built.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from deployments.aio_compat import install_poller_filter
from deployments.backends.base import (
    BackendError,
    InferenceTimeout,
    ModelNotFound,
    ServerUnavailable,
    ShapeMismatch,
    infer_in_chunks,
)

_STATUS_ERRORS: dict[str, type[BackendError]] = {
    "StatusCode.NOT_FOUND": ModelNotFound,
    "StatusCode.UNAVAILABLE": ServerUnavailable,
    "StatusCode.DEADLINE_EXCEEDED": InferenceTimeout,
    "StatusCode.INVALID_ARGUMENT": ShapeMismatch,
}


def map_error(model: str, exc: Exception) -> BackendError:
    """Map a tritonclient / gRPC exception to the backend's typed errors."""
    status = str(getattr(exc, "status", lambda: "")() or "")
    message = str(getattr(exc, "message", lambda: str(exc))() or exc)
    lowered = message.lower()
    if "unknown model" in lowered or "is not found" in lowered or "not ready" in lowered:
        kind: type[BackendError] = ModelNotFound
    elif "deadline exceeded" in lowered:
        kind = InferenceTimeout
    else:
        kind = _STATUS_ERRORS.get(status, BackendError)
    return kind(f"{model}: {message} [{status or type(exc).__name__}]")


@dataclass(frozen=True)
class _Meta:
    inputs: dict[str, str]  # name -> Triton datatype
    outputs: dict[str, list[int]]  # name -> shape with the batch axis (-1)
    max_batch: int = 0  # the model config's max_batch_size (0: no batching)


class TritonGrpcBackend:
    """An :class:`~deployments.backends.base.InferenceBackend` talking to Triton over gRPC.

    Args:
        url: ``host:port`` of Triton's gRPC endpoint.
        timeout_s: Per-request deadline.
    """

    def __init__(
        self,
        url: str = "127.0.0.1:8001",
        *,
        timeout_s: float = 10.0,
    ) -> None:
        try:
            import tritonclient.grpc.aio as grpcclient
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ImportError('tritonclient is missing: pip install "tritonclient[grpc]"') from exc
        self._mod = grpcclient
        self.client = grpcclient.InferenceServerClient(url)
        self.url, self.timeout_s = url, timeout_s
        self._meta: dict[str, _Meta] = {}
        self._filtered = False

    async def _metadata(self, model: str) -> _Meta:
        meta = self._meta.get(model)
        if meta is None:
            md = await self.client.get_model_metadata(model, as_json=True)
            cfg = await self.client.get_model_config(model, as_json=True)
            meta = _Meta(
                inputs={t["name"]: t["datatype"] for t in md["inputs"]},
                outputs={t["name"]: [int(d) for d in t["shape"]] for t in md["outputs"]},
                max_batch=int(cfg.get("config", cfg).get("max_batch_size", 0) or 0),
            )
            self._meta[model] = meta
        return meta

    async def infer(self, model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch on Triton (see the protocol)."""
        if not self._filtered:  # the first call runs in the replica's user loop
            install_poller_filter()
            self._filtered = True
        try:
            meta = await self._metadata(model)
            rows = next(iter(inputs.values())).shape[0] if inputs else 0
            if meta.max_batch and rows > meta.max_batch:
                # Triton refuses a request above max_batch_size (INVALID_ARGUMENT), and the
                # callers' batches follow the streams (a diffusion round carries one window
                # per stream, 8 at most per request by default): split here, in order
                call = functools.partial(self._infer_wire, model, meta)
                return await infer_in_chunks(call, inputs, meta.max_batch)
            return await self._infer_wire(model, meta, inputs)
        except BackendError:
            raise
        except Exception as exc:
            raise map_error(model, exc) from exc

    def _inputs(self, meta: _Meta, inputs: dict[str, np.ndarray]) -> list[Any]:
        unknown = set(inputs) - set(meta.inputs)
        if unknown:
            raise ShapeMismatch(
                f"unexpected inputs {sorted(unknown)}; model has {sorted(meta.inputs)}"
            )
        return [
            self._mod.InferInput(name, list(x.shape), meta.inputs[name])
            for name, x in inputs.items()
        ]

    async def _infer_wire(
        self, model: str, meta: _Meta, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        tensors = self._inputs(meta, inputs)
        for tensor, x in zip(tensors, inputs.values(), strict=True):
            tensor.set_data_from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        outputs = [self._mod.InferRequestedOutput(n) for n in meta.outputs]
        result = await self.client.infer(
            model, tensors, outputs=outputs, client_timeout=self.timeout_s
        )
        return {n: result.as_numpy(n) for n in meta.outputs}

    async def ready(self) -> bool:
        """Whether the server answers ready (never raises)."""
        try:
            return bool(await self.client.is_server_ready(client_timeout=self.timeout_s))
        except Exception:
            return False

    async def close(self) -> None:
        """Close the channel."""
        await self.client.close()
