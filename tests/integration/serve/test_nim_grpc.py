"""The NIM gRPC API of the real cluster (Ray Serve + Triton on CPU), with NVIDIA's stubs."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
from nvidia_audio2face_3d import a2x_export_config_pb2 as cfg_pb2
from nvidia_audio2face_3d import a2x_export_config_pb2_grpc as cfg_grpc

from a2f_actors import resample
from a2f_actors import windows as win
from a2f_actors.animator import RegressionAnimator
from a2f_actors.model_package import load_package
from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES
from a2f_actors.offline import animate_regression_clip
from deployments.backends.onnx_cpu import OnnxCpuBackend
from deployments.ingress.grpc import health
from deployments.ingress.grpc.client import animate
from deployments.session.catalog import Catalog
from tests.integration.serve.conftest import MODEL_ID, OTHER_MODEL_ID, run

pytestmark = pytest.mark.integration


def speech(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (0.3 * env * rng.standard_normal(len(t))).astype(np.float32)


def pcm16(x: np.ndarray) -> bytes:
    return np.clip(np.round(x * 32767), -32768, 32767).astype("<i2").tobytes()


def expected_frames(n_samples_16k: int) -> int:
    return win.frame_count(win.regression_schedule(30, 1), n_samples_16k)


def test_nim_client_gets_every_frame_in_order_with_success_when_streaming_16k(cluster) -> None:
    audio = speech(2.3)
    r = run(animate(cluster.url, pcm16(audio), 16000, chunk_s=0.25))
    assert r.status == ("SUCCESS", "success") and r.grpc_code == grpc.StatusCode.OK
    assert r.order == ["animation_data_stream_header", "animation_data", "event", "status"]
    assert r.names == list(BLENDSHAPES) and r.sample_rate == 16000
    assert len(r.time_codes) == expected_frames(len(audio))
    assert np.allclose(r.time_codes, np.arange(len(r.time_codes)) / 30.0)
    assert np.all(np.diff(r.time_codes) > 0)
    assert len(r.audio) == 2 * len(audio)  # the returned slices rebuild the input audio
    assert r.type_urls == {"type.googleapis.com/nvidia_ace.emotion_aggregate.v1.EmotionAggregate"}


def test_44k_input_is_resampled_and_animated_when_header_says_44100(cluster) -> None:
    audio = speech(1.7, rate=44100, seed=3)
    r = run(animate(cluster.url, pcm16(audio), 44100, chunk_s=0.5))
    assert r.status[0] == "SUCCESS"
    n16 = resample.output_length(len(audio), 44100)
    assert len(r.time_codes) == expected_frames(n16)
    assert len(r.audio) == 2 * n16


def test_timecoded_emotions_reach_the_frames_when_sent_with_the_first_chunk(cluster) -> None:
    keys = [(0.0, {"joy": 1.0}), (1.0, {"fear": 0.5, "anger": 0.2})]
    r = run(animate(cluster.url, pcm16(speech(1.6)), 16000, emotions=keys))
    assert r.status[0] == "SUCCESS"
    emo = np.asarray(r.emotions)
    joy, fear = A2F_EMOTIONS.index("joy"), A2F_EMOTIONS.index("fear")
    assert emo[0, joy] == pytest.approx(1.0) and emo[0, fear] == 0.0
    assert emo[15, joy] == pytest.approx(0.5) and emo[15, fear] == pytest.approx(0.25)
    assert emo[-1, fear] == pytest.approx(0.5) and emo[-1, joy] == 0.0  # after the last key
    assert sorted(r.input_emotions) == [0.0, 1.0]  # echoed back once


def test_concurrent_streams_do_not_mix_state_when_models_and_params_differ(cluster) -> None:
    a_audio, b_audio = pcm16(speech(2.0, seed=1)), pcm16(speech(1.5, seed=2))
    b_params = {
        "face_params": {"skinStrength": 0.6, "lowerFaceSmoothing": 0.02},
        "blendshape_params": {"bs_weight_multipliers": {"JawOpen": 1.5}},
    }
    b_meta = [("x-a2f-model", OTHER_MODEL_ID)]

    async def both():
        return await asyncio.gather(
            animate(cluster.url, a_audio, 16000, chunk_s=0.1, delay_s=0.01),
            animate(cluster.url, b_audio, 16000, params=b_params, metadata=b_meta, chunk_s=0.1),
        )

    a_mixed, b_mixed = run(both())
    a_alone = run(animate(cluster.url, a_audio, 16000))
    b_alone = run(animate(cluster.url, b_audio, 16000, params=b_params, metadata=b_meta))
    for mixed, alone in ((a_mixed, a_alone), (b_mixed, b_alone)):
        assert mixed.status[0] == alone.status[0] == "SUCCESS"
        np.testing.assert_allclose(mixed.weights, alone.weights, atol=1e-6)
    assert not np.allclose(np.asarray(a_alone.weights)[:10], np.asarray(b_alone.weights)[:10])


def test_cluster_output_equals_the_in_process_pipeline_when_given_the_same_clip(cluster) -> None:
    audio = speech(2.1, seed=7)
    r = run(animate(cluster.url, pcm16(audio), 16000, chunk_s=0.2))
    s = cluster.settings
    params = Catalog(s, s.nim_config()).resolve(MODEL_ID).params
    entry = s.model(MODEL_ID)
    pkg = load_package(entry.path)
    backend = OnnxCpuBackend({"net": pkg.files.network.onnx})
    clip16 = np.frombuffer(pcm16(audio), "<i2").astype(np.float32) / 32768.0
    anim = RegressionAnimator.from_package(pkg, params.blendshapes, 30.0)
    ref = animate_regression_clip(
        anim, clip16, params.face, params.blendshapes, lambda x: backend.run_sync("net", x)
    )
    assert len(r.weights) == len(ref.weights)
    np.testing.assert_allclose(r.time_codes, ref.time_codes)
    assert np.max(np.abs(np.asarray(r.weights) - ref.weights)) <= 1e-4


def test_bad_streams_get_their_codes_while_another_stream_continues(cluster) -> None:
    good_audio = pcm16(speech(2.0, seed=4))

    async def scenario():
        good = asyncio.create_task(
            animate(cluster.url, good_audio, 16000, chunk_s=0.1, delay_s=0.05)
        )
        await asyncio.sleep(0.3)
        bad = await asyncio.gather(
            animate(cluster.url, good_audio[:3200], 8000),  # rate out of range
            animate(cluster.url, good_audio[:3201], 16000, chunk_s=1.0),  # half a sample
            animate(cluster.url, good_audio[:3200], 16000, metadata=[("x-a2f-model", "no_v9")]),
            animate(
                cluster.url, good_audio[:3200], 16000, params={"face_params": {"skinStrength": 7}}
            ),
            animate(cluster.url, pcm16(np.zeros(16000 * 11)), 16000, chunk_s=11),  # > 10 s buffer
        )
        return await good, bad

    good, bad = run(scenario())
    assert good.status[0] == "SUCCESS" and len(good.time_codes) == expected_frames(16000 * 2)
    codes = [b.grpc_code for b in bad]
    assert codes == [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.INVALID_ARGUMENT,
    ]
    assert all(b.status is not None and b.status[0] == "ERROR" for b in bad)


def test_health_is_serving_and_get_configs_returns_three_yaml_files(cluster) -> None:
    async def query():
        async with grpc.aio.insecure_channel(cluster.url) as ch:
            check = ch.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health.HealthCheckRequest.SerializeToString,
                response_deserializer=health.HealthCheckResponse.FromString,
            )
            status = (await check(health.HealthCheckRequest(service=""))).status
            stub = cfg_grpc.A2XExportConfigServiceStub(ch)
            files = [c async for c in stub.GetConfigs(cfg_pb2.ConfigsTypeRequest())]
            return status, files

    status, files = run(query())
    assert status == health.SERVING
    assert [f.name for f in files] == [
        "stylization_config.yaml",
        "deployment_config.yaml",
        "advanced_config.yaml",
    ]
    assert "input_sanitization" in files[2].content


def test_stage_calls_do_not_grow_with_streams_when_eight_stream_at_once(cluster) -> None:
    audio = pcm16(speech(1.0, seed=9))

    def many(n: int):
        async def streams():
            return await asyncio.gather(
                *[animate(cluster.url, audio, 16000, chunk_s=0.1, delay_s=0.02) for _ in range(n)]
            )

        before = cluster.stats()
        results = run(streams())
        after = cluster.stats()
        calls = sum(after["calls"].values()) - sum(before["calls"].values())
        return results, calls, after["ticks"] - before["ticks"]

    one, calls_1, _ = many(1)
    eight, calls_8, ticks_8 = many(8)
    assert all(r.status[0] == "SUCCESS" for r in one + eight)
    assert calls_8 <= 3 * ticks_8  # at most one call per stage per tick, whatever the streams
    assert calls_8 < 3 * calls_1  # far from 8x
