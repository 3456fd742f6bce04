"""NIM protobuf messages <-> the stream service's types (NVIDIA's published stubs, Family B).

Wire compatibility notes (a2f_reference.md sections 3 and 4.1):

* Replies: header first WITH ``audio_header``; exactly one frame per ``AnimationData`` (one
  ``blend_shape_weights`` entry); ``metadata["emotion_aggregate"]`` is an ``Any`` holding an
  ``EmotionAggregate`` whose ``a2e_output`` stays EMPTY; then the END_OF_A2F_AUDIO_PROCESSING
  event, then ``status``, then the server closes the call.
* The ``Any`` type URL: both stub families encode ``EmotionAggregate`` identically but name it
  differently. NVIDIA's sample client (Family A, ``nvidia_ace`` 1.2.0 sample wheel) unpacks
  ``nvidia_ace.emotion_aggregate.v1.EmotionAggregate``; PyPI's ``nvidia-audio2face-3d`` 1.3.0
  (Family B) names it ``com.nvidia.ace.services.audio2face_3d.v1.EmotionAggregate``. We emit
  Family A's URL by default (the sample client and the Unreal plugin use it) and Family B's on
  request (``type_family="b"``); the bytes are the same.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2
from google.protobuf.json_format import MessageToDict
from nvidia_ace import animation_pb2, audio_pb2, status_pb2
from nvidia_audio2face_3d import messages_pb2 as nim

from a2f_actors.names import A2F_EMOTIONS
from deployments.ingress.service import (
    EmotionKeyframe,
    Frame,
    InputChunk,
    StatusCode,
    StreamEnd,
    StreamStart,
    StreamStatus,
)

TYPE_URLS: dict[str, str] = {
    "a": "type.googleapis.com/nvidia_ace.emotion_aggregate.v1.EmotionAggregate",
    "b": "type.googleapis.com/com.nvidia.ace.services.audio2face_3d.v1.EmotionAggregate",
}
EMOTION_AGGREGATE_KEY = "emotion_aggregate"


def header_to_dict(header: nim.AudioWithEmotionStreamHeader) -> dict[str, Any]:
    """The header as the service's dict (proto field names, only the fields that are set)."""
    data = MessageToDict(header, preserving_proto_field_name=True)
    audio = data.get("audio_header")
    if audio is not None:
        for key in ("samples_per_second", "channel_count", "bits_per_sample"):
            if key in audio:
                audio[key] = int(audio[key])
    return data


def chunk_from_message(msg: nim.AudioWithEmotion) -> InputChunk:
    """One ``audio_with_emotion`` message as an :class:`InputChunk`."""
    keys = tuple(EmotionKeyframe(float(e.time_code), dict(e.emotion.items())) for e in msg.emotions)
    return InputChunk(bytes(msg.audio_buffer), keys)


def start_message(event: StreamStart) -> nim.A2F3DAnimationDataStream:
    """The reply header: returned audio format and the 68 blendshape names."""
    header = nim.A2F3DAnimationDataStreamHeader(
        audio_header=audio_pb2.AudioHeader(
            audio_format=audio_pb2.AudioHeader.AUDIO_FORMAT_PCM,
            channel_count=event.channel_count,
            samples_per_second=event.sample_rate,
            bits_per_sample=event.bits_per_sample,
        ),
        skel_animation_header=animation_pb2.SkelAnimationHeader(blend_shapes=list(event.names)),
        start_time_code_since_epoch=event.start_time_s,
    )
    return nim.A2F3DAnimationDataStream(animation_data_stream_header=header)


def _emotion(time_code: float, values: Any) -> nim.EmotionWithTimeCode:
    return nim.EmotionWithTimeCode(
        time_code=time_code,
        emotion={name: float(v) for name, v in zip(A2F_EMOTIONS, values, strict=True)},
    )


def emotion_aggregate(event: Frame, type_family: str = "a") -> any_pb2.Any:
    """The frame's ``EmotionAggregate`` (input keyframes, applied emotion; no a2e_output)."""
    f = event.frame
    agg = nim.EmotionAggregate(
        input_emotions=[
            nim.EmotionWithTimeCode(time_code=k.time_code_s, emotion=dict(k.values))
            for k in event.input_emotions
        ],
        a2f_smoothed_output=[] if f.emotion is None else [_emotion(f.time_code_s, f.emotion)],
    )
    packed = any_pb2.Any()
    packed.type_url = TYPE_URLS[type_family]
    packed.value = agg.SerializeToString()
    return packed


def frame_message(event: Frame, type_family: str = "a") -> nim.A2F3DAnimationDataStream:
    """One ``AnimationData`` holding exactly one frame."""
    f = event.frame
    data = animation_pb2.AnimationData(
        skel_animation=animation_pb2.SkelAnimation(
            blend_shape_weights=[
                animation_pb2.FloatArrayWithTimeCode(
                    time_code=f.time_code_s, values=f.weights.tolist()
                )
            ]
        ),
        audio=animation_pb2.AudioWithTimeCode(time_code=f.time_code_s, audio_buffer=event.audio),
    )
    data.metadata[EMOTION_AGGREGATE_KEY].CopyFrom(emotion_aggregate(event, type_family))
    return nim.A2F3DAnimationDataStream(animation_data=data)


def end_message(_: StreamEnd) -> nim.A2F3DAnimationDataStream:
    """The END_OF_A2F_AUDIO_PROCESSING event."""
    return nim.A2F3DAnimationDataStream(
        event=nim.Event(event_type=nim.EventType.END_OF_A2F_AUDIO_PROCESSING)
    )


def status_message(event: StreamStatus) -> nim.A2F3DAnimationDataStream:
    """The final status (SUCCESS, or ERROR with the code name and message)."""
    if event.code == StatusCode.OK:
        status = status_pb2.Status(code=status_pb2.Status.SUCCESS, message=event.message)
    else:
        status = status_pb2.Status(
            code=status_pb2.Status.ERROR, message=f"{event.code.value}: {event.message}"
        )
    return nim.A2F3DAnimationDataStream(status=status)
