"""The load generator: N concurrent NIM ``ProcessAudioStream`` clients in one asyncio loop.

A client only: it speaks NVIDIA's published gRPC protocol (``nvidia_audio2face_3d`` stubs) to
``host:port`` like NVIDIA's sample client (header, audio chunks, ``end_of_audio``, read to EOF)
and records, per stream, when each chunk was handed to gRPC and when each frame arrived
(:class:`loadtest.accounting.StreamRecord`). Real time: chunk ``k`` leaves at ``t0 + k *
chunk_s`` on an absolute schedule (no drift); burst: as fast as gRPC takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
from nvidia_ace import audio_pb2
from nvidia_audio2face_3d import audio2face_pb2_grpc
from nvidia_audio2face_3d import messages_pb2 as nim

from a2f_actors.audio import decode_wav
from a2f_actors.resample import output_length
from loadtest.accounting import StreamRecord, expected_frames
from loadtest.ws import run_stream_ws

_T = TypeVar("_T")

#: Real speech shipped by Debian's pocketsphinx-testdata (16 kHz, 3-7 s read English).
DEFAULT_CLIP_GLOB = "/usr/share/pocketsphinx/test/data/librivox/*.wav"
_MAX_MESSAGE = 64 * 1024 * 1024


def run_loop(main: Coroutine[Any, Any, _T], use_uvloop: bool = True) -> _T:
    """Run the generator's coroutine to its end, on uvloop when installed.

    The generator shares the host's cores with the cluster it measures, so its own CPU per
    frame is taken from the cluster's. One burst of 32 streams against a fake server (docs/
    loadtest.md): 44 us of generator CPU per frame on asyncio's loop, 35 us on uvloop.
    """
    if use_uvloop:
        try:
            import uvloop
        except ImportError:  # optional: the stock loop works, only slower
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)


@dataclass(frozen=True)
class Clip:
    """One speech clip as PCM16 at its native rate."""

    name: str
    pcm: bytes
    rate: int

    @property
    def samples(self) -> int:
        """Samples at the native rate."""
        return len(self.pcm) // 2

    @property
    def duration_s(self) -> float:
        """Seconds of audio."""
        return self.samples / self.rate

    def expected_frames(self, fps: int) -> int:
        """Frames the server must return (SDK schedule on the resampled length)."""
        return expected_frames(output_length(self.samples, self.rate), fps)


def load_clip(path: str | Path) -> Clip:
    """Decode a WAV file (mono or averaged to mono) into a :class:`Clip`."""
    decoded = decode_wav(Path(path))
    pcm = np.clip(np.round(decoded.samples * 32767), -32768, 32767).astype("<i2").tobytes()
    return Clip(Path(path).name, pcm, decoded.sample_rate)


def find_clips(patterns: Sequence[str] = (DEFAULT_CLIP_GLOB,)) -> list[Clip]:
    """Clips matching glob patterns (files or patterns), sorted by name."""
    paths = sorted({p for pattern in patterns for p in glob.glob(str(pattern))})
    if not paths:
        raise FileNotFoundError(
            f"no WAV clip matches {list(patterns)}; install pocketsphinx-testdata (make sysdeps) "
            f"or pass --clips 'data/corpus/full/clips/*.wav'"
        )
    return [load_clip(p) for p in paths]


@dataclass(frozen=True)
class StreamOptions:
    """How every stream talks to the server.

    Attributes:
        url: ``host:port`` of the NIM gRPC API.
        chunk_ms: audio per message in milliseconds (real time: also the send period).
        realtime: pace chunks at the audio rate; False = burst.
        fps: the service's frame rate (expected counts, frame indices).
        model: model id sent as ``x-a2f-model`` metadata (None = server default).
        tenant: tenant sent as ``x-a2f-tenant`` metadata (None = none).
        api_key: tenant key (``authorization: Bearer`` metadata / WebSocket header).
        timeout_s: deadline of one call.
        transport: ``grpc`` (NIM API at ``url``) or ``ws`` (``WS /v1/stream`` at ``ws_url``).
        ws_url: the WebSocket endpoint of the HTTP ingress.
        streams_per_connection: gRPC slots sharing one HTTP/2 connection (1: every slot is
            an avatar client with a connection of its own; 8: e.g. an application server
            multiplexing 8 avatars over one channel). Ingress replicas sharing the port
            (docs/scale_out.md) balance connections, not streams.
    """

    url: str = "127.0.0.1:52000"
    chunk_ms: float = 40.0
    realtime: bool = True
    fps: int = 30
    model: str | None = None
    tenant: str | None = None
    api_key: str | None = None
    timeout_s: float = 120.0
    transport: str = "grpc"
    ws_url: str = "ws://127.0.0.1:8000/v1/stream"
    streams_per_connection: int = 1

    def __post_init__(self) -> None:
        if self.streams_per_connection < 1:
            raise ValueError(
                f"streams_per_connection={self.streams_per_connection} must be >= 1 "
                f"(1 = a connection per stream)"
            )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata of a call."""
        out = []
        if self.model:
            out.append(("x-a2f-model", self.model))
        if self.tenant:
            out.append(("x-a2f-tenant", self.tenant))
        if self.api_key:
            out.append(("authorization", f"Bearer {self.api_key}"))
        return tuple(out)


