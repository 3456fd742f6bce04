"""Autoscaling a batched stage on its work, not on its requests (docs/scale_out.md).

Serve's default policy scales on ongoing requests per replica. Here every ingress tick makes
ONE call per stage carrying all its streams, so a stage sees at most one call in flight per
ingress replica: its ongoing requests are its busy fraction (0..1), which reaches ~1 with a
single stream and stays there, so the default policy only tells "idle" from "busy". With
``autoscaling_metric: work`` a stage replica reports its work instead (windows for A2FInference
and EmotionDetector, frames for BlendshapeSolver, per second, via Serve's
``record_autoscaling_stats`` hook) and :class:`WorkPolicy` asks for
``total work / target_work_per_replica`` replicas; Serve applies the bounds, the
upscale/downscale delays and the rounding.

No ray import: :class:`WorkMeter` is plain Python and :class:`WorkPolicy` reads only the
attributes of the ``AutoscalingContext`` it is given.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from deployments.session.packing import Packed, unpack

#: The custom metric the stages report and the policy reads.
WORK_METRIC = "a2f_work_per_s"
BUSY_METRIC = "a2f_busy_fraction"


def work_units(items: Sequence[Any] | Packed) -> int:
    """Windows (``starts``) or frames (``rows``) of a stage call's items (packed or not)."""
    total = 0
    for item in unpack(items)[0]:
        value = next((getattr(item, a) for a in ("starts", "rows") if hasattr(item, a)), None)
        total += 1 if value is None else len(value)
    return total


class WorkMeter:
    """Counts a stage's work units and busy time; reports rates since the previous report."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since = clock()
        self._units = 0
        self._busy_s = 0.0

    def wrap(
        self, call: Callable[[list[Any]], Awaitable[list[Any]]]
    ) -> Callable[[list[Any]], Awaitable[list[Any]]]:
        """``call`` counting the units of its items and its duration (successful or not)."""

        async def metered(items: list[Any]) -> list[Any]:
            start = self._clock()
            try:
                return await call(items)
            finally:
                self._units += work_units(items)
                self._busy_s += self._clock() - start

        return metered

    def stats(self) -> dict[str, float]:
        """Serve's ``record_autoscaling_stats``: work units/s and busy fraction, then reset."""
        now = self._clock()
        span = max(1e-6, now - self._since)
        out = {WORK_METRIC: self._units / span, BUSY_METRIC: min(1.0, self._busy_s / span)}
        self._since, self._units, self._busy_s = now, 0, 0.0
        return out


class WorkPolicy:
    """Serve autoscaling policy (class form): replicas = total work / work per replica.

    Args:
        target_per_replica: work units per second one replica should carry.
        metric: the custom metric to sum over the running replicas.
    """

    def __init__(self, target_per_replica: float = 120.0, metric: str = WORK_METRIC) -> None:
        if target_per_replica <= 0:
            raise ValueError(f"target_per_replica must be > 0, got {target_per_replica}")
        self.target = float(target_per_replica)
        self.metric = metric

    def __call__(self, ctx: Any) -> tuple[float, dict[str, Any]]:
        """Desired replicas (Serve rounds up, bounds and delays them) and the policy state."""
        per_replica = (ctx.aggregated_metrics or {}).get(self.metric) or {}
        if not per_replica:  # no report yet (start-up): keep the current target
            return float(ctx.target_num_replicas), {}
        total = float(sum(per_replica.values()))
        return total / self.target, {"work_per_s": total}
