"""HandlePipeline: one Packed payload per stage call, optionally by value (Serve gRPC)."""

from __future__ import annotations

import asyncio
from typing import Any

from deployments.session.packing import Packed, unpack
from deployments.session.pipelines import HandlePipeline


class _Method:
    def __init__(self, handle: _Handle) -> None:
        self.handle = handle

    def remote(self, payload: Any) -> Any:
        self.handle.calls.append(payload)

        async def reply() -> Any:
            items, _ = unpack(payload)
            return Packed([f"{self.handle.name}:{i}" for i in items])

        return reply()


class _Handle:
    """Stands in for a DeploymentHandle: ``options`` returns a copy with the options set."""

    def __init__(self, name: str, options: dict[str, Any] | None = None) -> None:
        self.name, self.opts, self.calls = name, dict(options or {}), []

    def options(self, **kw: Any) -> _Handle:
        return _Handle(self.name, {**self.opts, **kw})

    def __getattr__(self, method: str) -> _Method:
        return _Method(self)


def test_by_value_sets_the_handle_option_on_every_stage() -> None:
    stages = [_Handle(n) for n in ("enc", "inf", "sol")]
    plain = HandlePipeline(stages[0], None, stages[1], stages[2])
    assert all(h.opts == {} for h in (plain.encoder, plain.inference, plain.solver))
    grpc = HandlePipeline(stages[0], None, stages[1], stages[2], by_value=True)
    for h in (grpc.encoder, grpc.inference, grpc.solver):
        assert h.opts == {"_by_reference": False}
    assert grpc.detector is None


def test_each_call_crosses_as_one_packed_payload() -> None:
    pipe = HandlePipeline(_Handle("enc"), None, _Handle("inf"), _Handle("sol"), by_value=True)
    got = asyncio.run(pipe.infer(["a", "b"]))  # type: ignore[list-item]
    assert got == ["inf:a", "inf:b"]
    [payload] = pipe.inference.calls
    assert isinstance(payload, Packed)