@dataclass
class LiveCounters:
    """Shared counters for the progress display."""

    active: int = 0
    started: int = 0
    finished: int = 0
    failed: int = 0
    frames: int = 0
    codes: dict[str, int] = field(default_factory=dict)


def _header(rate: int) -> nim.AudioWithEmotionStream:
    audio = audio_pb2.AudioHeader(
        audio_format=audio_pb2.AudioHeader.AUDIO_FORMAT_PCM,
        channel_count=1,
        samples_per_second=rate,
        bits_per_sample=16,
    )
    header = nim.AudioWithEmotionStreamHeader(audio_header=audio)
    return nim.AudioWithEmotionStream(audio_stream_header=header)


async def _write(call: grpc.aio.StreamStreamCall, clip: Clip, opts: StreamOptions,
                 record: StreamRecord) -> None:  # fmt: skip
    """Send header, chunks (paced or not) and end_of_audio, recording the send times."""
    await call.write(_header(clip.rate))
    step = max(1, int(clip.rate * opts.chunk_ms / 1000.0)) * 2
    chunk_s = opts.chunk_ms / 1000.0
    t0 = time.monotonic()
    for k, lo in enumerate(range(0, len(clip.pcm), step)):
        if opts.realtime:
            await asyncio.sleep(max(0.0, t0 + k * chunk_s - time.monotonic()))
        msg = nim.AudioWithEmotion(audio_buffer=clip.pcm[lo : lo + step])
        await call.write(nim.AudioWithEmotionStream(audio_with_emotion=msg))
        sent_s = min(lo + step, len(clip.pcm)) / 2 / clip.rate
        record.sends.append((sent_s, time.monotonic()))
    if opts.realtime:  # the last chunk's audio lasts until its end
        await asyncio.sleep(max(0.0, t0 + clip.duration_s - time.monotonic()))
    await call.write(
        nim.AudioWithEmotionStream(end_of_audio=nim.AudioWithEmotionStream.EndOfAudio())
    )
    record.end_sent = time.monotonic()
    await call.done_writing()


def _read_reply(reply: nim.A2F3DAnimationDataStream, record: StreamRecord, now: float,
                live: LiveCounters) -> None:  # fmt: skip
    if record.first_response is None:
        record.first_response = now
    part = reply.WhichOneof("stream_part")
    if part == "animation_data":
        for w in reply.animation_data.skel_animation.blend_shape_weights:
            record.frames.append((w.time_code, now))
            live.frames += 1
    elif part == "status":
        from nvidia_ace import status_pb2

        record.nim_status = status_pb2.Status.Code.Name(reply.status.code)
        record.message = reply.status.message


def _new_record(clip: Clip, opts: StreamOptions, stream_id: int) -> StreamRecord:
    return StreamRecord(
        stream_id, clip.name, clip.duration_s, clip.expected_frames(opts.fps), float(opts.fps)
    )


