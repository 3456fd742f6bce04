"""deployments.observability: metric records from the real service path, tracing, docs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from a2f_actors.model_package.synthetic import make_regression_package
from deployments import observability as obs
from deployments.audio_encoder import AudioEncoder
from deployments.face_inference import A2FInference
from deployments.ingress.service import Frame, InputChunk, ServiceOptions, StreamService
from deployments.session.catalog import Catalog
from deployments.session.pipelines import LocalPipeline
from deployments.session.ticker import SessionManager, TickOptions
from deployments.settings import ModelEntry, ServeSettings
from deployments.solver import BlendshapeSolver
from deployments.triton import fixtures

MODEL = "tiny_v1.0"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def service_parts(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("obs")
    onnx = fixtures.build_regression(num_skin=8, num_tongue=4).SerializeToString()
    path = make_regression_package(root / "reg", onnx=onnx)
    entry = ModelEntry(model_id=MODEL, kind="regression", path=str(path.parent))
    settings = ServeSettings(backend="fake", models=(entry,), default_model=MODEL)
    pipeline = LocalPipeline(
        AudioEncoder(), None, A2FInference.from_settings(settings),
        BlendshapeSolver.from_settings(settings),
    )  # fmt: skip
    return pipeline, Catalog(settings, settings.nim_config())


@pytest.fixture
def sink():
    memory = obs.MemorySink()
    obs.set_sink(memory)
    yield memory
    obs.set_sink(None)


def _header(**extra):
    return {"audio_header": {"samples_per_second": 16000, "channel_count": 1,
                             "bits_per_sample": 16}} | extra  # fmt: skip


async def _chunks(seconds: float, step: int = 3200):
    data = np.random.default_rng(0).standard_normal(int(seconds * 16000)) * 3000
    pcm = data.astype("<i2").tobytes()
    for lo in range(0, len(pcm), step):
        yield InputChunk(pcm[lo : lo + step])


def _run(parts, streams: int = 2, header=None):
    pipeline, catalog = parts
    manager = SessionManager(pipeline, catalog, options=TickOptions(tick_s=0.005))
    service = StreamService(manager, ServiceOptions(burst_mode=True))

    async def one():
        return [e async for e in service.run_stream(header or _header(tenant="t1"), _chunks(0.6))]

    async def many():
        return await asyncio.gather(*(one() for _ in range(streams)))

    return asyncio.run(many())


def test_frames_emitted_counter_equals_frames_yielded_and_streams_are_closed(
    service_parts, sink
) -> None:
    results = _run(service_parts, streams=3)
    yielded = sum(isinstance(e, Frame) for events in results for e in events)
    assert yielded > 0
    assert sink.get("a2f_frames_emitted_total", tenant="t1", model=MODEL) == yielded
    assert sink.get("a2f_streams_total", tenant="t1", model=MODEL, code="OK") == 3
    assert sink.get("a2f_active_streams", tenant="t1", model=MODEL) == 0
    assert len(sink.get("a2f_time_to_first_frame_seconds", model=MODEL)) == 3
    lateness = sink.get("a2f_frame_lateness_seconds", model=MODEL)
    assert len(lateness) == yielded and min(lateness) >= 0
    assert len(sink.get("a2f_stage_latency_seconds", stage="serialize")) == yielded


def test_every_stage_call_records_latency_batch_and_queue_wait(service_parts, sink) -> None:
    _run(service_parts, streams=2)
    for stage in ("resample", "a2f", "postprocess_solve"):
        calls = sink.get("a2f_stage_calls_total", stage=stage, outcome="ok")
        assert calls and calls > 0
        assert len(sink.get("a2f_stage_latency_seconds", stage=stage)) == calls
        assert len(sink.get("a2f_stage_queue_wait_seconds", stage=stage)) == calls
        assert max(sink.get("a2f_stage_batch_streams", stage=stage)) <= 2
    assert sink.get("a2f_tick_duration_seconds")


def test_rejected_header_counts_an_error_by_code(service_parts, sink) -> None:
    _run(service_parts, streams=1, header=_header(model="nope"))
    assert sink.get("a2f_errors_total", code="NOT_FOUND") == 1


def test_needed_audio_follows_the_lookahead_rules() -> None:
    assert obs.needed_audio_s("regression", 1.0) == pytest.approx(1.26)
    assert obs.needed_audio_s("diffusion", 0.0) == 0.5  # frame 0 comes from inference 1
    assert obs.needed_audio_s("diffusion", 15 / 60) == 1.0


def test_stage_spans_link_every_stream_they_carry_and_sit_in_a_stream_trace() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    obs.enable_tracing(obs.TracingOptions(enabled=True), exporter)
    try:
        a = obs.StreamMeter("t", MODEL, "regression", "sA")
        b = obs.StreamMeter("t", MODEL, "regression", "sB")

        class Item:
            def __init__(self, sid):
                self.stream_id, self.starts = sid, [0, 1]

        with obs.stage_call("infer", [Item("sA"), Item("sB")], 0.0):
            pass
        a.finish("OK")
        b.finish("INTERNAL")
    finally:
        obs.tracer().provider = None
    spans = {s.name: s for s in exporter.get_finished_spans()}
    stage = spans["a2f.stage.a2f"]
    assert len(stage.links) == 2
    streams = [s for s in exporter.get_finished_spans() if s.name == "a2f.stream"]
    assert len(streams) == 2
    assert stage.context.trace_id in {s.context.trace_id for s in streams}
    assert {s.attributes["a2f.code"] for s in streams} == {"OK", "INTERNAL"}


def test_tracing_is_off_by_default_and_the_file_exporter_writes_json_lines(tmp_path) -> None:
    assert obs.configure_tracing(obs.TracingOptions()) is None
    path = tmp_path / "spans.jsonl"
    provider = obs.configure_tracing(obs.TracingOptions(enabled=True, path=str(path)))
    with provider.get_tracer("t").start_as_current_span("x"):
        pass
    provider.shutdown()
    assert '"name": "x"' in path.read_text()


def test_docs_list_every_metric_name() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text()
    missing = [name for name in obs.METRICS if f"ray_{name}" not in text]
    assert not missing, f"docs/metrics.md lacks {missing}"


def test_ray_sink_sums_counter_increments_until_a_flush(monkeypatch) -> None:
    import ray.util.metrics as rm

    from deployments.observability_sinks import RaySink

    calls = []

    class Fake:
        def __init__(self, name, *args, **kwargs):
            self.name = name

        def inc(self, value, tags):
            calls.append(("inc", self.name, value, tags))

        def set(self, value, tags):
            calls.append(("set", self.name, value, tags))

        def observe(self, value, tags):
            calls.append(("observe", self.name, value, tags))

    for kind in ("Counter", "Gauge", "Histogram"):
        monkeypatch.setattr(rm, kind, Fake)
    sink = RaySink(obs.METRICS, flush_s=3600)
    for _ in range(3):
        sink.record("a2f_frames_emitted_total", 1, {"tenant": "t", "model": "m"})
    sink.record("a2f_stage_latency_seconds", 0.1, {"stage": "a2f"})
    assert [c[0] for c in calls] == ["observe"]
    sink.flush()
    assert calls[-1] == ("inc", "a2f_frames_emitted_total", 3, {"tenant": "t", "model": "m"})


def test_stream_meter_keeps_per_frame_records_until_flush_time_or_the_end(
    sink, monkeypatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(obs.time, "monotonic", lambda: clock[0])
    meter = obs.StreamMeter("t", MODEL, "regression", "sF")
    meter.audio(10.0)
    for k in range(5):  # 5 frames inside one flush period: only the first frame's TTFF so far
        started = meter.emitting(Frame(_frame(k)))
        meter.emitted(Frame(_frame(k)), started)
    assert sink.get("a2f_frames_emitted_total", tenant="t", model=MODEL) is None
    assert sink.get("a2f_frame_lateness_seconds", model=MODEL) is None
    assert len(sink.get("a2f_time_to_first_frame_seconds", model=MODEL)) == 1
    clock[0] += obs.StreamMeter.FLUSH_S  # the next frame is past the flush time
    meter.emitting(Frame(_frame(5)))
    assert sink.get("a2f_frames_emitted_total", tenant="t", model=MODEL) == 6
    assert len(sink.get("a2f_frame_lateness_seconds", model=MODEL)) == 6
    assert len(sink.get("a2f_stage_latency_seconds", stage="serialize")) == 5
    started = meter.emitting(Frame(_frame(6)))
    meter.emitted(Frame(_frame(6)), started)
    meter.finish("OK")  # the end flushes the rest, exactly once
    meter.finish("OK")
    assert sink.get("a2f_frames_emitted_total", tenant="t", model=MODEL) == 7
    assert len(sink.get("a2f_frame_lateness_seconds", model=MODEL)) == 7
    assert len(sink.get("a2f_stage_latency_seconds", stage="serialize")) == 6


def _frame(k: int):
    from a2f_actors.framing import NUM_BLENDSHAPES, BlendshapeFrame

    return BlendshapeFrame(k, k / 30.0, np.zeros(NUM_BLENDSHAPES, np.float32))


def test_ray_sink_observe_many_validates_once_then_records_every_value(monkeypatch) -> None:
    import ray.util.metrics as rm

    from deployments.observability_sinks import RaySink

    calls = []

    class Recorder:
        def record(self, value, tags):
            calls.append(("record", value, tags))

    class Fake:
        def __init__(self, name, *args, **kwargs):
            self._default_tags = {"replica": "r1"}
            self._metric = Recorder() if name != "a2f_frame_lateness_seconds" else None

        def observe(self, value, tags):
            calls.append(("observe", value, tags))

        inc = set = observe

    for kind in ("Counter", "Gauge", "Histogram"):
        monkeypatch.setattr(rm, kind, Fake)
    sink = RaySink(obs.METRICS, flush_s=3600)
    sink.observe_many("a2f_stage_latency_seconds", [0.1, 0.2, 0.3], {"stage": "serialize"})
    assert calls == [
        ("observe", 0.1, {"stage": "serialize"}),
        ("record", 0.2, {"replica": "r1", "stage": "serialize"}),
        ("record", 0.3, {"replica": "r1", "stage": "serialize"}),
    ]
    calls.clear()  # a Ray metric without the recorder attribute: observe for every value
    sink.observe_many("a2f_frame_lateness_seconds", [0.5, 0.6], {"model": "m"})
    assert calls == [("observe", 0.5, {"model": "m"}), ("observe", 0.6, {"model": "m"})]
    sink.observe_many("a2f_frame_lateness_seconds", [], {"model": "m"})
    assert len(calls) == 2
