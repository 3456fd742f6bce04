"""Triton backend over gRPC (``tritonclient.grpc.aio``), errors mapped to typed exceptions.

With ``shared_memory`` (a Triton on this host) the inputs travel through registered system
shared memory regions (:mod:`deployments.backends.triton_shm`) and only the request's
metadata and the (small) outputs over gRPC. tritonclient is imported when a backend is built.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from deployments.aio_compat import install_poller_filter
from deployments.backends import triton_shm as shm
from deployments.backends.base import (
    BackendError,
    InferenceTimeout,
    ModelNotFound,
    ServerUnavailable,
    ShapeMismatch,
    infer_in_chunks,
)
from deployments.backends.triton_shm import RegionPool

#: Triton's answer to a request naming a region it does not know (e.g. after a restart).
_SHM_LOST = "Unable to find shared memory region"
log = logging.getLogger(__name__)

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
        shared_memory: send inputs through system shared memory (Triton must run on this
            host: it opens the regions by name).
        max_regions: shared memory regions at most (requests in flight beyond use gRPC).
    """

    def __init__(
        self,
        url: str = "127.0.0.1:8001",
        *,
        timeout_s: float = 10.0,
        shared_memory: bool = False,
        max_regions: int = 8,
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
        self.pool: RegionPool | None = None
        if shared_memory:
            if not shm.available():
                raise ValueError(
                    "shared_memory=True needs POSIX shared memory (/dev/shm, Linux); set "
                    "triton_shared_memory: false (env A2F_TRITON_SHARED_MEMORY=false)"
                )
            self.pool = RegionPool(self._register, self._unregister, max_regions)

    async def _register(self, name: str, key: str, size: int) -> None:
        await self.client.register_system_shared_memory(
            name, key, size, client_timeout=self.timeout_s
        )

    async def _unregister(self, name: str) -> None:
        await self.client.unregister_system_shared_memory(name, client_timeout=self.timeout_s)

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
        arrays = [np.ascontiguousarray(x, dtype=np.float32) for x in inputs.values()]
        try:
            return await self._infer_shm(model, meta, tensors, arrays)
        except Exception as exc:
            if self.pool is None or _SHM_LOST not in str(exc):
                raise
            # Triton restarted and forgot the registrations: register again, once
            self.pool.forget_registrations()
            return await self._infer_shm(model, meta, tensors, arrays)

    async def _infer_shm(
        self, model: str, meta: _Meta, tensors: list[Any], arrays: list[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """One request, its inputs in a shared memory region when there is one, else as bytes."""
        pool, region = self.pool, None
        if pool is not None:
            try:
                region = await pool.acquire(shm.needed_bytes(arrays))
            except Exception as exc:
                if isinstance(map_error("", exc), (ServerUnavailable, InferenceTimeout)):
                    raise  # Triton is away: the stage's retries decide
                await self._disable_shared_memory(exc)
        if region is None:  # no pool, every region in flight, or shared memory refused
            for tensor, x in zip(tensors, arrays, strict=True):
                tensor.set_data_from_numpy(x)
            return await self._send(model, meta, tensors)
        try:
            for tensor, (offset, nbytes) in zip(tensors, region.put(arrays), strict=True):
                tensor.set_shared_memory(region.name, nbytes, offset)
            return await self._send(model, meta, tensors)
        finally:
            # After a response Triton has read the inputs. After a timeout it may read them
            # later, possibly overwritten by the next request: only the abandoned request's
            # (discarded) result can be wrong, never the next one's.
            pool.release(region)

    async def _disable_shared_memory(self, exc: Exception) -> None:
        """Send inputs over gRPC from now on: Triton answered and refused a region.

        It cannot open this host's ``/dev/shm`` (e.g. it runs in another container); failing
        every stream instead would turn a speed-up into an outage.
        """
        pool, self.pool = self.pool, None
        if pool is None:
            return
        log.warning(
            "Triton at %s cannot use shared memory (%s); inputs go over gRPC from now on",
            self.url, exc,
        )  # fmt: skip
        with contextlib.suppress(Exception):
            await pool.close()

    async def _send(self, model: str, meta: _Meta, tensors: list[Any]) -> dict[str, np.ndarray]:
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
        """Unregister and unlink the shared memory regions; close the channel."""
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await self.pool.close()
        await self.client.close()
