"""The serving half of ``a2f run`` (see :mod:`deployments.cli.run_cmd`): start, animate, serve.

Split from ``run_cmd`` so the command module stays small; heavy imports (ray) happen inside
the functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from a2f_actors.names import A2F_EMOTIONS
from deployments.settings import ModelEntry, ServeSettings, load_settings

#: The bundled sample clip (provenance: deployments/data/README.md).
SAMPLE_WAV = Path(__file__).resolve().parents[1] / "data" / "sample_speech.wav"
#: The default model packages ``make train`` writes: (model id, kind, folder under models/).
DEFAULT_MODELS: tuple[tuple[str, str, str], ...] = (
    ("ada_v2.3", "regression", "ada_v2.3"),
    ("ada_multi_v3.0", "diffusion", "ada_multi_v3.0"),
    ("ada_a2e_v1.0", "a2e", "ada_a2e_v1.0"),
)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SetupError(RuntimeError):
    """``a2f run`` cannot start (message says what to do)."""


def default_settings(models_dir: Path, **overrides: Any) -> ServeSettings:
    """Settings serving the default packages of ``models_dir``.

    Raises:
        SetupError: a default package is missing (they come from ``make train``).
    """
    missing = [folder for _, _, folder in DEFAULT_MODELS if not (models_dir / folder).is_dir()]
    if missing:
        raise SetupError(
            f"the default model packages are missing: {[str(models_dir / m) for m in missing]}. "
            f"Build them with `make train` (needs the corpus: `make data`), or serve other "
            f"packages with `a2f run --settings my_settings.yaml`."
        )
    models = [
        ModelEntry(model_id=mid, kind=kind, path=str(models_dir / folder))  # type: ignore[arg-type]
        for mid, kind, folder in DEFAULT_MODELS
    ]
    return load_settings(
        None,
        **{"models": models, "default_model": "ada_v2.3", "a2e_model": "ada_a2e_v1.0", **overrides},
    )


def _settings(args: argparse.Namespace) -> ServeSettings:
    overrides = {
        key: str(value)
        for key, value in (
            ("stylization_config", args.stylization),
            ("deployment_config", args.deployment),
            ("advanced_config", args.advanced),
        )
        if value is not None
    }
    if args.settings is not None:
        return load_settings(args.settings, **overrides)
    return default_settings(args.models_dir, **overrides)


#: Environment of a local (one-machine) Ray: Serve's controller reconciles every 0.1 s by
#: default, 0.06 cores of an idle 2-core box; every 0.5 s it is 0.02 (measured 2026-11-22,
#: docs/loadtest.md). Health checks (10 s) and the autoscaling delays (seconds) are far slower.
LOCAL_RAY_ENV = {"RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5"}


def set_local_ray_env() -> None:
    """Apply :data:`LOCAL_RAY_ENV` before ``ray.init`` (values already set win)."""
    for key, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def local_cluster(settings: ServeSettings, num_cpus: int) -> Iterator[int]:
    """Ray + Serve + the app for the ``with`` body; yields the bound NIM gRPC port.

    On exit (also on an error or Ctrl-C) Serve and Ray shut down, and the tritonserver the
    TritonOwner started is stopped if it outlived its replica (it runs in its own session).
    """
    import ray
    from ray import serve

    from deployments.app import build_app
    from deployments.triton.server import stop_from_state

    metrics = {"_metrics_export_port": settings.metrics_port} if settings.metrics_port else {}
    set_local_ray_env()
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING", **metrics)  # fmt: skip
    try:
        serve.start(http_options={"host": settings.http_host, "port": settings.http_port})
        handle = serve.run(build_app(settings), name=settings.app_name, route_prefix="/")
        yield handle.port.remote().result(timeout_s=600)
    finally:
        print("stopping Serve, Ray and Triton...", flush=True)
        with contextlib.suppress(Exception):
            serve.shutdown()
        ray.shutdown()
        stop_from_state(settings.workdir() / "triton")


def endpoints(settings: ServeSettings, grpc_port: int) -> str:
    """The banner listing what the cluster serves."""
    http = f"http://{settings.http_host}:{settings.http_port}"
    models = ", ".join(
        f"{m.model_id} ({m.kind}{', default' if m.model_id == settings.default_model else ''})"
        for m in settings.models
    )
    auth = "on (Authorization: Bearer <key>)" if settings.tenancy.auth else "off (local)"
    return "\n".join(
        [
            "a2f cluster is up:",
            f"  NIM gRPC   {settings.grpc_host}:{grpc_port}  (ProcessAudioStream, GetConfigs, "
            f"grpc.health.v1)",
            f"  HTTP       {http}/v1/animate  {http}/v1/models  {http}/v1/health/ready",
            f"  WebSocket  ws://{settings.http_host}:{settings.http_port}/v1/stream",
            f"  API docs   {http}/docs",
            f"  metrics    http://127.0.0.1:{settings.metrics_port}/metrics (Prometheus)",
            f"  models     {models}; backend {settings.backend}; auth {auth}",
        ]
    )


def _finite(values: list[float]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]


def write_outputs(result: Any, folder: Path, source: str, fps: float) -> tuple[Path, Path]:
    """``animation_frames.csv`` (NVIDIA sample-client layout) and ``animation.json``."""
    from deployments.ingress.grpc.client import write_csv

    folder.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(result, folder / "animation_frames.csv")
    has_emotion = any(not math.isnan(row[0]) for row in result.emotions)
    doc = {
        "source": source,
        "fps": fps,
        "status": {"code": result.status[0], "message": result.status[1]},
        "names": result.names,
        "time_codes": result.time_codes,
        "weights": result.weights,
        "emotion_names": list(A2F_EMOTIONS),
        "emotions": [_finite(row) for row in result.emotions] if has_emotion else None,
    }
    json_path = folder / "animation.json"
    json_path.write_text(json.dumps(doc) + "\n")
    return csv_path, json_path


def _quiet_grpc_poller(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Drop grpc.aio's benign poller EAGAIN callbacks in a Ray driver (grpc/grpc#25364)."""
    if not isinstance(context.get("exception"), BlockingIOError):
        loop.default_exception_handler(context)


