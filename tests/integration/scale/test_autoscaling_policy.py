"""Work-based autoscaling of a batched stage: the meter and the policy (fast, no Ray)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from deployments.autoscaling import BUSY_METRIC, WORK_METRIC, WorkMeter, WorkPolicy, work_units


@dataclass
class Item:
    starts: np.ndarray = field(default_factory=lambda: np.arange(3))


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_meter_reports_units_per_second_and_busy_fraction_then_resets() -> None:
    clock = Clock()
    meter = WorkMeter(clock)

    async def infer(items):
        clock.t += 0.5  # the call takes 0.5 s
        return items

    metered = meter.wrap(infer)
    items = [Item(), Item()]
    assert asyncio.run(metered(items)) is items
    clock.t += 1.5
    assert meter.stats() == {WORK_METRIC: 6 / 2.0, BUSY_METRIC: 0.25}
    clock.t += 1.0
    assert meter.stats() == {WORK_METRIC: 0.0, BUSY_METRIC: 0.0}


def test_failed_calls_count_too() -> None:
    meter = WorkMeter(Clock())

    async def broken(items):
        raise RuntimeError("replica died")

    with pytest.raises(RuntimeError):
        asyncio.run(meter.wrap(broken)([Item()]))
    assert meter._units == 3


def test_units_are_windows_or_frames() -> None:
    rows = SimpleNamespace(rows=np.zeros((7, 4)))
    assert work_units([Item(), rows, object()]) == 3 + 7 + 1


def ctx(per_replica: dict, target: int = 1):
    return SimpleNamespace(aggregated_metrics={WORK_METRIC: per_replica} if per_replica else {},
                           target_num_replicas=target)  # fmt: skip


def test_policy_asks_for_total_work_over_work_per_replica() -> None:
    policy = WorkPolicy(target_per_replica=100)
    assert policy(ctx({"r1": 30.0}))[0] == pytest.approx(0.3)  # Serve rounds up to 1
    desired, state = policy(ctx({"r1": 200.0, "r2": 280.0}, target=2))
    assert desired == pytest.approx(4.8) and state == {"work_per_s": 480.0}
    assert policy(ctx({}, target=3)) == (3.0, {})  # no report yet: keep the target
    with pytest.raises(ValueError):
        WorkPolicy(target_per_replica=0)
