"""A fake NIM ``ProcessAudioStream`` server (grpc.aio, in-process) with injectable faults.

It emits regression frames on the SDK schedule: frame ``i`` (time ``i / fps``) as soon as the
audio up to ``i / fps + 0.26 s`` has arrived, the rest at ``end_of_audio``; one frame per
``animation_data`` message, then ``status`` SUCCESS, like the real service.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import grpc
from nvidia_ace import animation_pb2, audio_pb2, status_pb2
from nvidia_audio2face_3d import audio2face_pb2_grpc
from nvidia_audio2face_3d import messages_pb2 as nim

from loadtest.accounting import REGRESSION_LOOKAHEAD_S, expected_frames


@dataclass
class Faults:
    """What the fake does wrong: dropped / duplicated frame indices, delay, abort."""

    drop: set[int] = field(default_factory=set)
    duplicate: set[int] = field(default_factory=set)
    delay_s: float = 0.0
    abort_after: int | None = None
    abort_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE


class FakeA2F(audio2face_pb2_grpc.A2FControllerServiceServicer):
    """The fake servicer."""

    def __init__(self, faults: Faults | None = None, fps: int = 30) -> None:
        self.faults = faults or Faults()
        self.fps = fps
        self.frames_sent = 0
        self.peers: set[str] = set()  # client address:port of each connection seen

    def _frame(self, i: int) -> nim.A2F3DAnimationDataStream:
        w = animation_pb2.FloatArrayWithTimeCode(time_code=i / self.fps, values=[0.0] * 68)
        skel = animation_pb2.SkelAnimation(blend_shape_weights=[w])
        data = animation_pb2.AnimationData(skel_animation=skel)
        return nim.A2F3DAnimationDataStream(animation_data=data)

    async def _emit(self, i: int, context) -> list:
        if self.faults.abort_after is not None and i >= self.faults.abort_after:
            await context.abort(self.faults.abort_code, "fake failure")
        if i in self.faults.drop:
            return []
        if self.faults.delay_s:
            await asyncio.sleep(self.faults.delay_s)
        out = [self._frame(i)] * (2 if i in self.faults.duplicate else 1)
        self.frames_sent += len(out)
        return out

    async def ProcessAudioStream(self, request_iterator, context):
        self.peers.add(context.peer())
        rate, samples, nxt = 16000, 0, 0
        header = nim.A2F3DAnimationDataStreamHeader(
            audio_header=audio_pb2.AudioHeader(samples_per_second=16000, channel_count=1,
                                               bits_per_sample=16),
        )  # fmt: skip
        async for msg in request_iterator:
            part = msg.WhichOneof("stream_part")
            if part == "audio_stream_header":
                rate = msg.audio_stream_header.audio_header.samples_per_second
                yield nim.A2F3DAnimationDataStream(animation_data_stream_header=header)
            elif part == "audio_with_emotion":
                samples += len(msg.audio_with_emotion.audio_buffer) // 2
                ready = math.floor((samples / rate - REGRESSION_LOOKAHEAD_S) * self.fps + 1e-9)
                while nxt <= ready:
                    for reply in await self._emit(nxt, context):
                        yield reply
                    nxt += 1
            else:
                break
        total = expected_frames(samples * 16000 // rate, self.fps)
        while nxt < total:
            for reply in await self._emit(nxt, context):
                yield reply
            nxt += 1
        status = status_pb2.Status(code=status_pb2.Status.SUCCESS, message="ok")
        yield nim.A2F3DAnimationDataStream(status=status)


async def start(servicer: FakeA2F) -> tuple[grpc.aio.Server, str]:
    """Serve ``servicer`` on a free 127.0.0.1 port; returns the server and its URL."""
    server = grpc.aio.server()
    audio2face_pb2_grpc.add_A2FControllerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"