def animate_sample(
    url: str, wav: Path, folder: Path, fps: float, api_key: str | None = None
) -> tuple[int, Path, Path]:
    """Stream ``wav`` through the NIM gRPC API at ``url``; write the outputs.

    Returns:
        ``(frames, csv path, json path)``.

    Raises:
        SetupError: the stream did not end with SUCCESS.
    """
    from a2f_actors.audio import PCM16_SCALE, decode_wav
    from deployments.ingress.grpc.client import animate

    decoded = decode_wav(wav)
    pcm = np.clip(np.round(decoded.samples * PCM16_SCALE), -32768, 32767).astype("<i2").tobytes()
    metadata = [("authorization", f"Bearer {api_key}")] if api_key else []

    async def stream() -> Any:
        asyncio.get_running_loop().set_exception_handler(_quiet_grpc_poller)
        return await animate(url, pcm, decoded.sample_rate, metadata=metadata)

    result = asyncio.run(stream())
    if result.status is None or result.status[0] != "SUCCESS":
        raise SetupError(f"animating {wav} failed: {result.status} ({result.grpc_code.name})")
    csv_path, json_path = write_outputs(result, folder, str(wav), fps)
    return len(result.time_codes), csv_path, json_path


def _default_fps(settings: ServeSettings) -> float:
    entry = settings.model(settings.default_model or "")
    return 60.0 if entry is not None and entry.kind == "diffusion" else float(settings.fps)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM, then restore the previous handlers."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _SIGNALS}
    try:
        print("serving; Ctrl-C stops everything", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    """``a2f run``: start, print the endpoints, animate the sample, serve (or exit: --once)."""
    try:
        settings = _settings(args)
    except SetupError as exc:
        print(f"a2f run: {exc}")
        return 2
    wav = args.audio or SAMPLE_WAV
    folder = args.output / datetime.now(UTC).strftime("run_%Y%m%dT%H%M%SZ")
    print(f"starting a local cluster ({settings.backend} backend; first start takes a minute)...")
    try:
        with local_cluster(settings, args.num_cpus) as grpc_port:
            print(endpoints(settings, grpc_port), flush=True)
            url = f"{settings.grpc_host}:{grpc_port}"
            frames, csv_path, json_path = animate_sample(
                url, wav, folder, _default_fps(settings), args.api_key
            )
            print(f"animated {wav.name} through {url}: {frames} frames -> {csv_path}, {json_path}")
            if not args.once:
                wait_for_signal()
    except SetupError as exc:
        print(f"a2f run: {exc}")
        return 1
    except KeyboardInterrupt:
        print("interrupted; stopped.")
        return 130
    print("stopped.")
    return 0
