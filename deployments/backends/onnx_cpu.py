"""In-process ONNX Runtime backend (CPU), with exactly the Triton CPU model's semantics.

It wraps the same :class:`ServingNetwork` as the Triton Python model
(``deployments/triton/python_model/model.py``): serving layout, latents transposed to NVIDIA's
axis 2, diffusion noise generated in-process (``constant_noise`` / ``noise_seed``), so its
outputs equal Triton's for the same parameters. Runs sessions on a small thread pool so the
event loop stays free. onnxruntime is imported when the first model is opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from deployments.backends.base import (
    BackendError,
    InferenceTimeout,
    ModelNotFound,
    ModelSpec,
    ShapeMismatch,
)
from deployments.triton.python_model import model as pymodel


class OnnxCpuBackend:
    """An :class:`~deployments.backends.base.InferenceBackend` over ONNX Runtime sessions.

    Args:
        models: Model name (as in Triton, e.g. ``a2f_regression_mark_v2.3``) -> ONNX path.
        constant_noise: Diffusion: one fixed noise tensor reused for every track/inference.
        noise_seed: Diffusion noise seed (same default as the repository builder).
        intra_op_threads: ORT intra-op threads per session (0 = ORT default).
        allow_spinning: Let ORT threads spin while idle.
        workers: Threads running sessions concurrently.
        run_rows: Rows per ONNX Runtime run (0 = a call's whole batch; see
            :class:`~deployments.triton.python_model.model.ServingNetwork`).
        timeout_s: Per-call timeout.
    """

    def __init__(
        self,
        models: Mapping[str, Path | str],
        *,
        constant_noise: bool = True,
        noise_seed: int = 0,
        intra_op_threads: int = 0,
        allow_spinning: bool = False,
        workers: int = 1,
        timeout_s: float = 30.0,
        run_rows: int = 0,
    ) -> None:
        try:
            import onnxruntime  # noqa: F401  (fail early with the fix)
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ImportError("onnxruntime is missing: pip install onnxruntime==1.31.1") from exc
        self.networks = {
            name: pymodel.open_network(
                str(path),
                constant_noise=constant_noise,
                noise_seed=noise_seed,
                intra_op_threads=intra_op_threads,
                allow_spinning=allow_spinning,
                run_rows=run_rows,
            )
            for name, path in models.items()
        }
        self.specs = {
            name: ModelSpec(
                {n: tuple(d) for n, d in net.input_dims.items()},
                {n: tuple(d) for n, d in net.output_dims.items()},
            )
            for name, net in self.networks.items()
        }
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ort")

    def run_sync(self, model: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Synchronous :meth:`infer` (benchmarks, thread callers)."""
        net = self.networks.get(model)
        if net is None:
            raise ModelNotFound(f"{model}: not opened (known: {sorted(self.networks)})")
        self.specs[model].check_inputs(model, inputs)
        try:
            return net.run(inputs)
        except Exception as exc:
            if "INVALID_ARGUMENT" in str(exc) or "Invalid" in type(exc).__name__:
                raise ShapeMismatch(f"{model}: {exc}") from exc
            raise BackendError(f"{model}: onnxruntime failed: {exc}") from exc

    async def infer(self, model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch on the thread pool (see the protocol)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self.run_sync, model, inputs)
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError as exc:
            raise InferenceTimeout(f"{model}: no result after {self.timeout_s} s") from exc

    async def ready(self) -> bool:
        """Ready once constructed (sessions open eagerly)."""
        return True

    async def close(self) -> None:
        """Stop the thread pool."""
        self._pool.shutdown(wait=False)
