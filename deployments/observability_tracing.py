"""Stream tracing with opentelemetry-sdk (part of :mod:`deployments.observability`).

One trace per stream: a root span ``a2f.stream`` opened with the session and ended with its
final status. A batched stage call is one span ``a2f.stage.<stage>``; it is a child of the
first *sampled* stream it carries and holds an OTel link to every stream it carries (the usual
pattern for batches: a span has one parent but may link many traces). Off by default: with no
provider every call is a cheap no-op. The provider is private to this module (never the global
one), so it does not interfere with Ray Serve's own tracing (``serve.start(tracing_config=)``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["FileSpanExporter", "StreamTracer", "TracingOptions", "configure_tracing"]


@dataclass(frozen=True)
class TracingOptions:
    """How to trace.

    Attributes:
        enabled: trace at all (default off).
        exporter: ``file`` (JSON lines) or ``otlp`` (OTLP/HTTP; needs
            ``opentelemetry-exporter-otlp-proto-http``).
        path: the file of the ``file`` exporter.
        endpoint: the collector URL of the ``otlp`` exporter.
        sampling_ratio: fraction of streams traced (0..1, by trace id).
        service_name: OTel ``service.name``.
    """

    enabled: bool = False
    exporter: Literal["file", "otlp"] = "file"
    path: str = "a2f_spans.jsonl"
    endpoint: str = "http://127.0.0.1:4318/v1/traces"
    sampling_ratio: float = 1.0
    service_name: str = "a2f-cluster"


class FileSpanExporter:
    """Appends finished spans to a file, one JSON object per line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> Any:
        """Write the spans."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = [json.dumps(json.loads(s.to_json(indent=None))) for s in spans]
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.writelines(line + "\n" for line in lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Writes are synchronous."""
        return True


def _exporter(options: TracingOptions) -> Any:
    if options.exporter == "file":
        return FileSpanExporter(options.path)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise RuntimeError(
            "tracing exporter 'otlp' needs opentelemetry-exporter-otlp-proto-http "
            "(pip install it), or use exporter 'file'"
        ) from exc
    return OTLPSpanExporter(endpoint=options.endpoint)


def configure_tracing(options: TracingOptions, exporter: Any = None) -> Any:
    """A TracerProvider for ``options`` (None when disabled).

    Args:
        options: what to trace and where to.
        exporter: a SpanExporter overriding ``options.exporter`` (tests: in-memory), exported
            synchronously.
    """
    if not options.enabled:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    if not 0.0 <= options.sampling_ratio <= 1.0:
        raise ValueError(f"sampling_ratio {options.sampling_ratio} must be within [0, 1]")
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(options.sampling_ratio)),
        resource=Resource.create({"service.name": options.service_name}),
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_exporter(options)))
    return provider


class StreamTracer:
    """Stream root spans by stream id, and stage spans linking them."""

    def __init__(self) -> None:
        self.provider: Any = None
        self._spans: dict[str, Any] = {}

    def _tracer(self) -> Any:
        return self.provider.get_tracer("a2f.serving") if self.provider is not None else None

    def stream_started(self, stream_id: str, attributes: Mapping[str, str]) -> None:
        """Open the stream's root span."""
        tracer = self._tracer()
        if tracer is not None:
            attrs = {"a2f.stream_id": stream_id, **attributes}
            self._spans[stream_id] = tracer.start_span("a2f.stream", attributes=attrs)

    def stream_event(self, stream_id: str, name: str) -> None:
        """Add an event (e.g. ``first_frame``) to the stream's span."""
        span = self._spans.get(stream_id)
        if span is not None:
            span.add_event(name)

    def stream_finished(self, stream_id: str, code: str, frames: int) -> None:
        """End the stream's span with its status and frame count."""
        span = self._spans.pop(stream_id, None)
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("a2f.frames", frames)
        span.set_attribute("a2f.code", code)
        if code != "OK":
            span.set_status(Status(StatusCode.ERROR, code))
        span.end()

    @contextlib.contextmanager
    def stage_span(self, stage: str, stream_ids: Sequence[str]) -> Iterator[None]:
        """Span of one batched stage call (child of a sampled stream, links to all)."""
        tracer = self._tracer()
        spans = [s for s in (self._spans.get(i) for i in stream_ids) if s is not None]
        sampled = [s for s in spans if s.get_span_context().trace_flags.sampled]
        if tracer is None or not sampled:
            yield
            return
        from opentelemetry import trace
        from opentelemetry.trace import Link

        links = [Link(s.get_span_context()) for s in spans]
        ctx = trace.set_span_in_context(sampled[0])
        attrs = {"a2f.stage": stage, "a2f.streams": len(stream_ids)}
        with tracer.start_as_current_span(
            f"a2f.stage.{stage}", context=ctx, links=links, attributes=attrs
        ):
            yield
