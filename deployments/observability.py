"""Metrics and tracing of the serving path (issue #8; names documented in docs/metrics.md).

**Metrics** are ``ray.util.metrics`` objects, exported by Ray's metrics agent as Prometheus text
on the ``_metrics_export_port`` (9464 in ``a2f serve``), each name with Ray's ``ray_`` prefix
and one series per replica (sum in PromQL). :data:`METRICS` is the single table of names,
kinds, tags and buckets; docs/metrics.md mirrors it (a unit test checks). Outside a Ray worker
(unit tests, ``LocalPipeline``) every record is a no-op unless a sink is installed with
:func:`set_sink` (tests use :class:`MemorySink`).

Hooks called by the serving code (the only coupling):

* ``ticker.SessionManager``: :func:`stage_call` around each batched stage call,
  :func:`tick_finished` after each tick;
* ``ingress.service.StreamService``: :func:`stream_opened` (returns a :class:`StreamMeter`
  fed with audio arrivals and emitted events), :func:`stream_rejected` for refused headers.

**Tracing** (opentelemetry-sdk, off by default, :func:`configure_tracing`): one trace per
stream (root span ``a2f.stream``); a batched stage call is one span ``a2f.stage.<stage>`` placed
in the trace of the first sampled stream it carries, with an OTel link to every stream it
carries. Spans go to an OTLP/HTTP collector or to a JSON-lines file.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from deployments import observability_sinks as sinks
from deployments.observability_tracing import StreamTracer, TracingOptions, configure_tracing

__all__ = [
    "METRICS",
    "STAGE_LABELS",
    "MemorySink",
    "MetricSpec",
    "StreamMeter",
    "TracingOptions",
    "configure_tracing",
    "needed_audio_s",
    "set_sink",
    "stage_call",
    "stream_opened",
    "stream_rejected",
    "tick_finished",
]

#: Pipeline method -> stage label of the metrics.
STAGE_LABELS: dict[str, str] = {
    "encode": "resample",
    "detect": "a2e",
    "infer": "a2f",
    "solve": "postprocess_solve",
}
_SECONDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
REGRESSION_LOOKAHEAD_S = 4160 / 16000  # half a regression window: 260 ms


@dataclass(frozen=True)
class MetricSpec:
    """One metric: kind, help text, tag keys, histogram boundaries."""

    kind: Literal["counter", "gauge", "histogram"]
    description: str
    tags: tuple[str, ...] = ()
    boundaries: tuple[float, ...] = ()


METRICS: dict[str, MetricSpec] = {
    "a2f_stage_latency_seconds": MetricSpec(
        "histogram",
        "wall time of one batched stage call incl. the hop (serialize: frame conversion + write)",
        ("stage",),
        _SECONDS,
    ),
    "a2f_stage_queue_wait_seconds": MetricSpec(
        "histogram", "from tick start until the stage call starts", ("stage",), _SECONDS
    ),
    "a2f_stage_batch_streams": MetricSpec(
        "histogram", "streams carried by one stage call", ("stage",), _SIZES
    ),
    "a2f_stage_batch_items": MetricSpec(
        "histogram",
        "windows (a2e, a2f), frames (solve) or streams (resample) in one stage call",
        ("stage",),
        _SIZES,
    ),
    "a2f_stage_calls_total": MetricSpec(
        "counter", "stage calls by outcome (ok, failed)", ("stage", "outcome")
    ),
    "a2f_stage_seconds_total": MetricSpec(
        "counter",
        "summed wall time of stage calls (exact; histogram _sum is approximate)",
        ("stage",),
    ),
    "a2f_stage_streams_total": MetricSpec(
        "counter", "streams carried by stage calls, summed (mean batch = / calls)", ("stage",)
    ),
    "a2f_stage_items_total": MetricSpec(
        "counter", "windows / frames / streams of stage calls, summed", ("stage",)
    ),
    "a2f_ticks_total": MetricSpec("counter", "ticks run", ()),
    "a2f_tick_seconds_total": MetricSpec("counter", "summed wall time of ticks", ()),
    "a2f_tick_duration_seconds": MetricSpec(
        "histogram", "wall time of one tick (all stages)", (), _SECONDS
    ),
    "a2f_active_streams": MetricSpec("gauge", "open streams", ("tenant", "model")),
    "a2f_streams_total": MetricSpec(
        "counter", "finished streams by final status code", ("tenant", "model", "code")
    ),
    "a2f_frames_emitted_total": MetricSpec(
        "counter", "animation frames handed to the transport", ("tenant", "model")
    ),
    "a2f_time_to_first_frame_seconds": MetricSpec(
        "histogram", "stream open until its first frame", ("model",), _SECONDS
    ),
    "a2f_frame_lateness_seconds": MetricSpec(
        "histogram",
        "frame emission minus arrival of the audio it needs (look-ahead incl.)",
        ("model",),
        _SECONDS,
    ),
    "a2f_evictions_total": MetricSpec(
        "counter", "streams cut by the server (deadline, over capacity)", ("reason",)
    ),
    "a2f_errors_total": MetricSpec("counter", "streams ending with an error, by code", ("code",)),
}


class MemorySink(sinks.MemorySink):
    """In-memory sink over :data:`METRICS` (tests)."""

    def __init__(self) -> None:
        super().__init__(METRICS)


_lock = threading.Lock()
_sink: sinks.MetricSink | None = None
_active: Counter[tuple[str, str]] = Counter()
_tracer = StreamTracer()


def set_sink(sink: sinks.MetricSink | None) -> None:
    """Install a sink (tests); None returns to the default (Ray inside a worker, else none)."""
    global _sink
    with _lock:
        _sink = sink
        _active.clear()


def _current() -> sinks.MetricSink:
    global _sink
    if _sink is None:
        ray = sys.modules.get("ray")  # never import ray here: outside Ray there is nothing to do
        if ray is None or not ray.is_initialized():
            return sinks.NullSink()
        with _lock:
            if _sink is None:
                _sink = sinks.RaySink(METRICS)
    return _sink


def _record(name: str, value: float, **tags: str) -> None:
    try:
        _current().record(name, value, tags)
    except Exception:  # metrics must never break serving
        return


def _observe_many(name: str, values: Sequence[float], **tags: str) -> None:
    """Histogram observations of one series, in one call (see ``StreamMeter.flush``)."""
    if not values:
        return
    try:
        _current().observe_many(name, values, tags)
    except Exception:  # metrics must never break serving
        return


def _units(item: Any) -> int:
    """Windows (``starts``) or frames (``rows``) of one stage item."""
    for attr in ("starts", "rows"):
        value = getattr(item, attr, None)
        if value is not None:
            return len(value)
    return 1


@contextlib.contextmanager
def stage_call(method: str, items: Sequence[Any], tick_start: float) -> Iterator[None]:
    """Measure one batched stage call (latency, queue wait, batch sizes, span with links).

    Args:
        method: pipeline method (``encode``, ``detect``, ``infer``, ``solve``).
        items: the call's items (one per stream, each with ``stream_id``).
        tick_start: ``time.monotonic()`` at the start of the tick.
    """
    stage = STAGE_LABELS.get(method, method)
    start = time.monotonic()
    _record("a2f_stage_queue_wait_seconds", start - tick_start, stage=stage)
    units = sum(_units(i) for i in items)
    _record("a2f_stage_batch_streams", len(items), stage=stage)
    _record("a2f_stage_batch_items", units, stage=stage)
    _record("a2f_stage_streams_total", len(items), stage=stage)
    _record("a2f_stage_items_total", units, stage=stage)
    outcome = "failed"
    ids = [str(getattr(i, "stream_id", "")) for i in items]
    with _tracer.stage_span(stage, ids):
        try:
            yield
            outcome = "ok"
        finally:
            elapsed = time.monotonic() - start
            _record("a2f_stage_latency_seconds", elapsed, stage=stage)
            _record("a2f_stage_seconds_total", elapsed, stage=stage)
            _record("a2f_stage_calls_total", 1, stage=stage, outcome=outcome)


def tick_finished(duration_s: float) -> None:
    """Record the wall time of one tick."""
    _record("a2f_tick_duration_seconds", duration_s)
    _record("a2f_ticks_total", 1)
    _record("a2f_tick_seconds_total", duration_s)


def needed_audio_s(kind: str, time_code_s: float) -> float:
    """Seconds of input audio a frame needs before it can be computed (SDK schedule).

    Regression: the frame's window is centred on it, so 260 ms past its time. Diffusion
    (60 fps, 1 s windows, 0.5 s hop): the frame at ``f/60`` s comes from inference
    ``k = ceil((f + 16) / 30)``, which reads audio up to ``k/2`` s.
    """
    if kind == "diffusion":
        f = round(time_code_s * 60)
        return -(-(f + 16) // 30) / 2
    return time_code_s + REGRESSION_LOOKAHEAD_S


def _code_name(code: Any) -> str:
    return str(getattr(code, "name", None) or getattr(code, "value", None) or code)


def stream_rejected(code: Any) -> None:
    """A header was refused before a session opened (errors, over-capacity evictions)."""
    name = _code_name(code)
    _record("a2f_errors_total", 1, code=name)
    if name == "RESOURCE_EXHAUSTED":
        _record("a2f_evictions_total", 1, reason="over_capacity")


def stream_opened(header: Mapping[str, Any], handle: Any) -> StreamMeter:
    """Start measuring one stream.

    Args:
        header: the stream header (``tenant``, else ``x-a2f-tenant`` metadata, else
            ``default``).
        handle: the session handle (``model_id``, ``session.spec``).
    """
    spec = handle.session.spec
    metadata = header.get("metadata") or {}
    tenant = str(header.get("tenant") or metadata.get("x-a2f-tenant") or "default")
    return StreamMeter(tenant, spec.model_id, spec.kind, spec.stream_id)


class StreamMeter:
    """Per-stream measurements: audio arrivals, frames, first frame, lateness, the end.

    Args:
        tenant: tenant id (``default`` when none).
        model: model id.
        kind: ``regression`` or ``diffusion`` (look-ahead rule).
        stream_id: the session id (span links).
    """

    #: Seconds between two flushes of the per-frame records (frames, lateness, serialize).
    FLUSH_S = 0.5

    def __init__(self, tenant: str, model: str, kind: str, stream_id: str) -> None:
        self.tenant, self.model, self.kind, self.stream_id = tenant, model, kind, stream_id
        self.opened = time.monotonic()
        self.frames = 0
        # per-frame records are kept here and flushed together (see flush): a Ray metric
        # record costs microseconds of Python per call, paid three times for every frame
        self._flushed_frames = 0
        self._lateness: list[float] = []
        self._serialize: list[float] = []
        self._next_flush = self.opened + self.FLUSH_S
        self._arrivals: deque[tuple[float, float]] = deque()  # (input seconds, monotonic)
        self._closed: tuple[float, float] | None = None
        self._finished = False
        with _lock:
            _active[(tenant, model)] += 1
            active = _active[(tenant, model)]
        _record("a2f_active_streams", active, tenant=tenant, model=model)
        _tracer.stream_started(stream_id, {"a2f.model": model, "a2f.tenant": tenant})

    def audio(self, input_seconds: float) -> None:
        """The stream has now received ``input_seconds`` of audio."""
        if not self._arrivals or input_seconds > self._arrivals[-1][0]:
            self._arrivals.append((input_seconds, time.monotonic()))

    def audio_closed(self) -> None:
        """End of audio received."""
        total = self._arrivals[-1][0] if self._arrivals else 0.0
        self._closed = (total, time.monotonic())

    def _arrival(self, needed: float) -> float | None:
        if self._closed is not None and needed >= self._closed[0]:
            return self._closed[1]
        while len(self._arrivals) > 1 and self._arrivals[1][0] <= needed:
            self._arrivals.popleft()  # frames come in order: older arrivals are never needed
        for seconds, t in self._arrivals:
            if seconds >= needed - 1e-9:
                return t
        return None

    def frame(self, time_code_s: float) -> None:
        """A frame was handed to the transport."""
        now = time.monotonic()
        if self.frames == 0:
            _record("a2f_time_to_first_frame_seconds", now - self.opened, model=self.model)
            _tracer.stream_event(self.stream_id, "first_frame")
        self.frames += 1
        arrived = self._arrival(needed_audio_s(self.kind, time_code_s))
        if arrived is not None:
            self._lateness.append(max(0.0, now - arrived))
        if now >= self._next_flush:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Record the frames, lateness and serialize times kept since the last flush.

        Called every :attr:`FLUSH_S` seconds of emitted frames and when the stream ends, so
        the counters lag by at most that (Ray's exporter adds its own seconds anyway).
        """
        self._next_flush = (time.monotonic() if now is None else now) + self.FLUSH_S
        if self.frames > self._flushed_frames:
            frames, self._flushed_frames = self.frames - self._flushed_frames, self.frames
            _record("a2f_frames_emitted_total", frames, tenant=self.tenant, model=self.model)
        lateness, self._lateness = self._lateness, []
        _observe_many("a2f_frame_lateness_seconds", lateness, model=self.model)
        serialize, self._serialize = self._serialize, []
        _observe_many("a2f_stage_latency_seconds", serialize, stage="serialize")

    def emitting(self, event: Any) -> float:
        """A service event is about to be yielded; returns the time for :meth:`emitted`.

        Frames (events with ``frame``) are counted; a status (``code``) ends the stream.
        """
        frame = getattr(event, "frame", None)
        if frame is not None:
            self.frame(frame.time_code_s)
        elif hasattr(event, "code"):
            self.finish(event.code)
        return time.perf_counter()

    def emitted(self, event: Any, started: float) -> None:
        """The transport consumed ``event`` (converted and written it): serialize time."""
        if getattr(event, "frame", None) is not None:
            self._serialize.append(time.perf_counter() - started)

    def finish(self, code: Any = "OK") -> None:
        """The stream ended with ``code`` (idempotent)."""
        if self._finished:
            return
        self._finished = True
        self.flush()
        name = _code_name(code)
        with _lock:
            _active[(self.tenant, self.model)] -= 1
            active = max(0, _active[(self.tenant, self.model)])
        _record("a2f_active_streams", active, tenant=self.tenant, model=self.model)
        _record("a2f_streams_total", 1, tenant=self.tenant, model=self.model, code=name)
        if name != "OK":
            _record("a2f_errors_total", 1, code=name)
        if name in ("DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"):
            _record("a2f_evictions_total", 1, reason=name.lower())
        _tracer.stream_finished(self.stream_id, name, self.frames)


def tracer() -> StreamTracer:
    """The process's stream tracer (tests)."""
    return _tracer


def enable_tracing(options: TracingOptions, exporter: Any = None) -> None:
    """Configure tracing of this process (see :func:`configure_tracing`)."""
    _tracer.provider = configure_tracing(options, exporter)
