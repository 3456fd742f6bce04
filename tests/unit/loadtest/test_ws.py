"""The WebSocket transport against a fake ``WS /v1/stream`` server (binary frames)."""

from __future__ import annotations

import asyncio
import json
import math
import struct

import numpy as np
import pytest

from loadtest.accounting import REGRESSION_LOOKAHEAD_S, aggregate, analyse, expected_frames
from loadtest.generator import Clip, LevelPlan, StreamOptions, run_level

pytestmark = pytest.mark.timeout(60)
FRAME = struct.Struct("<Id68f10f")


async def fake_stream(ws) -> None:
    header = json.loads(await ws.recv())
    rate, samples, nxt = header["sample_rate"], 0, 0
    await ws.send(json.dumps({"type": "start", "fps": 30}))

    async def emit(i: int) -> None:
        await ws.send(FRAME.pack(i, i / 30, *([0.0] * 68), *([math.nan] * 10)))

    async for message in ws:
        if isinstance(message, bytes):
            samples += len(message) // 2
            ready = math.floor((samples / rate - REGRESSION_LOOKAHEAD_S) * 30 + 1e-9)
            while nxt <= ready:
                await emit(nxt)
                nxt += 1
        elif json.loads(message).get("type") == "end":
            break
    total = expected_frames(samples * 16000 // rate, 30)
    while nxt < total:
        await emit(nxt)
        nxt += 1
    await ws.send(json.dumps({"type": "end", "frames": total}))
    await ws.send(json.dumps({"type": "status", "code": "OK", "message": "success"}))


def test_websocket_streams_are_accounted_like_grpc_streams() -> None:
    import websockets

    pcm = (np.random.default_rng(2).standard_normal(9000) * 1000).astype("<i2").tobytes()
    clips = [Clip("a.wav", pcm, 16000)]

    async def go():
        async with websockets.serve(fake_stream, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            opts = StreamOptions(transport="ws", ws_url=f"ws://127.0.0.1:{port}/v1/stream",
                                 realtime=True, chunk_ms=50, timeout_s=20)  # fmt: skip
            return await run_level(LevelPlan(2, 0.0, 0.1), clips, opts)

    records = asyncio.run(go())
    level = aggregate([analyse(r) for r in records])
    assert level.ok_streams == 2, level.errors
    assert level.lost_frames == 0 and level.received_frames == level.expected_frames > 0
    assert level.latency_ms["p50"] < 200
