"""Two ways to reach the stages: Serve deployment handles, or local objects (tests, in-process).

Both satisfy :class:`deployments.session.ticker.Pipeline`. Neither imports ray: a handle is
anything with ``handle.<method>.remote(items)`` returning an awaitable (Serve's
``DeploymentHandle`` / ``DeploymentResponse``).
"""

from __future__ import annotations

from typing import Any

from deployments.session import records as rec
from deployments.session.packing import Packed, unpack


def _results(reply: Any) -> list[Any]:
    return unpack(reply)[0]


class HandlePipeline:
    """Stage calls through Serve deployment handles (one hop per call).

    Items and results cross as one :class:`~deployments.session.packing.Packed` payload each.

    Args:
        encoder, detector, inference, solver: the stages' deployment handles (detector may be
            None when no A2E model is served).
        by_value: send calls over Serve's inter-deployment gRPC (arguments and results by
            value, ``handle.options(_by_reference=False)``) instead of Ray actor calls whose
            results go through the object store (``serve_grpc_handles``).
    """

    def __init__(
        self, encoder: Any, detector: Any, inference: Any, solver: Any, by_value: bool = False
    ) -> None:
        def opt(handle: Any) -> Any:
            return handle.options(_by_reference=False) if by_value and handle else handle

        self.encoder, self.detector = opt(encoder), opt(detector)
        self.inference, self.solver = opt(inference), opt(solver)

    async def encode(self, items: list[rec.EncodeItem]) -> list[rec.EncodeResult]:
        """AudioEncoder.encode."""
        return _results(await self.encoder.encode.remote(Packed(items)))

    async def detect(self, items: list[rec.EmotionItem]) -> list[rec.EmotionResult]:
        """EmotionDetector.detect."""
        if self.detector is None:
            raise RuntimeError("no EmotionDetector deployment: set a2e_model in the settings")
        return _results(await self.detector.detect.remote(Packed(items)))

    async def infer(self, items: list[rec.InferItem]) -> list[rec.InferResult]:
        """A2FInference.infer."""
        return _results(await self.inference.infer.remote(Packed(items)))

    async def solve(self, items: list[rec.SolveItem]) -> list[rec.SolveResult]:
        """BlendshapeSolver.solve."""
        return _results(await self.solver.solve.remote(Packed(items)))


class LocalPipeline:
    """Stage calls on plain objects in this process (unit tests, ``a2f animate --local``)."""

    def __init__(self, encoder: Any, detector: Any, inference: Any, solver: Any) -> None:
        self.encoder, self.detector = encoder, detector
        self.inference, self.solver = inference, solver

    async def encode(self, items: list[rec.EncodeItem]) -> list[rec.EncodeResult]:
        """AudioEncoder.encode."""
        return await self.encoder.encode(items)

    async def detect(self, items: list[rec.EmotionItem]) -> list[rec.EmotionResult]:
        """EmotionDetector.detect."""
        return await self.detector.detect(items)

    async def infer(self, items: list[rec.InferItem]) -> list[rec.InferResult]:
        """A2FInference.infer."""
        return await self.inference.infer(items)

    async def solve(self, items: list[rec.SolveItem]) -> list[rec.SolveResult]:
        """BlendshapeSolver.solve."""
        return await self.solver.solve(items)
