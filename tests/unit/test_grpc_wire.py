"""deployments.ingress.grpc.wire: hand-encoded frame replies equal the protobuf-built ones."""

from __future__ import annotations

import numpy as np
import pytest
from nvidia_audio2face_3d import audio2face_pb2
from nvidia_audio2face_3d import messages_pb2 as nim

from a2f_actors.framing import BlendshapeFrame
from deployments.ingress.grpc import convert, servicer, wire
from deployments.ingress.service import EmotionKeyframe, Frame


def _frame(index: int, emotion: bool, keys: tuple = (), audio: bytes = b"\x01\x02" * 533) -> Frame:
    rng = np.random.default_rng(index)
    bf = BlendshapeFrame(
        index, index / 30.0, rng.standard_normal(68), np.eye(4), rng.random(4),
        rng.random(10) if emotion else None,
    )  # fmt: skip
    return Frame(bf, audio, keys)


def _aggregate(msg: nim.A2F3DAnimationDataStream) -> nim.EmotionAggregate:
    return nim.EmotionAggregate.FromString(msg.animation_data.metadata["emotion_aggregate"].value)


def _assert_same(reference: nim.A2F3DAnimationDataStream, encoded: bytes) -> None:
    got = nim.A2F3DAnimationDataStream.FromString(encoded)
    assert got.WhichOneof("stream_part") == "animation_data"
    a, b = reference.animation_data, got.animation_data
    assert a.skel_animation == b.skel_animation
    assert a.audio == b.audio
    assert a.HasField("audio") and b.HasField("audio")
    assert list(a.metadata) == list(b.metadata) == ["emotion_aggregate"]
    assert a.metadata["emotion_aggregate"].type_url == b.metadata["emotion_aggregate"].type_url
    # the Any holds bytes; map order inside may differ, so compare the parsed aggregates
    assert _aggregate(reference) == _aggregate(got)


KEYS = (
    EmotionKeyframe(0.0, {"joy": 0.5}),
    EmotionKeyframe(0.25, {"anger": 1.0, "grief": 0.0, "fear": 0.125}),
)


@pytest.mark.parametrize("family", ["a", "b"])
@pytest.mark.parametrize(
    ("index", "emotion", "keys", "audio"),
    [
        (0, True, (), b"\x01\x02" * 533),  # time code 0: proto3 leaves it off the wire
        (7, True, KEYS, b"\x03\x04" * 534),
        (8, False, (), b""),  # no emotion, no audio
        (9, False, KEYS[:1], b"\x05\x06"),
        (30_000, True, (), b"\x07\x08" * 10_000),  # long audio: multi-byte length varints
    ],
)
def test_frame_bytes_parse_to_the_reference_message(family, index, emotion, keys, audio) -> None:
    event = _frame(index, emotion, keys, audio)
    encoder = wire.FrameEncoder(convert.TYPE_URLS[family], convert.EMOTION_AGGREGATE_KEY)
    encoded = servicer._frame_bytes(encoder, event)
    reference = convert.frame_message(event, family)
    _assert_same(reference, encoded)
    if not keys and not emotion:  # no maps with several entries: the bytes are identical too
        assert encoded == reference.SerializeToString()


def test_weights_are_float32_exactly() -> None:
    event = _frame(3, True)
    encoder = wire.FrameEncoder(convert.TYPE_URLS["a"], convert.EMOTION_AGGREGATE_KEY)
    got = nim.A2F3DAnimationDataStream.FromString(servicer._frame_bytes(encoder, event))
    values = np.array(got.animation_data.skel_animation.blend_shape_weights[0].values, np.float32)
    np.testing.assert_array_equal(values, event.frame.weights)


def test_emotion_entries_need_ten_values() -> None:
    with pytest.raises(ValueError):
        wire.emotion_entries(np.zeros(9, np.float32))


def test_serializer_passes_bytes_and_serializes_messages() -> None:
    msg = convert.end_message(None)  # type: ignore[arg-type]
    assert wire.serialize_reply(msg) == msg.SerializeToString()
    assert wire.serialize_reply(b"\x1a\x00") == b"\x1a\x00"


def test_registered_service_name_is_nvidias() -> None:
    names = [s.full_name for s in audio2face_pb2.DESCRIPTOR.services_by_name.values()]
    assert servicer.SERVICE in names
