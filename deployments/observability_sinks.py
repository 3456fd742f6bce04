"""Metric sinks of :mod:`deployments.observability`: Ray metrics, in-memory (tests), none.

Every sink takes the metric table (name -> spec with ``kind``, ``description``, ``tags``,
``boundaries``) and one ``record(name, value, tags)`` call per measurement: counters add,
gauges set, histograms observe.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["MemorySink", "MetricSink", "NullSink", "RaySink"]


class MetricSink(Protocol):
    """Where records go."""

    def record(self, name: str, value: float, tags: Mapping[str, str]) -> None:
        """Counter: add ``value``; gauge: set; histogram: observe."""
        ...

    def observe_many(self, name: str, values: Sequence[float], tags: Mapping[str, str]) -> None:
        """Histogram: observe every value (one series)."""
        ...


class NullSink:
    """Drops everything (outside Ray)."""

    def record(self, name: str, value: float, tags: Mapping[str, str]) -> None:
        """No-op."""

    def observe_many(self, name: str, values: Sequence[float], tags: Mapping[str, str]) -> None:
        """No-op."""


class MemorySink:
    """Keeps records in memory (tests): counters summed, gauges set, histograms listed."""

    def __init__(self, specs: Mapping[str, Any]) -> None:
        self.specs = specs
        self.values: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}

    def record(self, name: str, value: float, tags: Mapping[str, str]) -> None:
        """Apply one record."""
        key = (name, tuple(sorted(tags.items())))
        kind = self.specs[name].kind
        if kind == "counter":
            self.values[key] = self.values.get(key, 0.0) + value
        elif kind == "gauge":
            self.values[key] = value
        else:
            self.values.setdefault(key, []).append(value)

    def observe_many(self, name: str, values: Sequence[float], tags: Mapping[str, str]) -> None:
        """Histogram observations, as many ``record`` calls."""
        for value in values:
            self.record(name, value, tags)

    def get(self, name: str, **tags: str) -> Any:
        """The value (or observation list) of one series, None when never recorded."""
        return self.values.get((name, tuple(sorted(tags.items()))))

    def total(self, name: str) -> float:
        """Sum of a counter over all its series."""
        return sum(v for (n, _), v in self.values.items() if n == name)


class RaySink:
    """``ray.util.metrics`` objects, created on first use in this worker.

    A Ray metric record costs tens of microseconds of Python, so counter increments are summed
    here and flushed once per ``flush_s`` by a daemon thread (values reach Prometheus a few
    seconds late anyway); gauges and histogram observations go straight through.
    """

    def __init__(self, specs: Mapping[str, Any], flush_s: float = 1.0) -> None:
        from ray.util import metrics as rm

        self.specs = specs
        self._objects: dict[str, Any] = {}
        for name, spec in specs.items():
            if spec.kind == "counter":
                obj = rm.Counter(name, spec.description, tag_keys=spec.tags)
            elif spec.kind == "gauge":
                obj = rm.Gauge(name, spec.description, tag_keys=spec.tags)
            else:
                obj = rm.Histogram(name, spec.description, list(spec.boundaries), spec.tags)
            self._objects[name] = obj
        self._pending: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._pending_lock = threading.Lock()
        self._flusher = threading.Thread(target=self._flush_loop, args=(flush_s,), daemon=True)
        self._flusher.start()

    def record(self, name: str, value: float, tags: Mapping[str, str]) -> None:
        """Forward to the Ray metric (counters: summed until the next flush)."""
        obj, kind = self._objects[name], self.specs[name].kind
        if kind == "counter":
            with self._pending_lock:
                self._pending[(name, tuple(tags.items()))] += value
        elif kind == "gauge":
            obj.set(value, tags=dict(tags))
        else:
            obj.observe(value, tags=dict(tags))

    def observe_many(self, name: str, values: Sequence[float], tags: Mapping[str, str]) -> None:
        """Observe every value; the first through Ray's API, the rest through its recorder.

        ``Histogram.observe`` merges and validates the tags on every call; for one series the
        tags are the same, so after the first call (which validates them) the values go
        straight to the Cython recorder that ``observe`` ends in (``_metric.record``, with
        the merged tags). A Ray without that attribute gets ``observe`` for every value.
        """
        if not values:
            return
        obj, tags = self._objects[name], dict(tags)
        obj.observe(values[0], tags=tags)
        recorder = getattr(obj, "_metric", None)
        merged = {**getattr(obj, "_default_tags", {}), **tags}
        record = (
            (lambda v: recorder.record(v, tags=merged))
            if recorder is not None and hasattr(recorder, "record")
            else (lambda v: obj.observe(v, tags=tags))
        )
        for value in values[1:]:
            record(value)

    def flush(self) -> None:
        """Send the summed counter increments."""
        with self._pending_lock:
            pending, self._pending = self._pending, Counter()
        for (name, tags), value in pending.items():
            self._objects[name].inc(value, tags=dict(tags))

    def _flush_loop(self, flush_s: float) -> None:
        while True:
            time.sleep(flush_s)
            with contextlib.suppress(Exception):  # metrics must never break serving
                self.flush()
