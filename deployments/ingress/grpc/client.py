"""A NIM-protocol client on NVIDIA's published stubs (``a2f animate``, tests, load generation).

It behaves like NVIDIA's sample ``a2f_3d.py``: header first, audio in chunks (1 s by default),
all emotion keyframes on the first chunk, ``end_of_audio``, then it reads until the server
closes the call. Results are collected as arrays; :func:`write_csv` writes the sample client's
``animation_frames.csv`` layout (``timeCode, blendShapes.<Name>...``).
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from nvidia_ace import audio_pb2
from nvidia_audio2face_3d import audio2face_pb2_grpc
from nvidia_audio2face_3d import messages_pb2 as nim

from a2f_actors.names import A2F_EMOTIONS


@dataclass
class StreamResult:
    """Everything one stream returned.

    Attributes:
        names: blendshape names from the header.
        sample_rate: returned audio rate from the header.
        time_codes: ``[F]`` frame time codes.
        weights: ``[F, len(names)]`` weights.
        audio: returned PCM16 bytes, concatenated.
        emotions: ``[F, 10]`` applied emotions (``a2f_smoothed_output``), NaN when absent.
        input_emotions: time codes of the input keyframes echoed back.
        type_urls: the EmotionAggregate ``Any`` type URLs seen.
        end_event: the END_OF_A2F_AUDIO_PROCESSING event arrived.
        status: ``(code name, message)`` of the status message, or None.
        grpc_code: the call's final gRPC status code.
        order: the reply kinds in arrival order (compressed: runs of frames counted once).
    """

    names: list[str] = field(default_factory=list)
    sample_rate: int = 0
    time_codes: list[float] = field(default_factory=list)
    weights: list[list[float]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    emotions: list[list[float]] = field(default_factory=list)
    input_emotions: list[float] = field(default_factory=list)
    type_urls: set[str] = field(default_factory=set)
    end_event: bool = False
    status: tuple[str, str] | None = None
    grpc_code: grpc.StatusCode = grpc.StatusCode.OK
    order: list[str] = field(default_factory=list)


def _header(rate: int, params: Mapping[str, Any] | None) -> nim.AudioWithEmotionStream:
    header = nim.AudioWithEmotionStreamHeader(
        audio_header=audio_pb2.AudioHeader(
            audio_format=audio_pb2.AudioHeader.AUDIO_FORMAT_PCM,
            channel_count=1,
            samples_per_second=rate,
            bits_per_sample=16,
        )
    )
    p = params or {}
    for key, value in (p.get("face_params") or {}).items():
        header.face_params.float_params[key] = float(value)
    bs = p.get("blendshape_params") or {}
    for key, value in (bs.get("bs_weight_multipliers") or {}).items():
        header.blendshape_params.bs_weight_multipliers[key] = float(value)
    for key, value in (bs.get("bs_weight_offsets") or {}).items():
        header.blendshape_params.bs_weight_offsets[key] = float(value)
    if "enable_clamping_bs_weight" in bs:
        header.blendshape_params.enable_clamping_bs_weight = bool(bs["enable_clamping_bs_weight"])
    return nim.AudioWithEmotionStream(audio_stream_header=header)


async def _requests(
    pcm: bytes, rate: int, params: Mapping[str, Any] | None, chunk_s: float,
    emotions: Sequence[tuple[float, Mapping[str, float]]], delay_s: float,
) -> AsyncIterator[nim.AudioWithEmotionStream]:  # fmt: skip
    yield _header(rate, params)
    step = max(2, int(rate * chunk_s) * 2)
    keys = [nim.EmotionWithTimeCode(time_code=t, emotion=dict(e)) for t, e in emotions]
    for i, lo in enumerate(range(0, len(pcm), step)):
        msg = nim.AudioWithEmotion(
            audio_buffer=pcm[lo : lo + step], emotions=keys if i == 0 else []
        )
        yield nim.AudioWithEmotionStream(audio_with_emotion=msg)
        if delay_s:
            await asyncio.sleep(delay_s)
    yield nim.AudioWithEmotionStream(end_of_audio=nim.AudioWithEmotionStream.EndOfAudio())


def _record(result: StreamResult, reply: nim.A2F3DAnimationDataStream) -> None:
    part = reply.WhichOneof("stream_part")
    if not result.order or result.order[-1] != part or part != "animation_data":
        result.order.append(part or "")
    if part == "animation_data_stream_header":
        h = reply.animation_data_stream_header
        result.names = list(h.skel_animation_header.blend_shapes)
        result.sample_rate = h.audio_header.samples_per_second
    elif part == "animation_data":
        data = reply.animation_data
        for w in data.skel_animation.blend_shape_weights:
            result.time_codes.append(w.time_code)
            result.weights.append(list(w.values))
        result.audio += data.audio.audio_buffer
        packed = data.metadata["emotion_aggregate"]
        result.type_urls.add(packed.type_url)
        agg = nim.EmotionAggregate.FromString(packed.value)  # same bytes in both families
        smoothed = [[e.emotion.get(n, 0.0) for n in A2F_EMOTIONS] for e in agg.a2f_smoothed_output]
        result.emotions.append(smoothed[0] if smoothed else [float("nan")] * 10)
        result.input_emotions += [e.time_code for e in agg.input_emotions]
    elif part == "event":
        result.end_event = True
    elif part == "status":
        result.status = (nim_status_name(reply.status.code), reply.status.message)


def nim_status_name(code: int) -> str:
    """SUCCESS / INFO / WARNING / ERROR."""
    from nvidia_ace import status_pb2

    return status_pb2.Status.Code.Name(code)


async def animate(
    url: str,
    pcm: bytes,
    rate: int,
    *,
    params: Mapping[str, Any] | None = None,
    emotions: Sequence[tuple[float, Mapping[str, float]]] = (),
    chunk_s: float = 1.0,
    delay_s: float = 0.0,
    metadata: Sequence[tuple[str, str]] = (),
    timeout_s: float = 120.0,
) -> StreamResult:
    """Run one ProcessAudioStream call and collect the replies.

    Args:
        url: ``host:port`` of the server.
        pcm: PCM16 LE mono bytes.
        rate: their sample rate.
        params: header runtime parameters (``face_params`` camelCase, ``blendshape_params``).
        emotions: ``(time_code_s, {emotion: value})`` keyframes sent with the first chunk.
        chunk_s: seconds of audio per message.
        delay_s: pause between messages (0 = as fast as possible).
        metadata: gRPC metadata (e.g. ``("x-a2f-model", "mark_v2.3")``).
        timeout_s: call deadline.
    """
    result = StreamResult()
    # one call = one client: its own connection (not grpc's process-wide shared subchannel),
    # so calls spread over ingress replicas that share the port like separate avatars do
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(url, options=options) as channel:
        stub = audio2face_pb2_grpc.A2FControllerServiceStub(channel)
        call = stub.ProcessAudioStream(
            _requests(pcm, rate, params, chunk_s, emotions, delay_s),
            metadata=tuple(metadata) or None,
            timeout=timeout_s,
        )
        try:
            async for reply in call:
                _record(result, reply)
        except grpc.aio.AioRpcError as exc:
            result.grpc_code = exc.code()
            result.order.append(f"rpc-error: {exc.details()}")
            return result
        result.grpc_code = await call.code()
    return result


def write_csv(result: StreamResult, path: Path) -> Path:
    """Write ``timeCode, blendShapes.<Name>...`` rows (NVIDIA sample client layout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["timeCode", *[f"blendShapes.{n}" for n in result.names]])
        for tc, w in zip(result.time_codes, result.weights, strict=True):
            out.writerow([repr(float(tc)), *(repr(float(v)) for v in np.asarray(w, np.float32))])
    return path
