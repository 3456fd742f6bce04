"""A2FInference splits a real-time tick's batch over the backend's instances (split_rows)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from deployments.backends.base import ModelSpec
from deployments.backends.fake import FakeBackend
from deployments.face_inference import A2FInference
from deployments.settings import ServeSettings, env_overrides

SPEC = ModelSpec(inputs={"input": (1, 64), "emotion": (1, 26)}, outputs={"result": (1, 9)})


def _run(split_rows: int, n: int, concurrency: int = 3) -> tuple[list[int], np.ndarray]:
    backend = FakeBackend({"net": SPEC})
    inf = A2FInference({}, backend, max_batch=64, concurrency=concurrency, split_rows=split_rows)
    rng = np.random.default_rng(n)
    inputs = {
        "input": rng.standard_normal((n, 1, 64)).astype(np.float32),
        "emotion": rng.standard_normal((n, 1, 26)).astype(np.float32),
    }
    out = asyncio.run(inf._run("net", inputs))
    return [batch for _, batch in backend.calls], out["result"]


@pytest.mark.parametrize(
    ("n", "calls"),
    [
        (5, [5]),  # below 2 x split_rows: one call
        (23, [23]),
        (24, [12, 12]),  # one call per instance
        (35, [18, 17]),
        (100, [50, 50]),
        (128, [64, 64]),  # from 2 x max_batch on: max_batch chunks, as without splitting
        (150, [64, 64, 22]),  # 3 in flight (concurrency) but a split has 2 parts (instances)
        (300, [64, 64, 64, 64, 44]),
    ],
)
def test_calls_are_split_evenly_and_give_the_same_rows(n: int, calls: list[int]) -> None:
    got_calls, got = _run(12, n)
    assert got_calls == calls
    plain_calls, plain = _run(0, n)
    assert plain_calls == [min(64, n - lo) for lo in range(0, n, 64)]
    np.testing.assert_allclose(got, plain, rtol=0, atol=1e-6)


def test_calls_in_flight_are_bounded_by_concurrency() -> None:
    """A burst tick's max_batch chunks: ``concurrency`` requests at Triton at once, no more."""

    class Counting(FakeBackend):
        def __init__(self) -> None:
            super().__init__({"net": SPEC})
            self.now = self.peak = 0

        async def infer(self, model: str, inputs: dict) -> dict:
            self.now += 1
            self.peak = max(self.peak, self.now)
            await asyncio.sleep(0.01)
            try:
                return await super().infer(model, inputs)
            finally:
                self.now -= 1

    for concurrency in (1, 3):
        backend = Counting()
        inf = A2FInference({}, backend, max_batch=64, concurrency=concurrency, split_rows=12)
        x = {
            "input": np.zeros((640, 1, 64), np.float32),
            "emotion": np.zeros((640, 1, 26), np.float32),
        }
        asyncio.run(inf._run("net", x))
        assert backend.peak == concurrency and len(backend.calls) == 10


def test_split_rows_comes_from_the_settings() -> None:
    assert ServeSettings().inference_concurrency == 3
    assert (
        ServeSettings(**env_overrides({"A2F_INFERENCE_CONCURRENCY": "2"})).inference_concurrency
        == 2
    )
    assert ServeSettings().inference_split_rows == 12
    with pytest.raises(ValueError, match="inference_split_rows"):
        ServeSettings(inference_split_rows=-1)


def test_rows_cutter_cuts_any_row_range_across_streams_like_one_array() -> None:
    """A burst call's windows are cut chunk by chunk, at the chunk's call (not all up front)."""
    from types import SimpleNamespace

    from deployments.face_inference import cut, rows_cutter

    rng = np.random.default_rng(5)
    items = [
        SimpleNamespace(
            segment=rng.standard_normal(400).astype(np.float32),
            segment_offset=offset,
            starts=np.array(starts, np.int64),
            gain=gain,
        )
        for offset, starts, gain in (
            (0, [-20, 13, 50, 300], 1.0),
            (1000, [1000, 1100], 0.5),
            (0, [7], 2.0),
            (50, [60, 61, 62, 63, 64, 65, 400], 1.0),
        )
    ]
    whole = np.concatenate([cut(it, 64) for it in items])
    n, cut_rows = rows_cutter(items, 64)
    assert n == len(whole) == 14
    for lo, hi in ((0, 14), (0, 4), (3, 7), (4, 6), (5, 14), (6, 7), (13, 14), (2, 2)):
        np.testing.assert_array_equal(cut_rows(lo, hi), whole[lo:hi])
