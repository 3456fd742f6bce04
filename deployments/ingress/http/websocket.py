"""``WS /v1/stream``: one animation stream per WebSocket connection.

Client -> server::

    text   {"sample_rate": 16000, "output": "json"|"binary", "model": ..., <runtime params>}
    binary PCM16 LE mono chunks at sample_rate (any size up to 10 s each)
    text   {"type": "emotions", "emotions": [{"time_code": 0.0, "emotion": {"joy": 1.0}}]}
    text   {"type": "end"}                                       end of audio

Server -> client::

    text   {"type": "start", "model", "fps", "names", "emotion_names", "output"}
    frames text FrameMessage JSON, one per message ("json"), or binary BINARY_FRAME ("binary")
    text   {"type": "end", "frames": N}                          after a successful stream
    text   {"type": "status", "code": "OK"|..., "message": ...}  always last; then close
           (close code 1000 after OK, 4000 + HTTP status otherwise, e.g. 4401, 4429)

The API key comes from the upgrade request's ``Authorization: Bearer`` header, or ``api_key``
in the header message (browsers cannot set headers on a WebSocket).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from a2f_actors.names import A2F_EMOTIONS
from deployments.ingress.http import export
from deployments.ingress.http.schemas import (
    HTTP_STATUS,
    WS_CLOSE_BASE,
    ControlMessage,
    EndMessage,
    StartMessage,
    StatusMessage,
    StreamHeader,
)
from deployments.ingress.service import (
    EmotionKeyframe,
    Frame,
    InputChunk,
    ServiceError,
    StatusCode,
    StreamEnd,
    StreamStart,
    StreamStatus,
)

__all__ = ["WebSocket", "serve_stream"]


def _invalid(exc: ValidationError) -> ServiceError:
    where = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors()
    )
    return ServiceError(StatusCode.INVALID_ARGUMENT, where)


async def _read_header(ws: WebSocket) -> dict[str, Any]:
    """The first message as a service header (raises ServiceError INVALID_ARGUMENT)."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise ServiceError(
            StatusCode.INVALID_ARGUMENT,
            'the first message must be the JSON stream header (text), e.g. {"sample_rate": 16000}',
        )
    try:
        parsed = StreamHeader.model_validate_json(text)
    except ValidationError as exc:
        raise _invalid(exc) from None
    header = parsed.header(parsed.sample_rate)
    key = parsed.api_key
    authorization = ws.headers.get("authorization") or (f"Bearer {key}" if key else None)
    if authorization:
        header["metadata"] = {"authorization": authorization}
    header["output"] = parsed.output
    return header


async def _chunks(ws: WebSocket) -> AsyncIterator[InputChunk]:
    """Binary messages as audio, ``emotions`` messages as keyframes, until ``end``."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise ServiceError(StatusCode.INVALID_ARGUMENT, "client closed before {'type': 'end'}")
        if message.get("bytes") is not None:
            yield InputChunk(message["bytes"])
            continue
        try:
            control = ControlMessage.model_validate_json(message.get("text") or "")
        except ValidationError as exc:
            raise _invalid(exc) from None
        if control.type == "end":
            return
        keys = tuple(EmotionKeyframe(k.time_code, k.emotion) for k in control.emotions)
        yield InputChunk(b"", keys)


async def _send(ws: WebSocket, event: object, output: str) -> None:
    if isinstance(event, Frame):
        if output == "binary":
            await ws.send_bytes(export.frame_binary(event))
        else:
            await ws.send_text(export.frame_json(event))
    elif isinstance(event, StreamStart):
        start = StartMessage(
            model=event.model, fps=event.fps, names=list(event.names),
            emotion_names=list(A2F_EMOTIONS), output=output,  # type: ignore[arg-type]
        )  # fmt: skip
        await ws.send_text(start.model_dump_json())
    elif isinstance(event, StreamEnd):
        await ws.send_text(EndMessage(frames=event.frames).model_dump_json())
    elif isinstance(event, StreamStatus):
        await ws.send_text(StatusMessage(code=event.code, message=event.message).model_dump_json())


async def _finish(ws: WebSocket, status: StreamStatus) -> None:
    code = 1000 if status.code == StatusCode.OK else WS_CLOSE_BASE + HTTP_STATUS[status.code]
    with contextlib.suppress(Exception):  # the client may be gone already
        await ws.close(code=code, reason=status.code.value)


async def serve_stream(service: Any, ws: WebSocket) -> None:
    """Run one WebSocket stream through ``service.run_stream`` (see the module docstring).

    Args:
        service: the replica's stream service (``run_stream(header, chunks)``).
        ws: the connection (not yet accepted).
    """
    await ws.accept()
    try:
        header = await _read_header(ws)
    except ServiceError as exc:
        status = StreamStatus(exc.code, exc.message)
        await _send(ws, status, "json")
        await _finish(ws, status)
        return
    except WebSocketDisconnect:
        return
    output = header.pop("output")
    status = StreamStatus(StatusCode.INTERNAL, "the stream ended without a status")
    try:
        async with aclosing(service.run_stream(header, _chunks(ws))) as events:
            async for event in events:
                await _send(ws, event, output)
                if isinstance(event, StreamStatus):
                    status = event
    except (WebSocketDisconnect, RuntimeError):
        return  # client gone: the service closed the session
    await _finish(ws, status)
