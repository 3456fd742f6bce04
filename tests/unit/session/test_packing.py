"""deployments.session.packing: a call's items/results as one C-pickled payload."""

from __future__ import annotations

import asyncio
import pickle

import numpy as np
import pytest

from deployments.autoscaling import work_units
from deployments.session import records as rec
from deployments.session.packing import Packed, repack, unpack
from tests.unit.session.conftest import header, pcm


def test_packed_round_trips_through_pickle_and_cloudpickle() -> None:
    cloudpickle = pytest.importorskip("ray.cloudpickle")
    items = [rec.StageError("INTERNAL", f"m{i}") for i in range(3)] + [np.arange(5.0)]
    for dumps in (pickle.dumps, cloudpickle.dumps):
        back = pickle.loads(dumps(Packed(items)))
        assert isinstance(back, Packed)
        assert back.value[:3] == items[:3]
        np.testing.assert_array_equal(back.value[3], items[3])


def test_cloudpickle_sees_one_bytes_payload() -> None:
    cloudpickle = pytest.importorskip("ray.cloudpickle")
    items = [rec.StageError("INTERNAL", "x")] * 50
    seen: list[type] = []

    class Spy(cloudpickle.Pickler):
        def reducer_override(self, obj):  # called for every object cloudpickle handles
            seen.append(type(obj))
            return super().reducer_override(obj)

    import io

    Spy(io.BytesIO(), protocol=5).dump(Packed(items))
    assert rec.StageError not in seen  # the records went through the C pickler instead


def test_unpack_and_repack_keep_the_callers_form() -> None:
    assert unpack([1, 2]) == ([1, 2], False)
    assert unpack(Packed([1, 2])) == ([1, 2], True)
    assert repack([3], False) == [3]
    assert isinstance(repack([3], True), Packed) and repack([3], True).value == [3]


def test_a_stage_answers_a_packed_call_packed_with_the_same_results(stages, catalog) -> None:
    from a2f_actors.audio import AudioLimits
    from deployments.session.handle import open_session

    session = open_session("s0", header(), catalog, AudioLimits(), 9).session
    session.push_audio(pcm(0.8))
    item = session.take_encode()
    plain = asyncio.run(stages.encoder.encode([item]))
    packed = asyncio.run(stages.encoder.encode(Packed([item])))
    assert isinstance(packed, Packed) and isinstance(plain, list)
    (a,), (b,) = plain, pickle.loads(pickle.dumps(packed)).value
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.windows.start, b.windows.start)


def test_the_work_meter_counts_the_units_inside_a_packed_call() -> None:
    items = [rec.StageError("INTERNAL", "x")] * 3
    assert work_units(Packed(items)) == work_units(items) == 3
