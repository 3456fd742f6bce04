"""HTTP and WebSocket API of the real cluster (Ray Serve + Triton on CPU), tenancy on."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import wave

import grpc
import httpx
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from a2f_actors import windows as win
from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES
from deployments.ingress.grpc.client import animate
from deployments.ingress.http.export import unpack_binary_frame
from deployments.ingress.http.schemas import BINARY_FRAME
from tests.integration.http.conftest import ALPHA_KEY, BETA_KEY
from tests.integration.serve.conftest import MODEL_ID, OTHER_MODEL_ID

pytestmark = pytest.mark.integration


def speech(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (0.3 * env * rng.standard_normal(len(t))).astype(np.float32)


def pcm16(x: np.ndarray) -> bytes:
    return np.clip(np.round(x * 32767), -32768, 32767).astype("<i2").tobytes()


def wav_bytes(pcm: bytes, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def expected_frames(n_samples_16k: int) -> int:
    return win.frame_count(win.regression_schedule(30, 1), n_samples_16k)


async def ws_stream(
    url: str,
    header: dict,
    pcm: bytes,
    key: str | None = BETA_KEY,
    chunk: int = 3200,
    delay_s: float = 0.0,
) -> tuple[list, int | None]:
    """Run one WebSocket stream; returns (messages: str | bytes, close code)."""
    headers = {"authorization": f"Bearer {key}"} if key else None
    async with connect(f"{url}/v1/stream", additional_headers=headers, max_size=None) as ws:
        await ws.send(json.dumps(header))

        async def send() -> None:
            for lo in range(0, len(pcm), chunk):
                await ws.send(pcm[lo : lo + chunk])
                if delay_s:
                    await asyncio.sleep(delay_s)
            await ws.send(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        messages = []
        with contextlib.suppress(ConnectionClosed):  # raised after a non-1000 close
            async for m in ws:
                messages.append(m)
        sender.cancel()
        return messages, ws.close_code


def test_animate_returns_the_whole_animation_as_json_when_a_wav_is_posted(http_cluster) -> None:
    audio = pcm16(speech(2.2, seed=11))
    r = httpx.post(
        f"{http_cluster.http_url}/v1/animate",
        content=wav_bytes(audio),
        headers=http_cluster.auth(),
        timeout=120,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    n = expected_frames(len(audio) // 2)
    assert body["model"] == MODEL_ID and body["fps"] == 30.0 and body["names"] == list(BLENDSHAPES)
    assert np.allclose(body["time_codes"], np.arange(n) / 30.0)
    assert np.asarray(body["weights"]).shape == (n, 68)
    assert body["emotion_names"] == list(A2F_EMOTIONS)
    # the same clip through the NIM gRPC API gives the same frames
    g = asyncio.run(
        animate(
            http_cluster.grpc_url, audio, 16000, metadata=[("authorization", f"Bearer {BETA_KEY}")]
        )
    )
    assert g.status[0] == "SUCCESS"
    np.testing.assert_allclose(body["weights"], g.weights, atol=1e-6)


def test_animate_returns_nvidia_csv_when_accept_or_format_asks_for_csv(http_cluster) -> None:
    audio = pcm16(speech(1.3, seed=12))
    n = expected_frames(len(audio) // 2)
    url = f"{http_cluster.http_url}/v1/animate"
    by_accept = httpx.post(
        url,
        params={"sample_rate": 16000},
        content=audio,
        timeout=120,
        headers={**http_cluster.auth(), "accept": "text/csv"},
    )
    by_query = httpx.post(
        url,
        params={"sample_rate": 16000, "format": "csv"},
        content=audio,
        headers=http_cluster.auth(),
        timeout=120,
    )
    for r in (by_accept, by_query):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = r.text.splitlines()
        assert rows[0].split(",") == ["timeCode", *[f"blendShapes.{b}" for b in BLENDSHAPES]]
        assert len(rows) == n + 1
        assert [float(row.split(",")[0]) for row in rows[1:]] == pytest.approx(np.arange(n) / 30)
    assert by_accept.text == by_query.text


def test_websocket_streams_every_frame_in_order_then_end_and_status(http_cluster) -> None:
    audio = pcm16(speech(1.9, seed=13))
    n = expected_frames(len(audio) // 2)
    header = {"sample_rate": 16000, "face_params": {"float_params": {"skinStrength": 0.8}}}
    msgs, close = asyncio.run(ws_stream(http_cluster.ws_url, header, audio, delay_s=0.01))
    start, *frames, end, status = [json.loads(m) for m in msgs]
    assert start["type"] == "start" and start["names"] == list(BLENDSHAPES) and start["fps"] == 30
    assert [f["index"] for f in frames] == list(range(n))
    assert np.allclose([f["time_code"] for f in frames], np.arange(n) / 30.0)
    assert all(len(f["weights"]) == 68 for f in frames)
    assert end == {"type": "end", "frames": n}
    assert status == {"type": "status", "code": "OK", "message": "success"} and close == 1000


def test_websocket_binary_frames_match_json_frames_when_output_is_binary(http_cluster) -> None:
    audio = pcm16(speech(1.2, seed=14))
    url = http_cluster.ws_url
    as_json, _ = asyncio.run(ws_stream(url, {"sample_rate": 16000}, audio))
    as_bin, close = asyncio.run(ws_stream(url, {"sample_rate": 16000, "output": "binary"}, audio))
    frames = [m for m in as_bin if isinstance(m, bytes)]
    assert all(len(f) == BINARY_FRAME.size == 324 for f in frames)
    decoded = [unpack_binary_frame(f) for f in frames]
    json_frames = [json.loads(m) for m in as_json[1:-2]]
    assert [d[0] for d in decoded] == [f["index"] for f in json_frames]
    np.testing.assert_allclose(
        [d[2] for d in decoded], [f["weights"] for f in json_frames], atol=1e-7
    )
    assert json.loads(as_bin[-1])["code"] == "OK" and close == 1000


def test_health_and_models_answer_with_the_tenants_view(http_cluster) -> None:
    base = http_cluster.http_url
    assert httpx.get(f"{base}/v1/health/live").json()["status"] == "live"
    ready = httpx.get(f"{base}/v1/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    alpha = httpx.get(f"{base}/v1/models", headers=http_cluster.auth(ALPHA_KEY)).json()
    beta = httpx.get(f"{base}/v1/models", headers=http_cluster.auth(BETA_KEY)).json()
    assert [m["id"] for m in alpha["models"]] == [MODEL_ID]
    assert sorted(m["id"] for m in beta["models"]) == sorted([MODEL_ID, OTHER_MODEL_ID])
    assert {m["kind"] for m in beta["models"]} == {"regression"}
    anonymous = httpx.get(f"{base}/v1/models")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "UNAUTHENTICATED"
    docs = httpx.get(f"{base}/openapi.json").json()
    assert {"/v1/animate", "/v1/models", "/v1/health/ready"} <= set(docs["paths"])


def test_bad_requests_get_json_errors_with_mapped_http_status(http_cluster) -> None:
    url = f"{http_cluster.http_url}/v1/animate"
    audio = pcm16(speech(0.5))
    cases = [
        (dict(content=audio), 400, "INVALID_ARGUMENT"),  # raw PCM without sample_rate
        (dict(content=audio, params={"sample_rate": 8000}), 400, "INVALID_ARGUMENT"),
        (dict(content=audio, params={"sample_rate": 16000, "model": "nope"}), 404, "NOT_FOUND"),
        (
            dict(content=audio, params={"sample_rate": 16000, "params": '{"face_params": 3}'}),
            400,
            "INVALID_ARGUMENT",
        ),
        (dict(content=b"RIFFjunk"), 400, "INVALID_ARGUMENT"),
    ]
    for kwargs, status, code in cases:
        r = httpx.post(url, headers=http_cluster.auth(), timeout=60, **kwargs)
        assert (r.status_code, r.json()["code"]) == (status, code), (kwargs.get("params"), r.text)
        assert r.json()["message"]


def test_bad_or_missing_key_is_unauthenticated_on_http_websocket_and_grpc(http_cluster) -> None:
    audio = pcm16(speech(0.6))
    url = f"{http_cluster.http_url}/v1/animate"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic abc"}):
        r = httpx.post(url, params={"sample_rate": 16000}, content=audio, headers=headers)
        assert r.status_code == 401 and r.json()["code"] == "UNAUTHENTICATED"
    msgs, close = asyncio.run(ws_stream(http_cluster.ws_url, {"sample_rate": 16000}, audio, "bad"))
    assert json.loads(msgs[-1])["code"] == "UNAUTHENTICATED" and close == 4401
    g = asyncio.run(
        animate(http_cluster.grpc_url, audio, 16000, metadata=[("authorization", "Bearer bad")])
    )
    assert g.grpc_code == grpc.StatusCode.UNAUTHENTICATED and not g.time_codes
    ok = asyncio.run(
        animate(
            http_cluster.grpc_url, audio, 16000, metadata=[("authorization", f"Bearer {ALPHA_KEY}")]
        )
    )
    assert ok.status[0] == "SUCCESS"


def test_model_outside_the_tenants_list_is_not_found(http_cluster) -> None:
    r = httpx.post(
        f"{http_cluster.http_url}/v1/animate",
        content=pcm16(speech(0.5)),
        params={"sample_rate": 16000, "model": OTHER_MODEL_ID},
        headers=http_cluster.auth(ALPHA_KEY),
    )
    assert r.status_code == 404 and "alpha" in r.json()["message"]


def test_over_quota_stream_is_refused_while_the_tenants_running_stream_continues(
    http_cluster,
) -> None:
    long_audio = pcm16(speech(2.0, seed=21))
    alpha_md = [("authorization", f"Bearer {ALPHA_KEY}")]

    async def scenario():
        running = asyncio.create_task(
            animate(
                http_cluster.grpc_url,
                long_audio,
                16000,
                chunk_s=0.1,
                delay_s=0.1,
                metadata=alpha_md,
            )
        )
        await asyncio.sleep(0.8)  # the first stream is admitted and streaming
        async with httpx.AsyncClient(timeout=60) as client:
            http = await client.post(
                f"{http_cluster.http_url}/v1/animate",
                content=pcm16(speech(0.4)),
                params={"sample_rate": 16000},
                headers=http_cluster.auth(ALPHA_KEY),
            )
        grpc_refused = await animate(
            http_cluster.grpc_url, pcm16(speech(0.4)), 16000, metadata=alpha_md
        )
        other = await animate(
            http_cluster.grpc_url,
            pcm16(speech(0.4)),
            16000,
            metadata=[("authorization", f"Bearer {BETA_KEY}")],
        )
        return await running, http, grpc_refused, other

    first, http, refused, other = asyncio.run(scenario())
    assert http.status_code == 429 and http.json()["code"] == "RESOURCE_EXHAUSTED"
    assert refused.grpc_code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert other.status[0] == "SUCCESS"
    assert first.status[0] == "SUCCESS"
    assert len(first.time_codes) == expected_frames(len(long_audio) // 2)
    # the slot is free again once the stream ended
    again = asyncio.run(
        animate(http_cluster.grpc_url, pcm16(speech(0.3)), 16000, metadata=alpha_md)
    )
    assert again.status[0] == "SUCCESS"
