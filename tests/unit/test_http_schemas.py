"""HTTP/WebSocket API messages and encodings (no server): schemas, uploads, CSV, binary frames."""

from __future__ import annotations

import asyncio
import io
import json
import wave

import numpy as np
import pytest
from pydantic import ValidationError

from a2f_actors.audio import AudioLimits
from a2f_actors.framing import BlendshapeFrame
from a2f_actors.names import BLENDSHAPES
from deployments.ingress.http import export
from deployments.ingress.http.schemas import (
    BINARY_FRAME,
    HTTP_STATUS,
    AnimateParams,
    ControlMessage,
    ErrorBody,
    FrameMessage,
    StreamHeader,
)
from deployments.ingress.service import (
    EmotionKeyframe,
    Frame,
    ServiceError,
    StatusCode,
    StreamEnd,
    StreamStart,
    StreamStatus,
)


def frame(i: int, emotion: bool = True) -> Frame:
    w = np.linspace(0, 1, 68, dtype=np.float32) * (i + 1) / 10
    emo = np.full(10, 0.1 * i, np.float32) if emotion else None
    return Frame(BlendshapeFrame(i, i / 30.0, w, emotion=emo), b"\0\0")


def test_every_canonical_code_has_an_http_status() -> None:
    assert set(HTTP_STATUS) == set(StatusCode)
    assert HTTP_STATUS[StatusCode.UNAUTHENTICATED] == 401
    assert HTTP_STATUS[StatusCode.RESOURCE_EXHAUSTED] == 429
    assert ErrorBody(code="NOT_FOUND", message="m").model_dump(mode="json")["code"] == "NOT_FOUND"


def test_stream_header_builds_the_service_header_with_only_the_sections_set() -> None:
    h = StreamHeader(sample_rate=44100, model="m", face_params={"float_params": {"a": 1}})
    out = h.header(h.sample_rate)
    assert out["audio_header"]["samples_per_second"] == 44100
    assert out["model"] == "m" and out["face_params"] == {"float_params": {"a": 1}}
    assert not {"output", "api_key", "type", "blendshape_params", "sample_rate"} & set(out)


@pytest.mark.parametrize(
    "bad",
    [
        {"sample_rate": 0},
        {"sample_rate": 16000, "output": "xml"},
        {"sample_rate": 16000, "x": 1},
        {},
        {"sample_rate": 16000, "face_params": 3},
    ],
)
def test_stream_header_rejects_bad_or_unknown_fields(bad: dict) -> None:
    with pytest.raises(ValidationError):
        StreamHeader.model_validate(bad)


def test_control_and_animate_messages_parse_emotion_keyframes() -> None:
    c = ControlMessage.model_validate_json(
        '{"type": "emotions", "emotions": [{"time_code": 0.5, "emotion": {"joy": 1}}]}'
    )
    assert c.emotions[0].time_code == 0.5 and c.emotions[0].emotion == {"joy": 1.0}
    assert ControlMessage.model_validate_json('{"type": "end"}').emotions == []
    with pytest.raises(ValidationError):
        ControlMessage.model_validate({"type": "stop"})
    p = AnimateParams.model_validate_json(
        '{"emotions": [{"time_code": 0, "emotion": {}}], "model": "m"}'
    )
    assert "emotions" not in p.header(16000) and p.header(16000)["model"] == "m"
    with pytest.raises(ValidationError):
        AnimateParams.model_validate({"emotions": [{"time_code": -1, "emotion": {}}]})


def test_binary_frame_is_324_bytes_and_round_trips() -> None:
    assert BINARY_FRAME.size == 4 + 8 + 68 * 4 + 10 * 4 == 324
    f = frame(7)
    index, tc, weights, emotion = export.unpack_binary_frame(export.frame_binary(f))
    assert (index, tc) == (7, 7 / 30.0)
    np.testing.assert_array_equal(weights, f.frame.weights)
    np.testing.assert_array_equal(emotion, f.frame.emotion)
    _, _, _, none = export.unpack_binary_frame(export.frame_binary(frame(1, emotion=False)))
    assert np.isnan(none).all()


def test_frame_json_is_a_frame_message() -> None:
    msg = FrameMessage.model_validate_json(export.frame_json(frame(3)))
    assert msg.index == 3 and msg.time_code == pytest.approx(0.1) and len(msg.weights) == 68
    assert json.loads(export.frame_json(frame(0, emotion=False)))["emotion"] is None


def collected(n: int, emotion: bool = True) -> export.Collected:
    async def events():
        yield StreamStart(fps=30.0, model="m")
        for i in range(n):
            yield frame(i, emotion)
        yield StreamEnd(n)
        yield StreamStatus()

    return asyncio.run(export.collect(events()))


def test_csv_has_nvidias_header_and_one_exact_row_per_frame() -> None:
    rows = export.csv_text(collected(4)).splitlines()
    assert rows[0] == ",".join(["timeCode", *[f"blendShapes.{n}" for n in BLENDSHAPES]])
    assert len(rows) == 5
    values = [float(v) for v in rows[2].split(",")]
    assert values[0] == 1 / 30.0
    np.testing.assert_array_equal(np.float32(values[1:]), frame(1).frame.weights)


def test_animation_json_has_matrix_and_emotions_or_null() -> None:
    a = export.animation(collected(3))
    assert a.model == "m" and a.fps == 30.0 and len(a.weights) == 3 and len(a.weights[0]) == 68
    assert a.time_codes == [0.0, 1 / 30.0, 2 / 30.0] and len(a.emotions[2]) == 10
    assert export.animation(collected(2, emotion=False)).emotions is None


def wav(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def test_upload_accepts_wav_exactly_and_raw_pcm_with_a_rate() -> None:
    pcm = np.random.default_rng(0).integers(-32768, 32767, 4000).astype("<i2").tobytes()
    assert export.upload_pcm(wav(pcm, 22050), None, AudioLimits()) == (pcm, 22050)
    assert export.upload_pcm(pcm, 16000, AudioLimits()) == (pcm, 16000)
    for body, rate in ((pcm, None), (b"RIFF1234WAVEjunk", None), (wav(pcm, 8000), None)):
        with pytest.raises(ServiceError) as err:
            export.upload_pcm(body, rate, AudioLimits())
        assert err.value.code == StatusCode.INVALID_ARGUMENT


def test_upload_chunks_are_one_second_with_keyframes_on_the_first() -> None:
    keys = (EmotionKeyframe(0.0, {"joy": 1.0}),)

    async def gather():
        return [c async for c in export.upload_chunks(b"\1\0" * 40000, 16000, keys)]

    chunks = asyncio.run(gather())
    assert [len(c.audio) for c in chunks] == [32000, 32000, 16000]
    assert chunks[0].emotions == keys and chunks[1].emotions == ()
