"""Opening a session from a stream header, and the handle the stream service talks to."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from a2f_actors.audio import AudioLimits, check_sample_rate
from a2f_actors.config import apply_runtime
from a2f_actors.config.runtime import HEADER_SECTIONS
from a2f_actors.errors import A2FError
from deployments.session.errors import ServiceError, StatusCode
from deployments.session.state import OutFrame, Session, SessionSpec

_PCM_FORMATS = (0, "AUDIO_FORMAT_PCM", None)


def _audio_rate(header: Mapping[str, Any], limits: AudioLimits) -> int:
    """The input sample rate from ``audio_header`` (INVALID_ARGUMENT when unusable)."""
    audio = header.get("audio_header")
    if not isinstance(audio, Mapping) or not audio.get("samples_per_second"):
        raise ServiceError(
            StatusCode.INVALID_ARGUMENT,
            "the stream header has no audio_header.samples_per_second; send the audio header "
            "(PCM, 1 channel, 16 bits, 16000-144000 Hz) in the first message",
        )
    channels = int(audio.get("channel_count") or 1)
    bits = int(audio.get("bits_per_sample") or 16)
    if channels != 1 or bits != 16 or audio.get("audio_format") not in _PCM_FORMATS:
        raise ServiceError(
            StatusCode.INVALID_ARGUMENT,
            f"audio_header: {channels} channel(s), {bits} bits, format "
            f"{audio.get('audio_format')!r}; only mono 16-bit PCM is accepted",
        )
    try:
        return check_sample_rate(int(audio["samples_per_second"]), limits)
    except A2FError as exc:
        raise ServiceError(StatusCode.INVALID_ARGUMENT, f"audio_header: {exc}") from None


def open_session(
    stream_id: str,
    header: Mapping[str, Any],
    catalog: Any,
    limits: AudioLimits,
    a2e_skip: int = 9,
) -> StreamHandle:
    """Validate ``header`` and build the session (raises ServiceError with the right code)."""
    if not isinstance(header, Mapping):
        raise ServiceError(StatusCode.INVALID_ARGUMENT, "the stream header must be a mapping")
    rate = _audio_rate(header, limits)
    model = catalog.resolve(header.get("model"))
    runtime = {k: v for k, v in header.items() if k in HEADER_SECTIONS}
    try:
        params = apply_runtime(model.params, runtime)
    except A2FError as exc:
        raise ServiceError(StatusCode.INVALID_ARGUMENT, str(exc)) from None
    spec = SessionSpec(
        stream_id, model.model_id, model.kind, model.fps, params, rate,
        a2e_model=model.a2e_model if params.a2e_enabled else None, a2e_skip=a2e_skip,
    )  # fmt: skip
    return StreamHandle(Session(spec))


class StreamHandle:
    """What the stream service sees of a session: feed it, await its frames.

    Args:
        session: the session (owned by the manager's tick loop).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.validate_chunk: Callable[[Session, int], None] | None = None
        self._event = asyncio.Event()

    @property
    def fps(self) -> float:
        """Animation frame rate."""
        return self.session.spec.fps

    @property
    def model_id(self) -> str:
        """The stream's model."""
        return self.session.spec.model_id

    @property
    def error(self) -> ServiceError | None:
        """The stream's error, once failed."""
        return self.session.error

    @property
    def input_seconds(self) -> float:
        """Seconds of audio received."""
        return self.session.input_samples / self.session.spec.sample_rate

    def push(self, chunk: Any) -> None:
        """Queue one :class:`~deployments.ingress.service.InputChunk` (raises ServiceError)."""
        audio = bytes(chunk.audio)
        if len(audio) % 2:
            raise ServiceError(
                StatusCode.INVALID_ARGUMENT,
                f"audio buffer of {len(audio)} bytes is not whole PCM16 samples; send 16-bit "
                f"little-endian mono PCM",
            )
        if self.validate_chunk is not None:
            self.validate_chunk(self.session, len(audio) // 2)
        keys = [(k.time_code_s, k.vector()) for k in chunk.emotions]
        self.session.push_emotions(keys, tuple(chunk.emotions))
        if audio:
            self.session.push_audio(audio)

    def end_of_audio(self) -> None:
        """The client finished sending audio."""
        self.session.close_input()

    def fail(self, code: StatusCode | str, message: str) -> None:
        """End the stream with an error."""
        self.session.fail(code, message)
        self.wake()

    def wake(self) -> None:
        """Signal the stream's reader that frames or an ending may be available."""
        self._event.set()

    async def wait_output(self, timeout_s: float) -> tuple[list[OutFrame], bool]:
        """Wait for frames; return ``(frames, done)`` (done: no frame will follow)."""
        if not self.session.outbox and not self.session.done:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):  # no task per wait (asyncio.wait_for)
                    await self._event.wait()
        self._event.clear()
        frames, self.session.outbox = self.session.outbox, []
        return frames, self.session.done and not self.session.outbox