async def run_stream(
    channel: grpc.aio.Channel, clip: Clip, opts: StreamOptions, stream_id: int,
    live: LiveCounters | None = None,
) -> StreamRecord:  # fmt: skip
    """Run one stream to its end and return what it saw (never raises for RPC errors)."""
    live = live or LiveCounters()
    record = _new_record(clip, opts, stream_id)
    stub = audio2face_pb2_grpc.A2FControllerServiceStub(channel)
    record.start = time.monotonic()
    call = stub.ProcessAudioStream(metadata=opts.metadata() or None, timeout=opts.timeout_s)
    writer = asyncio.create_task(_write(call, clip, opts, record))
    try:
        while (reply := await call.read()) is not grpc.aio.EOF:
            _read_reply(reply, record, time.monotonic(), live)
        record.eof = time.monotonic()
        record.code = (await call.code()).name
    except grpc.aio.AioRpcError as exc:
        record.eof = time.monotonic()
        record.code, record.message = exc.code().name, exc.details() or ""
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError, grpc.aio.UsageError):
            await writer
    return record


@dataclass(frozen=True)
class LevelPlan:
    """One load level.

    Attributes:
        streams: concurrent streams.
        duration_s: keep starting new streams on each slot until this many seconds passed;
            0 = every slot runs exactly one stream (burst benchmark).
        stagger_s: spread the slots' first starts over this many seconds.
    """

    streams: int
    duration_s: float = 0.0
    stagger_s: float = 1.0


def _channel(opts: StreamOptions) -> grpc.aio.Channel:
    """A channel with a connection of its own.

    grpc would otherwise share one subchannel across the process; with a connection each,
    ingress replicas sharing the port each get a share of them.
    """
    options = [
        ("grpc.max_receive_message_length", _MAX_MESSAGE),
        ("grpc.use_local_subchannel_pool", 1),
    ]
    return grpc.aio.insecure_channel(opts.url, options=options)


async def _slot(slot: int, plan: LevelPlan, clips: Sequence[Clip], opts: StreamOptions,
                live: LiveCounters, deadline: float, out: list[StreamRecord],
                channel: grpc.aio.Channel | None) -> None:  # fmt: skip
    await asyncio.sleep(plan.stagger_s * slot / max(1, plan.streams))
    k = 0
    while True:
        clip = clips[(slot + k) % len(clips)]
        live.active += 1
        live.started += 1
        if channel is None:  # WebSocket transport
            record = await run_stream_ws(
                clip, opts, _new_record(clip, opts, slot * 100000 + k), live
            )
        else:
            record = await run_stream(channel, clip, opts, slot * 100000 + k, live)
        live.active -= 1
        live.finished += 1
        if record.code != "OK":
            live.failed += 1
            live.codes[record.code] = live.codes.get(record.code, 0) + 1
        out.append(record)
        k += 1
        if plan.duration_s <= 0 or time.monotonic() >= deadline:
            return


async def run_level(
    plan: LevelPlan, clips: Sequence[Clip], opts: StreamOptions,
    live: LiveCounters | None = None, on_tick: Callable[[LiveCounters], None] | None = None,
) -> list[StreamRecord]:  # fmt: skip
    """Run ``plan.streams`` concurrent slots; return every stream's record.

    Args:
        plan: concurrency and duration.
        clips: the speech clips (slot ``i`` starts with clip ``i``, then cycles).
        opts: stream options.
        live: counters shared with a progress display.
        on_tick: called about once per second with the counters while the level runs.
    """
    if not clips:
        raise ValueError("run_level needs at least one clip")
    live = live or LiveCounters()
    out: list[StreamRecord] = []
    deadline = time.monotonic() + plan.duration_s
    # one channel (HTTP/2 connection) per streams_per_connection slots; grpc connects it at
    # its first call, so a slot staggered later still opens its connection later
    per = opts.streams_per_connection
    channels = (
        [_channel(opts) for _ in range(0, plan.streams, per)] if opts.transport == "grpc" else []
    )
    try:
        tasks = [
            asyncio.create_task(
                _slot(
                    i,
                    plan,
                    clips,
                    opts,
                    live,
                    deadline,
                    out,
                    channels[i // per] if channels else None,
                )
            )
            for i in range(plan.streams)
        ]
        pending = set(tasks)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=1.0)
            if on_tick is not None:
                on_tick(live)
        for task in tasks:
            task.result()
    finally:
        for channel in channels:
            await channel.close()
    return sorted(out, key=lambda r: r.stream_id)
