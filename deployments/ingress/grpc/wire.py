"""Frame replies encoded straight to protobuf wire bytes (the per-frame hot path of the ingress).

Building a NIM ``A2F3DAnimationDataStream`` frame message from Python costs about 60 us (some
twenty nested message and map-entry objects, each field set through the protobuf runtime, then
``SerializeToString``); at 1,000 frames/s that alone is 6 % of a core in the ingress replica,
the cluster's bottleneck (docs/loadtest.md). Every frame message has the same fixed shape, so it
is written here directly in the protobuf wire format: fixed parts are precomputed, the 68
weights are one ``tobytes`` of packed float32, and the emotion maps reuse precomputed key
prefixes. The gRPC method's response serializer passes ``bytes`` through unchanged
(:func:`serialize_reply`), so clients receive exactly the message
:func:`deployments.ingress.grpc.convert.frame_message` builds: a unit test parses both and
compares them field by field, for frames with and without emotions and keyframes.

Field numbers are read from NVIDIA's published stubs at import, so a stub with different
numbering fails loudly here instead of sending wrong bytes.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from google.protobuf.message import Message
from nvidia_ace import animation_pb2
from nvidia_audio2face_3d import messages_pb2 as nim

from a2f_actors.names import A2F_EMOTIONS

_LEN, _I64, _I32 = 2, 1, 5  # wire types: length-delimited, 64-bit, 32-bit
_SMALL = 1 << 14  # lengths below this (two varint bytes) come from a table
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def _number(message: Any, name: str) -> int:
    return int(message.DESCRIPTOR.fields_by_name[name].number)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _varint(n: int) -> bytes:
    if n < _SMALL:
        return _VARINTS[n]
    return _encode_varint(n)


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_VARINTS = [_encode_varint(n) for n in range(_SMALL)]
_EWT = nim.EmotionWithTimeCode
_ENTRY = _EWT.DESCRIPTOR.fields_by_name["emotion"].message_type
#: EmotionWithTimeCode: time_code, then one map entry per emotion.
_EWT_TIME = _tag(_number(_EWT, "time_code"), _I64)
_EWT_ENTRY = _tag(_number(_EWT, "emotion"), _LEN)
_ENTRY_KEY = _tag(_ENTRY.fields_by_name["key"].number, _LEN)
_ENTRY_VALUE = _tag(_ENTRY.fields_by_name["value"].number, _I32)
#: EmotionAggregate fields.
_AGG_INPUT = _tag(_number(nim.EmotionAggregate, "input_emotions"), _LEN)
_AGG_SMOOTHED = _tag(_number(nim.EmotionAggregate, "a2f_smoothed_output"), _LEN)
#: google.protobuf.Any (type_url = 1, value = 2, fixed by the protobuf spec).
_ANY_URL, _ANY_VALUE = _tag(1, _LEN), _tag(2, _LEN)
#: AnimationData and its parts.
_AD = animation_pb2.AnimationData
_AD_SKEL = _tag(_number(_AD, "skel_animation"), _LEN)
_AD_AUDIO = _tag(_number(_AD, "audio"), _LEN)
_AD_META = _tag(_number(_AD, "metadata"), _LEN)
_SKEL_WEIGHTS = _tag(_number(animation_pb2.SkelAnimation, "blend_shape_weights"), _LEN)
_FA_TIME = _tag(_number(animation_pb2.FloatArrayWithTimeCode, "time_code"), _I64)
_FA_VALUES = _tag(_number(animation_pb2.FloatArrayWithTimeCode, "values"), _LEN)
_AU_TIME = _tag(_number(animation_pb2.AudioWithTimeCode, "time_code"), _I64)
_AU_BUFFER = _tag(_number(animation_pb2.AudioWithTimeCode, "audio_buffer"), _LEN)
_META_ENTRY = _AD.DESCRIPTOR.fields_by_name["metadata"].message_type
_META_KEY = _tag(_META_ENTRY.fields_by_name["key"].number, _LEN)
_META_VALUE = _tag(_META_ENTRY.fields_by_name["value"].number, _LEN)
_STREAM_DATA = _tag(_number(nim.A2F3DAnimationDataStream, "animation_data"), _LEN)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _double(tag: bytes, value: float) -> bytes:
    # proto3 leaves a scalar at its default (0.0) off the wire; so do we, for identical bytes
    return tag + _DOUBLE.pack(value) if value != 0.0 else b""


def _entry_prefix(name: str) -> bytes:
    key = name.encode()
    entry_len = len(_ENTRY_KEY) + len(_varint(len(key))) + len(key) + len(_ENTRY_VALUE) + 4
    return _EWT_ENTRY + _varint(entry_len) + _ENTRY_KEY + _varint(len(key)) + key + _ENTRY_VALUE


_PREFIX = {name: _entry_prefix(name) for name in A2F_EMOTIONS}


def _emotion_template() -> tuple[np.ndarray, np.ndarray]:
    """The 10 map entries of a full emotion vector, values zeroed, and the value byte indices."""
    template, index = bytearray(), []
    for name in A2F_EMOTIONS:
        template += _PREFIX[name]
        index.extend(range(len(template), len(template) + 4))
        template += bytes(4)
    return np.frombuffer(bytes(template), np.uint8), np.array(index, np.intp)


_TEMPLATE, _VALUE_BYTES = _emotion_template()


def emotion_entries(values: np.ndarray) -> bytes:
    """The map entries of a ``[10]`` emotion vector in ``A2F_EMOTIONS`` order.

    Cached by value: a stream's applied emotion stays the same for many frames (a constant
    preset, or A2E's smoothed output between its updates every ``a2e_skip + 1`` frames).
    """
    return _entries(np.asarray(values, "<f4").tobytes())


@functools.lru_cache(maxsize=4096)
def _entries(raw: bytes) -> bytes:
    out = _TEMPLATE.copy()
    out[_VALUE_BYTES] = np.frombuffer(raw, np.uint8)
    return out.tobytes()


def emotion_with_time_code(time_code: float, values: Iterable[tuple[str, float]]) -> bytes:
    """``EmotionWithTimeCode`` bytes: the time and one map entry per ``(name, value)``."""
    parts = [_double(_EWT_TIME, time_code)]
    for name, value in values:
        prefix = _PREFIX.get(name) or _entry_prefix(name)
        parts.append(prefix + _FLOAT.pack(value))
    return b"".join(parts)


def emotion_aggregate(
    input_emotions: Iterable[tuple[float, Mapping[str, float]]],
    time_code: float,
    emotion: np.ndarray | None,
) -> bytes:
    """``EmotionAggregate`` bytes: input keyframes, the applied emotion; ``a2e_output`` empty."""
    parts = [
        _field(_AGG_INPUT, emotion_with_time_code(t, values.items()))
        for t, values in input_emotions
    ]
    if emotion is not None:
        smoothed = _double(_EWT_TIME, time_code) + emotion_entries(emotion)
        parts.append(_field(_AGG_SMOOTHED, smoothed))
    return b"".join(parts)


class FrameEncoder:
    """Encodes frame replies of one ``EmotionAggregate`` type URL family.

    Args:
        type_url: the ``Any`` type URL of the emotion aggregate
            (:data:`deployments.ingress.grpc.convert.TYPE_URLS`).
        metadata_key: the ``AnimationData.metadata`` key (``emotion_aggregate``).
    """

    def __init__(self, type_url: str, metadata_key: str) -> None:
        self._url = _field(_ANY_URL, type_url.encode())
        self._key = _field(_META_KEY, metadata_key.encode())

    def frame(
        self,
        time_code: float,
        weights: np.ndarray,
        audio: bytes,
        emotion: np.ndarray | None,
        input_emotions: Iterable[tuple[float, Mapping[str, float]]] = (),
    ) -> bytes:
        """One ``A2F3DAnimationDataStream`` holding one frame.

        Args:
            time_code: seconds from the start of the clip.
            weights: ``[68]`` blendshape weights (written as float32).
            audio: PCM16 bytes of the audio the frame covers.
            emotion: ``[10]`` applied emotion, or None.
            input_emotions: ``(time_code, {name: value})`` keyframes received with the frame.
        """
        values = np.ascontiguousarray(weights, dtype="<f4").tobytes()
        array = _double(_FA_TIME, time_code) + (_field(_FA_VALUES, values) if values else b"")
        skel = _field(_AD_SKEL, _field(_SKEL_WEIGHTS, array))
        sound = _double(_AU_TIME, time_code) + (_field(_AU_BUFFER, audio) if audio else b"")
        agg = emotion_aggregate(input_emotions, time_code, emotion)
        packed = self._url + (_field(_ANY_VALUE, agg) if agg else b"")
        meta = _field(_AD_META, self._key + _field(_META_VALUE, packed))
        return _field(_STREAM_DATA, skel + _field(_AD_AUDIO, sound) + meta)


def serialize_reply(reply: Message | bytes) -> bytes:
    """The method's response serializer: pre-encoded bytes pass through, messages serialize."""
    if isinstance(reply, bytes):
        return reply
    return reply.SerializeToString()
