"""Session tests run the real stage classes in-process on a synthetic package (no ray)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from a2f_actors.model_package.synthetic import make_regression_package
from deployments.audio_encoder import AudioEncoder
from deployments.face_inference import A2FInference
from deployments.ingress.service import InputChunk, ServiceOptions, StreamService
from deployments.session.catalog import Catalog
from deployments.session.pipelines import LocalPipeline
from deployments.session.ticker import SessionManager, TickOptions
from deployments.settings import ModelEntry, ServeSettings
from deployments.solver import BlendshapeSolver
from deployments.triton import fixtures

MODEL = "tiny_v1.0"


@pytest.fixture(scope="package")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ServeSettings:
    root: Path = tmp_path_factory.mktemp("session")
    onnx = fixtures.build_regression(num_skin=8, num_tongue=4).SerializeToString()
    path = make_regression_package(root / "reg", onnx=onnx)
    entry = ModelEntry(model_id=MODEL, kind="regression", path=str(path.parent))
    return ServeSettings(backend="fake", models=(entry,), default_model=MODEL, burst_mode=True)


@pytest.fixture(scope="package")
def stages(settings: ServeSettings) -> LocalPipeline:
    return LocalPipeline(
        AudioEncoder(), None, A2FInference.from_settings(settings),
        BlendshapeSolver.from_settings(settings),
    )  # fmt: skip


@pytest.fixture(scope="package")
def catalog(settings: ServeSettings) -> Catalog:
    return Catalog(settings, settings.nim_config())


def header(rate: int = 16000, **extra: object) -> dict:
    return {
        "audio_header": {"samples_per_second": rate, "channel_count": 1, "bits_per_sample": 16}
    } | extra


def pcm(seconds: float, rate: int = 16000, seed: int = 0) -> bytes:
    x = np.random.default_rng(seed).standard_normal(int(seconds * rate)) * 3000
    return x.astype("<i2").tobytes()


async def chunks_of(data: bytes, step: int = 3200, delay_s: float = 0.0):
    for lo in range(0, len(data), step):
        yield InputChunk(data[lo : lo + step])
        if delay_s:
            await asyncio.sleep(delay_s)


def make_service(pipeline, catalog, **opts) -> StreamService:
    tick = opts.pop("tick", TickOptions(tick_s=0.005, backoff_s=0.001))
    manager = SessionManager(pipeline, catalog, options=tick)
    return StreamService(manager, ServiceOptions(**({"burst_mode": True} | opts)))


async def collect(service: StreamService, hdr: dict, chunks) -> list:
    return [event async for event in service.run_stream(hdr, chunks)]
