"""The NIM services: ``A2FControllerService/ProcessAudioStream`` and ``A2XExportConfigService``.

``ProcessAudioStream``: the first client message must be ``audio_stream_header``; then any
number of ``audio_with_emotion``; then ``end_of_audio``. Replies follow
:mod:`deployments.ingress.grpc.convert`. A failed stream gets a ``status`` ERROR message (whose
text starts with the canonical code) and then the call ends with the matching gRPC status code,
so NVIDIA's client prints the message and generic clients see the code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
import yaml
from nvidia_audio2face_3d import a2x_export_config_pb2 as cfg_pb2
from nvidia_audio2face_3d import a2x_export_config_pb2_grpc as cfg_grpc
from nvidia_audio2face_3d import audio2face_pb2_grpc
from nvidia_audio2face_3d import messages_pb2 as nim

from deployments.ingress.grpc import convert, wire
from deployments.ingress.service import (
    Frame,
    InputChunk,
    ServiceError,
    StatusCode,
    StreamEnd,
    StreamService,
    StreamStart,
    StreamStatus,
)

GRPC_CODES: dict[StatusCode, grpc.StatusCode] = {
    StatusCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    StatusCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    StatusCode.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    StatusCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    StatusCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    StatusCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    StatusCode.INTERNAL: grpc.StatusCode.INTERNAL,
}
#: The NIM controller service's full name (as in NVIDIA's generated stubs).
SERVICE = "nvidia_ace.services.a2f_controller.v1.A2FControllerService"
#: gRPC metadata keys copied into the service header.
MODEL_KEY = "x-a2f-model"
#: Seconds spent reading the rest of a failed stream's requests (see :func:`_drain`).
DRAIN_S = 2.0


async def _chunks(requests: AsyncIterator[nim.AudioWithEmotionStream]) -> AsyncIterator[InputChunk]:
    """Audio messages until ``end_of_audio`` (or the client half-closes)."""
    async for msg in requests:
        part = msg.WhichOneof("stream_part")
        if part == "audio_with_emotion":
            yield convert.chunk_from_message(msg.audio_with_emotion)
        elif part == "end_of_audio":
            return
        else:
            raise ServiceError(
                StatusCode.INVALID_ARGUMENT,
                f"unexpected {part or 'empty'} message after the header; send "
                f"audio_with_emotion messages then end_of_audio",
            )


async def _drain(requests: AsyncIterator[Any], timeout_s: float = DRAIN_S) -> None:
    """Read what the client still sends before ending the call with an error.

    grpc.aio clients report INTERNAL instead of the server's status when a write of theirs
    fails after the server ended the call (grpc/grpc#36066), so give them time to finish.
    """
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout_s):
            async for msg in requests:
                if msg.WhichOneof("stream_part") == "end_of_audio":
                    return


def _frame_bytes(encoder: wire.FrameEncoder, event: Frame) -> bytes:
    f = event.frame
    keys = [(k.time_code_s, k.values) for k in event.input_emotions]
    return encoder.frame(f.time_code_s, f.weights, event.audio, f.emotion, keys)


def _converted(event: Any) -> nim.A2F3DAnimationDataStream:
    """Start, end and status events (frames go through :func:`_frame_bytes`)."""
    if isinstance(event, StreamStart):
        return convert.start_message(event)
    if isinstance(event, StreamEnd):
        return convert.end_message(event)
    return convert.status_message(event)


class A2FControllerServicer(audio2face_pb2_grpc.A2FControllerServiceServicer):
    """Bidirectional streaming animation over the stream service.

    Args:
        service: the replica's stream service.
        type_family: EmotionAggregate ``Any`` type URL family (``a`` sample client, ``b``).
    """

    def __init__(self, service: StreamService, type_family: str = "a") -> None:
        self.service = service
        self.type_family = type_family
        self.encoder = wire.FrameEncoder(
            convert.TYPE_URLS[type_family], convert.EMOTION_AGGREGATE_KEY
        )

    async def _header(
        self, requests: AsyncIterator[nim.AudioWithEmotionStream], context: Any
    ) -> dict[str, Any]:
        try:
            first = await requests.__anext__()
        except StopAsyncIteration:
            raise ServiceError(StatusCode.INVALID_ARGUMENT, "empty stream: no header") from None
        if first.WhichOneof("stream_part") != "audio_stream_header":
            raise ServiceError(
                StatusCode.INVALID_ARGUMENT,
                "the first message must be audio_stream_header (with audio_header)",
            )
        header = convert.header_to_dict(first.audio_stream_header)
        metadata: Mapping[str, str] = dict(context.invocation_metadata() or ())
        if metadata.get(MODEL_KEY):
            header["model"] = metadata[MODEL_KEY]
        header["metadata"] = dict(metadata)
        return header

    async def ProcessAudioStream(
        self, request_iterator: AsyncIterator[nim.AudioWithEmotionStream], context: Any
    ) -> AsyncIterator[nim.A2F3DAnimationDataStream | bytes]:
        """Header -> audio chunks -> end_of_audio  ==>  header, frames, event, status.

        Frames are yielded as wire bytes (:mod:`deployments.ingress.grpc.wire`, the same
        message :func:`convert.frame_message` builds); :func:`register` installs the serializer
        that passes them through.
        """
        requests = request_iterator.__aiter__()
        final: StreamStatus | None = None
        try:
            header = await self._header(requests, context)
        except ServiceError as exc:
            final = StreamStatus(exc.code, exc.message)
        if final is not None:
            yield convert.status_message(final)
        else:
            async for event in self.service.run_stream(header, _chunks(requests)):
                if isinstance(event, Frame):
                    yield _frame_bytes(self.encoder, event)
                    continue
                yield _converted(event)
                if isinstance(event, StreamStatus):
                    final = event
        if final is not None and final.code != StatusCode.OK:
            await _drain(requests)
            await context.abort(GRPC_CODES[final.code], final.message)


class ExportConfigServicer(cfg_grpc.A2XExportConfigServiceServicer):
    """``GetConfigs``: the effective stylization, deployment and advanced configs.

    Args:
        configs: kind (``stylization``/``deployment``/``advanced``) -> plain data.
    """

    def __init__(self, configs: Mapping[str, Any]) -> None:
        self.configs = dict(configs)

    async def GetConfigs(
        self, request: cfg_pb2.ConfigsTypeRequest, context: Any
    ) -> AsyncIterator[cfg_pb2.A2XConfig]:
        """One ``A2XConfig`` per file, YAML (default) or JSON."""
        as_json = request.config_type == cfg_pb2.ConfigsTypeRequest.JSON
        for kind, data in self.configs.items():
            if as_json:
                yield cfg_pb2.A2XConfig(name=f"{kind}_config.json", content=json.dumps(data))
            else:
                text = yaml.safe_dump(data, sort_keys=False)
                yield cfg_pb2.A2XConfig(name=f"{kind}_config.yaml", content=text)


def register(
    server: grpc.aio.Server, controller: A2FControllerServicer, export: ExportConfigServicer
) -> None:
    """Add both NIM services to ``server``.

    ``ProcessAudioStream`` is registered like the generated
    ``add_A2FControllerServiceServicer_to_server`` (same service and method names, same request
    type) except for the response serializer, which also accepts pre-encoded frame bytes.
    """
    handlers = {
        "ProcessAudioStream": grpc.stream_stream_rpc_method_handler(
            controller.ProcessAudioStream,
            request_deserializer=nim.AudioWithEmotionStream.FromString,
            response_serializer=wire.serialize_reply,
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)
    cfg_grpc.add_A2XExportConfigServiceServicer_to_server(export, server)
