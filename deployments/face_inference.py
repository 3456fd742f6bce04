"""A2FInference deployment: windows of many streams -> the A2F network -> compact output rows.

Thin shim over :mod:`a2f_actors.windows` (window cutting) and an
:class:`~deployments.backends.base.InferenceBackend` (Triton, ONNX Runtime or the fake).

* Windows are cut HERE, from the 16 kHz segment each item carries (each sample crosses the hop
  once), then every window of every stream of the same model goes to the network in one batch
  (split at ``max_batch`` rows).
* Regression: one frame per window; the result rows are the network's ``result`` (skin PCA ||
  tongue PCA || jaw || eyes), already the compact space.
* Diffusion: the windows of ONE stream run strictly in order (the GRU latents of window k feed
  window k+1); window k of every stream runs in the same batch (round k). The latents come in
  with the item and go back with the result. Only the frames the session asked for are
  returned (the 30 good frames of each window, fewer at the clip edges).

Batching lives here (one call = all streams of an ingress tick); Triton's dynamic batcher
additionally merges the calls of several replicas. No ``@serve.batch``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from a2f_actors import windows as win
from a2f_actors.model_package import load_package
from deployments.backends.base import (
    InferenceBackend,
    ModelNotFound,
    ShapeMismatch,
    infer_made_chunks,
)
from deployments.session import records as rec
from deployments.session.packing import Packed, repack, unpack
from deployments.settings import ServeSettings

_REGRESSION_WINDOW = 8320
_DIFFUSION_WINDOW = 16000


@dataclass(frozen=True, eq=False)
class NetworkInfo:
    """What the stage needs of one model: backend name, kind and constant inputs."""

    name: str
    kind: str
    implicit: np.ndarray | None = None  # [16] regression implicit emotion row
    identity: np.ndarray | None = None  # [K] diffusion one-hot


def network_infos(settings: ServeSettings, kinds: tuple[str, ...]) -> dict[str, NetworkInfo]:
    """Model id -> :class:`NetworkInfo` of the configured models of ``kinds``."""
    out: dict[str, NetworkInfo] = {}
    for entry in settings.models:
        if entry.kind not in kinds:
            continue
        implicit = identity = None
        if entry.kind != "a2e":
            pkg: Any = load_package(entry.path)
            if entry.kind == "regression":
                implicit = pkg.implicit_emotion().astype(np.float32)
            else:
                names = [i.name.lower() for i in pkg.identities]
                identity = np.zeros(len(names), np.float32)
                identity[names.index((entry.identity or names[0]).lower())] = 1.0
        out[entry.model_id] = NetworkInfo(entry.network_name(), entry.kind, implicit, identity)
    return out


def make_backend(settings: ServeSettings) -> InferenceBackend:
    """The configured backend over every configured network."""
    onnx = {}
    for entry in settings.models:
        pkg: Any = load_package(entry.path)
        if pkg.files is not None and pkg.files.network.onnx is not None:
            onnx[entry.network_name()] = pkg.files.network.onnx
    if settings.backend == "fake":
        from deployments.backends.fake import FakeBackend, spec_from_onnx

        return FakeBackend({name: spec_from_onnx(path) for name, path in onnx.items()})
    if settings.backend == "onnx":
        from deployments.backends.onnx_cpu import OnnxCpuBackend
        from deployments.triton.python_model.model import CPU_RUN_ROWS

        # one single-threaded session run per worker, one worker per Triton CPU instance (2;
        # A2FInference's third call in flight waits for a free worker), ORT on CPU_RUN_ROWS
        # rows at a time: the same shape as the Triton CPU models (2 instances, run_rows)
        return OnnxCpuBackend(onnx, intra_op_threads=1, workers=2, run_rows=CPU_RUN_ROWS)
    from deployments.backends.triton_grpc import TritonGrpcBackend

    return TritonGrpcBackend(
        settings.triton_address(),
        timeout_s=settings.stage_timeout_s,
        shared_memory=settings.use_triton_shared_memory(),
    )


def cut(item: Any, size: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """``[W, size]`` float32 windows ``lo:hi`` of an item, scaled by its gain (if it has one)."""
    gain = float(getattr(item, "gain", 1.0))
    starts = item.starts[lo:hi]
    return win.cut_windows(item.segment, item.segment_offset, starts, size, gain)


def rows_cutter(items: list[Any], size: int) -> tuple[int, Callable[[int, int], np.ndarray]]:
    """``(total windows, cut(lo, hi))``: rows ``lo:hi`` of the items' windows, in item order.

    The windows of a call are cut chunk by chunk (see ``infer_made_chunks``), never all at once.
    """
    bounds = np.cumsum([0, *(len(it.starts) for it in items)])

    def cut_rows(lo: int, hi: int) -> np.ndarray:
        parts = []
        for i in range(int(np.searchsorted(bounds, lo, side="right")) - 1, len(items)):
            first, end = int(bounds[i]), int(bounds[i + 1])
            if first >= hi:
                break
            if end > lo:
                parts.append(cut(items[i], size, max(lo, first) - first, min(hi, end) - first))
        if not parts:
            return np.zeros((0, size), np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    return int(bounds[-1]), cut_rows


class A2FInference:
    """Runs the A2F networks for many streams per call.

    Args:
        networks: model id -> :class:`NetworkInfo`.
        backend: the inference backend.
        max_batch: most rows per backend call.
        concurrency: backend calls in flight at once within one stage call. One more than
            the backend's instances keeps a request queued at Triton while both instances run,
            so an instance never waits for this replica to send the next (burst ticks).
        split_rows: a call of at least ``2 * split_rows`` rows (and below ``split_parts *
            max_batch``) is split into up to ``split_parts`` equal backend calls of at least
            ``split_rows`` rows, sent together, so that a real-time tick's batch runs on
            several Triton instances at once instead of one (0: never split below
            ``max_batch``).
        split_parts: the backend's instances (2 on CPU): most parts of a split call.
    """

    def __init__(
        self,
        networks: Mapping[str, NetworkInfo],
        backend: InferenceBackend,
        max_batch: int = 64,
        concurrency: int = 3,
        split_rows: int = 0,
        split_parts: int = 2,
    ) -> None:
        self.networks = dict(networks)
        self.backend = backend
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.split_rows = split_rows
        self.split_parts = split_parts

    @classmethod
    def from_settings(cls, settings: ServeSettings) -> A2FInference:
        """Build from the serve settings (backend included)."""
        nets = network_infos(settings, ("regression", "diffusion"))
        return cls(
            nets,
            make_backend(settings),
            concurrency=settings.inference_concurrency,
            split_rows=settings.inference_split_rows,
        )

    def _chunk_rows(self, n: int) -> int:
        """Rows per backend call for a call of ``n`` rows."""
        if self.split_rows <= 0 or n >= self.max_batch * self.split_parts:
            return self.max_batch
        parts = max(1, min(self.split_parts, n // self.split_rows))
        return min(self.max_batch, -(-n // parts))

    async def infer(self, items: list[rec.InferItem] | Packed) -> list[rec.InferResult] | Packed:
        """One result per item, in order; a :class:`Packed` call gets a Packed answer."""
        batch, packed = unpack(items)
        return repack(await self._infer(batch), packed)

    async def _infer(self, items: list[rec.InferItem]) -> list[rec.InferResult]:
        """One result per item, in order; items of one model share backend batches."""
        groups: dict[str, list[int]] = defaultdict(list)
        for i, item in enumerate(items):
            groups[item.model_id].append(i)
        results: list[rec.InferResult | None] = [None] * len(items)
        for model_id, idx in groups.items():
            group = [items[i] for i in idx]
            for i, res in zip(idx, await self._group(model_id, group), strict=True):
                results[i] = res
        return results  # type: ignore[return-value]

    async def _group(self, model_id: str, items: list[rec.InferItem]) -> list[rec.InferResult]:
        net = self.networks.get(model_id)
        try:
            if net is None:
                raise ModelNotFound(f"model {model_id!r} is not loaded by A2FInference")
            if net.kind == "regression":
                return await self._regression(net, items)
            return await self._diffusion(net, items)
        except (ModelNotFound, ShapeMismatch) as exc:  # not transient: fail these streams only
            error = rec.StageError("INTERNAL", f"inference of {model_id!r} failed: {exc}")
            empty = np.zeros((0, 0), np.float32)
            return [rec.InferResult(it.stream_id, empty, it.latents, error) for it in items]

    async def _run(self, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """:meth:`_run_made` on ready inputs (each call gets its rows' slices)."""
        n = next(iter(inputs.values())).shape[0]
        return await self._run_made(
            name, n, lambda lo, hi: {k: v[lo:hi] for k, v in inputs.items()}
        )

    async def _run_made(
        self, name: str, n: int, make: Callable[[int, int], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """Backend calls of :meth:`_chunk_rows` rows, ``concurrency`` in flight at once.

        ``make(lo, hi)`` builds a call's inputs when the call may start. A burst tick carries
        thousands of windows: sub-batches in flight together keep every Triton instance busy
        (2 on CPU) instead of one after the other; a real-time tick's ~30 windows are split in
        two for the same reason (``split_rows``).
        """
        return await infer_made_chunks(
            lambda chunk: self.backend.infer(name, chunk), n, make, self._chunk_rows(n),
            self.concurrency,
        )  # fmt: skip

    async def _regression(self, net: NetworkInfo, items: list[rec.InferItem]) -> list:
        """16 kHz segments --> [B, 8320] windows --> network --> result rows per stream."""
        n, cut_rows = rows_cutter(items, _REGRESSION_WINDOW)
        explicit = np.concatenate([it.emotion for it in items]).astype(np.float32)
        implicit = np.broadcast_to(net.implicit, (n, len(net.implicit)))
        emotion = np.concatenate([implicit, explicit], axis=1)

        def make(lo: int, hi: int) -> dict[str, np.ndarray]:
            return {"input": cut_rows(lo, hi)[:, None], "emotion": emotion[lo:hi, None]}

        out = await self._run_made(net.name, n, make)
        rows = np.asarray(out["result"], np.float32).reshape(n, -1)
        results, lo = [], 0
        for it in items:
            mine = rows[lo : lo + len(it.starts)]
            lo += len(it.starts)
            results.append(rec.InferResult(it.stream_id, mine[it.frame_row], None))
        return results

    async def _diffusion(self, net: NetworkInfo, items: list[rec.InferItem]) -> list:
        """Round k runs window k of every stream; latents chain within each stream."""
        cuts = [cut(it, _DIFFUSION_WINDOW) for it in items]
        latents = [
            np.zeros((2, 2, 256), np.float32) if it.latents is None else it.latents for it in items
        ]
        preds: list[list[np.ndarray]] = [[] for _ in items]
        for k in range(max(len(c) for c in cuts)):
            active = [i for i, c in enumerate(cuts) if k < len(c)]
            identity = np.stack([net.identity for _ in active])
            inputs = {
                "window": np.stack([cuts[i][k] for i in active]),
                "identity": identity,
                "emotion": np.stack([items[i].emotion[k] for i in active]).astype(np.float32),
                "input_latents": np.stack([latents[i] for i in active]),
            }
            out = await self._run(net.name, inputs)
            for j, i in enumerate(active):
                preds[i].append(np.asarray(out["prediction"][j], np.float32))
                latents[i] = np.asarray(out["output_latents"][j], np.float32)
        results = []
        for i, it in enumerate(items):
            pred = np.stack(preds[i]) if preds[i] else np.zeros((0, 60, 0), np.float32)
            rows = pred[it.frame_row, it.frame_output]
            results.append(rec.InferResult(it.stream_id, rows, latents[i]))
        return results
