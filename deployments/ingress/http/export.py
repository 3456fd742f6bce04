"""Audio uploads in, animations out: PCM/WAV decoding, collecting a stream, CSV, frame encodings.

The CSV is the layout NVIDIA's sample client writes to ``animation_frames.csv``
(a2f_reference.md 4.1): a ``timeCode`` column then one ``blendShapes.<Name>`` column per
blendshape, one row per frame, floats as Python ``repr`` (round-trip exact).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from a2f_actors.audio import PCM16_SCALE, AudioLimits, decode_wav
from a2f_actors.errors import A2FError
from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES
from deployments.ingress.http.schemas import BINARY_FRAME, Animation, FrameMessage
from deployments.ingress.service import (
    EmotionKeyframe,
    Frame,
    InputChunk,
    ServiceError,
    StatusCode,
    StreamStart,
    StreamStatus,
)

#: Seconds of audio per chunk fed to the service from an upload.
UPLOAD_CHUNK_S = 1.0
_NAN_EMOTION = (math.nan,) * len(A2F_EMOTIONS)


def upload_pcm(body: bytes, sample_rate: int | None, limits: AudioLimits) -> tuple[bytes, int]:
    """PCM16 mono bytes and their rate from an upload (a WAV file, or raw PCM16 LE mono).

    Args:
        body: the request body.
        sample_rate: the rate of raw PCM (ignored for WAV, which carries its own).
        limits: input sanitization limits (WAV rate and length).

    Raises:
        ServiceError: INVALID_ARGUMENT for an unreadable WAV, or raw PCM without a rate.
    """
    if body[:4] == b"RIFF":
        try:
            decoded = decode_wav(body, limits=limits)
        except A2FError as exc:
            raise ServiceError(StatusCode.INVALID_ARGUMENT, f"WAV upload: {exc}") from None
        pcm = np.clip(np.round(decoded.samples * PCM16_SCALE), -32768, 32767).astype("<i2")
        return pcm.tobytes(), decoded.sample_rate
    if not sample_rate:
        raise ServiceError(
            StatusCode.INVALID_ARGUMENT,
            "the body is not a WAV file; for raw PCM16 mono send ?sample_rate=<Hz>",
        )
    return body, int(sample_rate)


async def upload_chunks(
    pcm: bytes, rate: int, emotions: tuple[EmotionKeyframe, ...] = ()
) -> AsyncIterator[InputChunk]:
    """An upload as service chunks of :data:`UPLOAD_CHUNK_S` (keyframes on the first)."""
    step = max(2, int(rate * UPLOAD_CHUNK_S) * 2)
    for i, lo in enumerate(range(0, max(len(pcm), 1), step)):
        yield InputChunk(pcm[lo : lo + step], emotions if i == 0 else ())


@dataclass
class Collected:
    """A whole stream's output.

    Attributes:
        start: the StreamStart event (None when refused before it).
        frames: the frames, in order.
        status: the final status.
    """

    start: StreamStart | None = None
    frames: list[Frame] = field(default_factory=list)
    status: StreamStatus = field(default_factory=StreamStatus)


async def collect(events: AsyncIterator[object]) -> Collected:
    """Gather a stream's events (see :mod:`deployments.ingress.service`)."""
    out = Collected()
    async for event in events:
        if isinstance(event, StreamStart):
            out.start = event
        elif isinstance(event, Frame):
            out.frames.append(event)
        elif isinstance(event, StreamStatus):
            out.status = event
    return out


def animation(result: Collected) -> Animation:
    """The JSON body of a successful animation."""
    start = result.start or StreamStart()
    has_emotion = any(f.frame.emotion is not None for f in result.frames)
    return Animation(
        model=start.model,
        fps=start.fps,
        names=list(start.names),
        time_codes=[f.frame.time_code_s for f in result.frames],
        weights=[f.frame.weights.tolist() for f in result.frames],
        emotion_names=list(A2F_EMOTIONS),
        emotions=[_emotion(f) for f in result.frames] if has_emotion else None,
    )


def _emotion(event: Frame) -> list[float]:
    emotion = event.frame.emotion
    return list(_NAN_EMOTION) if emotion is None else emotion.tolist()


def csv_text(result: Collected) -> str:
    """NVIDIA's sample-client CSV: ``timeCode, blendShapes.<Name>...``, one row per frame."""
    names = result.start.names if result.start else BLENDSHAPES
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["timeCode", *[f"blendShapes.{n}" for n in names]])
    for event in result.frames:
        f = event.frame
        writer.writerow([repr(f.time_code_s), *(repr(float(v)) for v in f.weights)])
    return buf.getvalue()


def frame_json(event: Frame) -> str:
    """One frame as a :class:`FrameMessage` JSON text."""
    f = event.frame
    message = FrameMessage(
        index=f.frame_index,
        time_code=f.time_code_s,
        weights=f.weights.tolist(),
        emotion=None if f.emotion is None else f.emotion.tolist(),
    )
    return message.model_dump_json()


def frame_binary(event: Frame) -> bytes:
    """One frame in the :data:`~deployments.ingress.http.schemas.BINARY_FRAME` layout."""
    f = event.frame
    emotion = _NAN_EMOTION if f.emotion is None else f.emotion.tolist()
    return BINARY_FRAME.pack(f.frame_index, f.time_code_s, *f.weights.tolist(), *emotion)


def unpack_binary_frame(data: bytes) -> tuple[int, float, np.ndarray, np.ndarray]:
    """Inverse of :func:`frame_binary`: ``(index, time_code, [68] weights, [10] emotion)``."""
    values = BINARY_FRAME.unpack(data)
    n = len(BLENDSHAPES)
    weights = np.asarray(values[2 : 2 + n], np.float32)
    return int(values[0]), float(values[1]), weights, np.asarray(values[2 + n :], np.float32)
