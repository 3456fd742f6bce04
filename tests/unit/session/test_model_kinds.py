"""Diffusion and A2E streams through the in-process stages (diffusion = whole-clip reference)."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from a2f_actors.animator import DiffusionAnimator
from a2f_actors.model_package import load_package
from a2f_actors.model_package.synthetic import make_diffusion_package
from a2f_actors.offline import animate_diffusion_clip
from deployments.audio_encoder import AudioEncoder
from deployments.face_inference import A2FInference
from deployments.ingress.service import Frame, StreamStatus
from deployments.session.catalog import Catalog
from deployments.session.pipelines import LocalPipeline
from deployments.settings import ModelEntry, ServeSettings
from deployments.solver import BlendshapeSolver
from deployments.triton import fixtures
from deployments.triton.python_model import model as pymodel
from tests.unit.session.conftest import chunks_of, collect, header, make_service, pcm


@pytest.fixture(scope="module")
def diffusion_settings(tmp_path_factory: pytest.TempPathFactory) -> ServeSettings:
    root = tmp_path_factory.mktemp("dif")
    width = 40 * 3 + 12 * 3 + 15 + 4  # skin || tongue || jaw || eyes of the synthetic package
    onnx = fixtures.build_diffusion(num_identities=3, out_dim=width).SerializeToString()
    path = make_diffusion_package(root / "dif", onnx=onnx)
    entry = ModelEntry(
        model_id="tinydif_v3.0", kind="diffusion", path=str(path.parent), identity="james"
    )
    return ServeSettings(backend="onnx", models=(entry,), default_model="tinydif_v3.0")


def test_diffusion_stream_matches_offline_clip_when_chunked(diffusion_settings) -> None:
    s = diffusion_settings
    stages = LocalPipeline(
        AudioEncoder(), None, A2FInference.from_settings(s), BlendshapeSolver.from_settings(s)
    )
    catalog = Catalog(s, s.nim_config())
    data = pcm(1.7, seed=11)
    events = asyncio.run(collect(make_service(stages, catalog), header(), chunks_of(data, 2400)))
    assert events[-1] == StreamStatus()
    frames = [e.frame for e in events if isinstance(e, Frame)]
    params = catalog.resolve("tinydif_v3.0").params
    pkg = load_package(s.models[0].path)
    anim = DiffusionAnimator.from_package(pkg, "james", params.blendshapes)
    run = pymodel.ort_runner(str(pkg.files.network.onnx))
    clip = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    ref = animate_diffusion_clip(anim, clip, params.face, params.blendshapes, run)
    assert len(frames) == len(ref.weights) > 60
    np.testing.assert_allclose([f.time_code_s for f in frames], ref.time_codes)
    np.testing.assert_allclose(np.stack([f.weights for f in frames]), ref.weights, atol=1e-4)


def test_a2e_emotions_reach_the_frames_when_an_a2e_model_is_served(tmp_path) -> None:
    from a2f_actors.model_package.synthetic import make_a2e_package, make_regression_package

    reg = fixtures.build_regression(num_skin=8, num_tongue=4).SerializeToString()
    reg_path = make_regression_package(tmp_path / "reg", onnx=reg)
    a2e_path = make_a2e_package(tmp_path / "a2e", onnx=fixtures.build_a2e().SerializeToString())
    s = ServeSettings(
        backend="onnx",
        models=(
            ModelEntry(model_id="tiny_v1.0", kind="regression", path=str(reg_path.parent)),
            ModelEntry(model_id="a2e_v2.2", kind="a2e", path=str(a2e_path.parent)),
        ),
        default_model="tiny_v1.0",
        a2e_model="a2e_v2.2",
    )
    from deployments.emotion import EmotionDetector

    stages = LocalPipeline(
        AudioEncoder(), EmotionDetector.from_settings(s), A2FInference.from_settings(s),
        BlendshapeSolver.from_settings(s),
    )  # fmt: skip
    cfg = s.nim_config()  # A2E is off by default in our stylization (chance-level model)
    a2e_on = cfg.stylization.a2e.model_copy(update={"enabled": True})
    cfg = dataclasses.replace(cfg, stylization=cfg.stylization.model_copy(update={"a2e": a2e_on}))
    catalog = Catalog(s, cfg)
    data = pcm(2.5, seed=2)
    events = asyncio.run(collect(make_service(stages, catalog), header(), chunks_of(data, 4000)))
    assert events[-1] == StreamStatus()
    frames = [e.frame for e in events if isinstance(e, Frame)]
    assert len(frames) == 75
    emotions = np.stack([f.emotion for f in frames])
    assert np.abs(emotions).sum() > 0  # detected emotions, not the all-zero default
