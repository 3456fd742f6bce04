"""Repeated sweeps: each sweep's answer, and the median that sizes a cluster."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from loadtest import scenarios as sc


def _level(name: str, streams: int, passed: bool) -> SimpleNamespace:
    return SimpleNamespace(name=name, streams=streams, verdict=SimpleNamespace(passed=passed))


def _sweep(run: str, passing: list[int], failing: int | None) -> list[SimpleNamespace]:
    out = [_level(f"sweep-{n}{run}", n, True) for n in passing]
    return out + ([_level(f"sweep-{failing}{run}", failing, False)] if failing else [])


def test_one_sweep_answers_its_last_level_before_the_first_failure() -> None:
    levels = _sweep("", [1, 2, 4, 8], 16)
    assert sc.sweep_maxima(levels) == [8] and sc.max_passing(levels) == 8
    assert sc.max_passing(_sweep("", [], 1)) == 0 and sc.max_passing([]) == 0


@pytest.mark.parametrize(
    ("maxima", "median"), [([8, 28, 24], 24), ([8, 28], 8), ([28, 8, 8, 24], 8), ([16], 16)]
)
def test_repeated_sweeps_answer_the_median(maxima: list[int], median: int) -> None:
    levels = []
    for run, top in enumerate(maxima, start=1):
        passing = [n for n in (1, 2, 4, 8, 16, 20, 24, 28) if n <= top]
        levels += _sweep(f"#{run}", passing, top + 4)
    assert sc.sweep_maxima(levels) == maxima
    assert sc.max_passing(levels) == median


def test_sweep_refuses_zero_repeats() -> None:
    with pytest.raises(ValueError, match="repeats=0"):
        asyncio.run(sc.sweep(None, [], [1], repeats=0))  # type: ignore[arg-type]
