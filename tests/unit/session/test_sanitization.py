"""Header and audio sanitization: every bad input gets its canonical status code."""

from __future__ import annotations

import asyncio

import pytest

from a2f_actors.audio import AudioLimits
from deployments.ingress.service import InputChunk, ServiceError, StatusCode
from deployments.session.handle import open_session
from deployments.session.ticker import SessionManager
from tests.unit.session.conftest import chunks_of, collect, header, make_service, pcm


@pytest.mark.parametrize(
    ("hdr", "code"),
    [
        ({}, StatusCode.INVALID_ARGUMENT),
        (header(8000), StatusCode.INVALID_ARGUMENT),
        (header(200000), StatusCode.INVALID_ARGUMENT),
        (
            {"audio_header": {"samples_per_second": 16000, "channel_count": 2}},
            StatusCode.INVALID_ARGUMENT,
        ),
        (
            {"audio_header": {"samples_per_second": 16000, "bits_per_sample": 8}},
            StatusCode.INVALID_ARGUMENT,
        ),
        (header(model="nope_v9"), StatusCode.NOT_FOUND),
        (header(face_params={"float_params": {"skinStrength": 9.0}}), StatusCode.INVALID_ARGUMENT),
        (header(face_params={"float_params": {"skinStrenght": 1.0}}), StatusCode.INVALID_ARGUMENT),
        (
            header(blendshape_params={"bs_weight_multipliers": {"Nope": 1.0}}),
            StatusCode.INVALID_ARGUMENT,
        ),
    ],
)
def test_open_session_raises_its_code_when_the_header_is_bad(catalog, hdr, code) -> None:
    with pytest.raises(ServiceError) as err:
        open_session("s0", hdr, catalog, AudioLimits())
    assert err.value.code == code


def test_service_yields_only_a_status_when_the_header_is_bad(stages, catalog) -> None:
    events = asyncio.run(collect(make_service(stages, catalog), header(8000), chunks_of(b"")))
    assert len(events) == 1 and events[0].code == StatusCode.INVALID_ARGUMENT


def _one_chunk(chunk: InputChunk):
    async def gen():
        yield chunk

    return gen()


@pytest.mark.parametrize(
    ("chunk", "code"),
    [
        (InputChunk(b"\x00\x01\x02"), StatusCode.INVALID_ARGUMENT),  # half a sample
        (InputChunk(pcm(10.5)), StatusCode.INVALID_ARGUMENT),  # > 10 s in one message
        (InputChunk(b"", ()), None),
    ],
)
def test_audio_errors_end_the_stream_with_their_code(stages, catalog, chunk, code) -> None:
    events = asyncio.run(collect(make_service(stages, catalog), header(), _one_chunk(chunk)))
    assert events[-1].code == (code or StatusCode.OK)


def test_clip_longer_than_the_limit_is_resource_exhausted(stages, catalog) -> None:
    service = make_service(stages, catalog)
    manager: SessionManager = service.manager
    manager.limits = AudioLimits(max_audio_buffer_size_second=1.0, max_audio_clip_size_second=2.0)
    events = asyncio.run(collect(service, header(), chunks_of(pcm(3.0), 16000)))
    assert events[-1].code == StatusCode.RESOURCE_EXHAUSTED


def test_bad_emotion_name_is_invalid_argument(stages, catalog) -> None:
    from deployments.ingress.service import EmotionKeyframe

    chunk = InputChunk(pcm(0.2), (EmotionKeyframe(0.0, {"happiness": 1.0}),))
    events = asyncio.run(collect(make_service(stages, catalog), header(), _one_chunk(chunk)))
    assert events[-1].code == StatusCode.INVALID_ARGUMENT and "happiness" in events[-1].message


def test_idle_client_is_cut_with_deadline_exceeded(stages, catalog) -> None:
    async def stalls():
        yield InputChunk(pcm(0.1))
        await asyncio.sleep(5)

    service = make_service(stages, catalog, idle_timeout_s=0.1)
    events = asyncio.run(collect(service, header(), stalls()))
    assert events[-1].code == StatusCode.DEADLINE_EXCEEDED


def test_too_many_streams_is_resource_exhausted(stages, catalog) -> None:
    from deployments.session.ticker import TickOptions

    async def scenario():
        service = make_service(stages, catalog, tick=TickOptions(max_streams=1))

        async def slow():
            yield InputChunk(pcm(0.1))
            await asyncio.sleep(0.3)

        first = asyncio.create_task(collect(service, header(), slow()))
        await asyncio.sleep(0.05)
        second = await collect(service, header(), chunks_of(pcm(0.1)))
        return await first, second

    first, second = asyncio.run(scenario())
    assert first[-1].code == StatusCode.OK
    assert second[-1].code == StatusCode.RESOURCE_EXHAUSTED
