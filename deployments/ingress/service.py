"""The transport-neutral stream service: every ingress (gRPC, HTTP, WebSocket) calls this.

Contract (stable; transports code against it)::

    # once per ingress replica (inside its event loop):
    manager = SessionManager(pipeline, catalog, limits, TickOptions(...))  # session.ticker
    service = StreamService(manager, ServiceOptions(...))
    #   or: service = deployments.ingress.grpc.server.service_from_settings(settings, config,
    #                                                                      HandlePipeline(...))
    # once per client stream:
    async for event in service.run_stream(header, chunks):
        ...  # StreamStart, Frame..., StreamEnd, StreamStatus

``header`` is a plain dict, the NIM ``AudioStreamHeader`` converted with
``preserving_proto_field_name=True`` plus two optional keys of ours:

* ``audio_header``: ``{"samples_per_second": int, "channel_count": 1, "bits_per_sample": 16,
  "audio_format": 0 | "AUDIO_FORMAT_PCM"}`` (required),
* ``face_params`` / ``blendshape_params`` / ``emotion_post_processing_params`` /
  ``emotion_params``: runtime parameters (:func:`a2f_actors.config.apply_runtime`),
* ``model``: model id (default: the deployment's stylization model); unknown -> NOT_FOUND,
* ``tenant``: opaque tenant id, passed to the ``authorize`` hook (see :class:`StreamService`).

``chunks`` is any async iterator of :class:`InputChunk` (PCM16 LE mono bytes at the header's
rate, optional timecoded emotion keyframes); it ends at end of audio. Events, in order:

1. :class:`StreamStart`: the 68 blendshape names, the returned audio's format (16 kHz mono
   PCM16), the frame rate and the start time (seconds since the epoch);
2. :class:`Frame` (zero or more): one animation frame (:class:`~a2f_actors.framing.
   BlendshapeFrame` with time code, 68 weights, jaw, eyes, emotion), the 16 kHz PCM16 slice of
   the input audio it covers, and the input emotion keyframes that arrived since the last frame;
   frames come exactly once, in order, time codes increasing;
3. :class:`StreamEnd`: all audio was processed (NIM ``END_OF_A2F_AUDIO_PROCESSING``); only
   after a successful stream;
4. :class:`StreamStatus`: always last; ``code`` is ``StatusCode.OK`` or the failure's code.

``run_stream`` never raises for stream errors: a bad header yields just a ``StreamStatus``
(INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED, RESOURCE_EXHAUSTED); a failure mid-stream yields
the frames made so far, then the status (INVALID_ARGUMENT bad audio, RESOURCE_EXHAUSTED clip too
long, DEADLINE_EXCEEDED idle / too slow / too long, UNAVAILABLE a stage kept failing, INTERNAL).
Cancelling the iteration (client gone) closes the session.

Errors raised by hooks and checks are :class:`ServiceError` (a code and a message).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from a2f_actors.framing import BlendshapeFrame
from a2f_actors.names import A2F_EMOTIONS, BLENDSHAPES
from deployments import observability as obs  # issue #8: metrics + tracing hooks
from deployments.session.errors import ServiceError, StatusCode

__all__ = [
    "OUTPUT_SAMPLE_RATE_HZ",
    "EmotionKeyframe",
    "Frame",
    "InputChunk",
    "ServiceError",
    "StatusCode",
    "StreamEnd",
    "StreamEvent",
    "StreamService",
    "StreamStart",
    "StreamStatus",
]

#: The returned audio is the resampled input: 16 kHz mono PCM16.
OUTPUT_SAMPLE_RATE_HZ = 16000


@dataclass(frozen=True)
class EmotionKeyframe:
    """One NIM ``EmotionWithTimeCode``: emotion values at a time (seconds from clip start).

    Attributes:
        time_code_s: seconds from the start of the clip.
        values: emotion name (``A2F_EMOTIONS``) -> value in [0, 1]; missing names are 0.
    """

    time_code_s: float
    values: Mapping[str, float]

    def vector(self) -> np.ndarray:
        """``[10]`` float32 in ``A2F_EMOTIONS`` order (raises ServiceError on a bad name)."""
        unknown = set(self.values) - set(A2F_EMOTIONS)
        if unknown:
            raise ServiceError(
                StatusCode.INVALID_ARGUMENT,
                f"emotions: unknown emotion(s) {sorted(unknown)}; use {list(A2F_EMOTIONS)}",
            )
        return np.array([float(self.values.get(n, 0.0)) for n in A2F_EMOTIONS], np.float32)


@dataclass(frozen=True)
class InputChunk:
    """One client message of audio.

    Attributes:
        audio: PCM16 little-endian mono bytes at the header's sample rate (may be empty).
        emotions: timecoded emotion keyframes sent with this chunk.
    """

    audio: bytes = b""
    emotions: tuple[EmotionKeyframe, ...] = ()


@dataclass(frozen=True)
class StreamStart:
    """First event: what the frames will carry.

    Attributes:
        names: the 68 blendshape names, in weight order.
        sample_rate: sample rate of the returned audio slices (16000).
        channel_count: 1.
        bits_per_sample: 16.
        fps: animation frames per second.
        start_time_s: wall-clock start, seconds since the epoch.
        model: the model id serving the stream.
    """

    names: tuple[str, ...] = BLENDSHAPES
    sample_rate: int = OUTPUT_SAMPLE_RATE_HZ
    channel_count: int = 1
    bits_per_sample: int = 16
    fps: float = 30.0
    start_time_s: float = 0.0
    model: str = ""


@dataclass(frozen=True)
class Frame:
    """One animation frame.

    Attributes:
        frame: the frame (index, time code, 68 weights, jaw, eyes, applied emotion).
        audio: PCM16 LE bytes at 16 kHz of the input audio this frame covers.
        input_emotions: the client's emotion keyframes received since the previous frame.
    """

    frame: BlendshapeFrame
    audio: bytes = b""
    input_emotions: tuple[EmotionKeyframe, ...] = ()


@dataclass(frozen=True)
class StreamEnd:
    """All audio was processed (NIM ``END_OF_A2F_AUDIO_PROCESSING``)."""

    frames: int = 0


@dataclass(frozen=True)
class StreamStatus:
    """Last event of every stream."""

    code: StatusCode = StatusCode.OK
    message: str = "success"


StreamEvent = StreamStart | Frame | StreamEnd | StreamStatus
Authorize = Callable[[Mapping[str, Any]], None]


@dataclass
class ServiceOptions:
    """Per-replica service behaviour (from the advanced config and the serve settings).

    Attributes:
        burst_mode: send frames as soon as they are made (else paced).
        streaming_fps: pace in frames/s when not in burst mode (advanced
            ``pipeline_parameters.blendshape_streaming_fps``).
        idle_timeout_s: cut a stream after this long without client data.
        max_processing_s: cut a stream processed longer than this.
        low_fps: client audio rate (frames/s) below which a stream is slow (0 = off).
        low_fps_max_s: how long a stream may stay slow.
        authorize: hook called with the header before a session opens; raises ServiceError.
    """

    burst_mode: bool = True
    streaming_fps: float = 90.0
    idle_timeout_s: float = 30.0
    max_processing_s: float = 300.0
    low_fps: float = 29.0
    low_fps_max_s: float = 7.0
    authorize: Authorize | None = field(default=None, repr=False)


class StreamService:
    """Runs client streams as sessions of one :class:`~deployments.session.ticker.Ticker`.

    Args:
        manager: the replica's session manager (sessions, ticks, stage calls).
        options: pacing, timeouts and hooks.
    """

    def __init__(self, manager: Any, options: ServiceOptions | None = None) -> None:
        self.manager = manager
        self.options = options or ServiceOptions()

    async def run_stream(
        self, header: Mapping[str, Any], chunks: AsyncIterator[InputChunk]
    ) -> AsyncIterator[StreamEvent]:
        """Animate one stream; see the module docstring for the event order.

        Args:
            header: the stream header (dict, see the module docstring).
            chunks: the client's audio chunks, ending at end of audio.

        Yields:
            StreamStart, Frame..., StreamEnd, then StreamStatus (always last).
        """
        try:
            if self.options.authorize is not None:
                self.options.authorize(header)
            session = self.manager.open(header)
        except ServiceError as exc:
            obs.stream_rejected(exc.code)  # observability hook (issue #8)
            yield StreamStatus(exc.code, exc.message)
            return
        meter = obs.stream_opened(header, session)  # observability hook (issue #8)
        reader = asyncio.create_task(self._read(session, chunks, meter))
        try:
            yield StreamStart(fps=session.fps, start_time_s=time.time(), model=session.model_id)
            async for event in self._frames(session):
                started = meter.emitting(event)  # observability hook (issue #8)
                yield event
                meter.emitted(event, started)  # observability hook (issue #8)
        finally:
            meter.finish("CANCELLED")  # no-op when the status was emitted (issue #8)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self.manager.close(session)

    async def _frames(self, session: Any) -> AsyncIterator[StreamEvent]:
        """Frames from the session's outbox, paced or in bursts, then End and Status."""
        from deployments.session.pacing import Pacer

        pacer = Pacer(None if self.options.burst_mode else self.options.streaming_fps)
        deadline = time.monotonic() + self.options.max_processing_s
        count = 0
        while True:
            frames, done = await session.wait_output(
                timeout_s=max(0.0, deadline - time.monotonic())
            )
            for out in frames:
                delay = pacer.delay(time.monotonic())
                if delay > 0:
                    await asyncio.sleep(delay)
                count += 1
                yield Frame(out.frame, out.audio, out.input_emotions)
            if done:
                break
            if time.monotonic() >= deadline:
                session.fail(
                    StatusCode.DEADLINE_EXCEEDED,
                    f"stream processed for more than max_processing_duration_second="
                    f"{self.options.max_processing_s:g}; send shorter clips",
                )
        if session.error is None:
            yield StreamEnd(count)
            yield StreamStatus()
        else:
            yield StreamStatus(session.error.code, session.error.message)

    async def _read(
        self, session: Any, chunks: AsyncIterator[InputChunk], meter: Any = None
    ) -> None:
        """Feed the session from the client, enforcing the idle and low-rate limits."""
        from deployments.session.pacing import InputRateMonitor

        opts = self.options
        monitor = InputRateMonitor(session.fps, opts.low_fps, opts.low_fps_max_s)
        iterator = chunks.__aiter__()
        loop = asyncio.get_running_loop()
        try:
            # one deadline moved per chunk: asyncio.wait_for would make a task per chunk
            async with asyncio.timeout(None) as idle:
                await self._read_chunks(session, iterator, idle, loop, monitor, meter)
        except TimeoutError:
            session.fail(
                StatusCode.DEADLINE_EXCEEDED,
                f"no data from the client for {opts.idle_timeout_s:g} s "
                f"(max_wait_time_idle_ms); send audio or end_of_audio",
            )
        except ServiceError as exc:
            session.fail(exc.code, exc.message)
        except Exception as exc:  # the transport broke: end the stream with a status
            session.fail(StatusCode.INTERNAL, f"reading the client stream failed: {exc}")

    async def _read_chunks(
        self,
        session: Any,
        iterator: AsyncIterator[InputChunk],
        idle: asyncio.Timeout,
        loop: asyncio.AbstractEventLoop,
        monitor: Any,
        meter: Any,
    ) -> None:
        idle_s = self.options.idle_timeout_s
        while True:
            idle.reschedule(loop.time() + idle_s)
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                session.end_of_audio()
                if meter is not None:  # observability hook (issue #8)
                    meter.audio_closed()
                return
            session.push(chunk)  # synchronous: the deadline cannot pass in here
            if meter is not None:  # observability hook (issue #8)
                meter.audio(session.input_seconds)
            monitor.check(session.input_seconds, time.monotonic())
