"""The WebSocket transport of the generator: ``WS /v1/stream`` of the HTTP ingress.

Protocol (docs/http_api.md): text header ``{"sample_rate", "output": "binary", "model",
"api_key"}``, binary PCM16 chunks, text ``{"type": "end"}``; the server answers ``start``, one
324-byte binary message per frame (``<Id68f10f``: index, time code, weights, emotion), ``end``
and a final ``status``, then closes. Records are the same as over gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from typing import Any

from loadtest.accounting import StreamRecord

BINARY_FRAME = struct.Struct("<Id")  # the frame's index and time code lead each binary frame


def _header(rate: int, opts: Any) -> str:
    header: dict[str, Any] = {"sample_rate": rate, "output": "binary"}
    if opts.model:
        header["model"] = opts.model
    if opts.api_key:
        header["api_key"] = opts.api_key
    return json.dumps(header)


async def _write(ws: Any, clip: Any, opts: Any, record: StreamRecord) -> None:
    await ws.send(_header(clip.rate, opts))
    step = max(1, int(clip.rate * opts.chunk_ms / 1000.0)) * 2
    chunk_s = opts.chunk_ms / 1000.0
    t0 = time.monotonic()
    for k, lo in enumerate(range(0, len(clip.pcm), step)):
        if opts.realtime:
            await asyncio.sleep(max(0.0, t0 + k * chunk_s - time.monotonic()))
        await ws.send(clip.pcm[lo : lo + step])
        record.sends.append((min(lo + step, len(clip.pcm)) / 2 / clip.rate, time.monotonic()))
    if opts.realtime:
        await asyncio.sleep(max(0.0, t0 + clip.duration_s - time.monotonic()))
    await ws.send(json.dumps({"type": "end"}))
    record.end_sent = time.monotonic()


def _on_message(message: str | bytes, record: StreamRecord, live: Any) -> None:
    now = time.monotonic()
    if record.first_response is None:
        record.first_response = now
    if isinstance(message, bytes):
        _, time_code = BINARY_FRAME.unpack_from(message)
        record.frames.append((time_code, now))
        live.frames += 1
        return
    data = json.loads(message)
    if data.get("type") == "frame":
        record.frames.append((float(data["time_code"]), now))
        live.frames += 1
    elif data.get("type") == "status":
        record.code = str(data.get("code", "UNKNOWN"))
        record.message = str(data.get("message", ""))


async def run_stream_ws(clip: Any, opts: Any, record: StreamRecord, live: Any) -> StreamRecord:
    """Run one stream over the WebSocket; fills ``record`` (never raises for stream errors)."""
    import websockets

    headers = {"Authorization": f"Bearer {opts.api_key}"} if opts.api_key else None
    record.start = time.monotonic()
    try:
        async with asyncio.timeout(opts.timeout_s):
            async with websockets.connect(
                opts.ws_url, additional_headers=headers, max_size=None
            ) as ws:
                writer = asyncio.create_task(_write(ws, clip, opts, record))
                try:
                    async for message in ws:
                        _on_message(message, record, live)
                finally:
                    writer.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await writer
    except TimeoutError:
        record.code, record.message = "DEADLINE_EXCEEDED", f"no end after {opts.timeout_s} s"
    except (OSError, websockets.exceptions.WebSocketException) as exc:
        if record.code == "OK":
            record.code, record.message = "UNAVAILABLE", str(exc)
    record.eof = time.monotonic()
    return record
