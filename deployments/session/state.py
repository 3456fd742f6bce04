"""One stream's session: explicit state and a small state machine (pure; no ray, no asyncio).

A session is held by the ingress replica that owns the connection (architecture, "Sessions,
ticks and what crosses a hop"). It keeps the frozen parameters, the resampler and scheduler
states, the 16 kHz accumulator, the queues between stages, the stage states (GRU latents, A2E
post-processing, animation state) and the outbox of finished frames.

Per stage the ticker asks ``take_<stage>()`` for an item (None when there is nothing to do),
calls the stage with the items of all sessions, then hands each result to
``apply_<stage>()``. A stage item never changes the session: only ``apply_*`` does, exactly once
per successful call, so retrying a call with the same items cannot lose or duplicate frames.
The only exception is the PCM taken by ``take_encode`` (it leaves the input buffer; if the call
finally fails the stream ends with an error anyway).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from a2f_actors import resample
from a2f_actors import windows as win
from a2f_actors.config import StreamParams
from a2f_actors.emotion import (
    EmotionKeyframes,
    EmotionPostState,
    append_keyframes,
    close_keyframes,
)
from a2f_actors.framing import BlendshapeFrame
from a2f_actors.names import NUM_A2F_EMOTIONS
from deployments.session import records as rec
from deployments.session import windowing as wq
from deployments.session.errors import ServiceError, StatusCode

PCM16_SCALE = 32767.0  # float -> PCM16 for the returned audio


@dataclass(frozen=True)
class OutFrame:
    """A finished frame waiting in the outbox (see ``ingress.service.Frame``)."""

    frame: BlendshapeFrame
    audio: bytes
    input_emotions: tuple = ()


def _frozen_block(a: np.ndarray) -> np.ndarray:
    """A read-only float32 C-contiguous copy of ``a`` (its rows become frames as they are)."""
    out = np.array(a, dtype=np.float32, order="C")
    out.setflags(write=False)
    return out


@dataclass
class _Solvable:
    """Network rows waiting for the solver, with what the frames need afterwards."""

    frames: np.ndarray  # [F] int64 frame indices
    time_codes: np.ndarray  # [F] float64 seconds
    emotions: np.ndarray  # [F, 10] float32
    rows: np.ndarray  # [F, R] float32


@dataclass(frozen=True)
class SessionSpec:
    """Frozen per-stream settings.

    Attributes:
        stream_id: unique id in the replica.
        model_id: A2F model.
        kind: ``regression`` or ``diffusion``.
        fps: animation frame rate.
        params: the stream's parameters (stylization + header).
        sample_rate: input sample rate in Hz.
        a2e_model: A2E model id, or None when emotion detection is off.
        a2e_window: A2E window in samples.
        a2e_skip: A2F frames skipped between A2E inferences.
    """

    stream_id: str
    model_id: str
    kind: str
    fps: float
    params: StreamParams
    sample_rate: int
    a2e_model: str | None = None
    a2e_window: int = win.A2E_DEFAULT_WINDOW
    a2e_skip: int = 9


@dataclass
class Session:
    """Mutable per-stream state; see the module docstring for the protocol."""

    spec: SessionSpec
    pcm: bytearray = field(default_factory=bytearray)
    input_samples: int = 0
    end_of_audio: bool = False
    encoded_closed: bool = False
    error: ServiceError | None = None
    frames_out: int = 0
    outbox: list[OutFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.spec
        fps = Fraction(s.fps).limit_denominator(1001)
        sched = (
            win.regression_schedule(fps.numerator, fps.denominator)
            if s.kind == "regression"
            else win.diffusion_schedule()
        )
        self.resample = resample.new_resample_state(s.sample_rate)
        self.schedule = win.new_schedule_state(sched)
        self.acc = win.AudioAccumulator()
        self.pending = wq.empty_batch(sched.window_size)
        self.a2e_schedule: win.ScheduleState | None = None
        self.a2e_pending = wq.empty_batch(s.a2e_window)
        self.detected: EmotionKeyframes | None = None
        if s.a2e_model:
            a2e = win.a2e_schedule(fps.numerator, fps.denominator, s.a2e_window, s.a2e_skip)
            self.a2e_schedule = win.new_schedule_state(a2e)
            self.detected = EmotionKeyframes.empty()
        self.user = EmotionKeyframes.empty()
        self.new_user_keys: list = []
        self.emotion_state: EmotionPostState | None = None
        self.latents: np.ndarray | None = None
        self.anim: np.ndarray | None = None  # packed animation state (BlendshapeSolver's)
        self.solvable: list[_Solvable] = []
        self.audio_out = 0  # next 16 kHz sample of the returned audio
        self._fps = Fraction(s.fps)  # exact, as the time codes use it
        self.default_emotion = np.asarray(s.params.emotion.beginning_emotion, np.float32)
        self._inflight: dict[str, object] = {}
        # inference calls in flight, oldest first: (windows, their frames' emotions)
        self._infer_q: deque[tuple[win.WindowBatch, np.ndarray]] = deque()

    # --- client side ---------------------------------------------------------------------------

    def push_audio(self, pcm: bytes) -> None:
        """Queue PCM16 bytes (already validated by the ingress)."""
        self.pcm += pcm
        self.input_samples += len(pcm) // 2

    def push_emotions(self, keys: list[tuple[float, np.ndarray]], raw: tuple = ()) -> None:
        """Add user emotion keyframes ``(time_code_s, [10])`` (INVALID_ARGUMENT if out of order)."""
        if not keys:
            return
        keys = sorted(keys, key=lambda k: k[0])
        ts = np.rint(np.array([k[0] for k in keys]) * win.SAMPLE_RATE_HZ).astype(np.int64)
        values = np.stack([k[1] for k in keys]).reshape(len(keys), NUM_A2F_EMOTIONS)
        try:
            self.user = append_keyframes(self.user, ts, values)
        except ValueError as exc:
            raise ServiceError(StatusCode.INVALID_ARGUMENT, f"emotions: {exc}") from None
        self.new_user_keys.extend(raw)

    def close_input(self) -> None:
        """End of audio from the client."""
        self.end_of_audio = True
        if len(self.user):
            self.user = close_keyframes(self.user)

    def fail(self, code: StatusCode | str, message: str) -> None:
        """End the stream with an error (first error wins)."""
        if self.error is None:
            self.error = ServiceError(code, message)

    @property
    def done(self) -> bool:
        """No more frames will be produced (finished or failed)."""
        if self.error is not None:
            return True
        return (
            self.encoded_closed
            and len(self.pending) == 0
            and len(self.a2e_pending) == 0
            and not self.solvable
            and not self._inflight
            and not self._infer_q
        )

    # --- stage 1: encode -------------------------------------------------------------------------

    def take_encode(self) -> rec.EncodeItem | None:
        """PCM to decode, or the final flush; None when nothing to do."""
        if self.error or self.encoded_closed or "encode" in self._inflight:
            return None
        if not self.pcm and not self.end_of_audio:
            return None
        item = rec.EncodeItem(
            self.spec.stream_id, bytes(self.pcm), self.resample, self.schedule,
            close=self.end_of_audio, a2e_schedule=self.a2e_schedule,
        )  # fmt: skip
        self.pcm = bytearray()
        self._inflight["encode"] = item
        return item

    def apply_encode(self, res: rec.EncodeResult) -> None:
        """New samples and runnable windows."""
        item = self._inflight.pop("encode", None)
        if res.error is not None:
            self.fail(res.error.code, res.error.message)
            return
        self.resample, self.schedule = res.resample, res.schedule
        self.acc = win.accumulate(self.acc, res.samples)
        self.pending = wq.concat(self.pending, res.windows)
        if res.a2e_windows is not None:
            self.a2e_schedule = res.a2e_schedule
            self.a2e_pending = wq.concat(self.a2e_pending, res.a2e_windows)
        if isinstance(item, rec.EncodeItem) and item.close:
            self.encoded_closed = True
            self._maybe_close_detected()

    # --- stage 2: emotion ------------------------------------------------------------------------

    def take_emotion(self) -> rec.EmotionItem | None:
        """A2E windows, or None."""
        if self.error or not self.spec.a2e_model or len(self.a2e_pending) == 0:
            return None
        samples, offset = wq.segment(self.acc, self.a2e_pending)
        item = rec.EmotionItem(
            self.spec.stream_id, self.spec.a2e_model, samples, offset, self.a2e_pending.start,
            self.a2e_pending.window_size, self.spec.params.emotion, self.emotion_state,
        )  # fmt: skip
        self._inflight["emotion"] = len(self.a2e_pending)
        return item

    def apply_emotion(self, res: rec.EmotionResult) -> None:
        """Detected keyframes at the A2E windows' targets."""
        n = int(self._inflight.pop("emotion", 0))  # type: ignore[call-overload]
        if res.error is not None:
            self.fail(res.error.code, res.error.message)
            return
        done, self.a2e_pending = wq.split(self.a2e_pending, n)
        self.emotion_state = res.state
        if self.detected is not None and len(done):
            self.detected = append_keyframes(self.detected, done.target, res.values)
        self._maybe_close_detected()

    def _maybe_close_detected(self) -> None:
        if self.detected is None or self.detected.closed or not self.encoded_closed:
            return
        if len(self.a2e_pending) == 0:
            self.detected = close_keyframes(self.detected) if len(self.detected) else None

    # --- stage 3: inference ----------------------------------------------------------------------

    def take_infer(self, limit: int | None = None) -> rec.InferItem | None:
        """The runnable windows whose emotions are known (at most ``limit``), or None.

        The windows leave ``pending`` now, so the next call takes the ones after them: a
        regression stream may have windows in several inference calls at once (its results
        must be applied in the order taken). A diffusion stream takes nothing while a call is in
        flight: each window needs the GRU latents the previous one returns.
        """
        if self.error or len(self.pending) == 0:
            return None
        if self._infer_q and self.spec.kind != "regression":
            return None
        emotion, n = wq.window_emotions(
            self.pending, self.spec.kind, self.user, self.detected, self.default_emotion
        )
        if limit is not None:
            n = min(n, limit)
        if n == 0:
            return None
        batch, self.pending = wq.split(self.pending, n)
        samples, offset = wq.segment(self.acc, batch)
        item = rec.InferItem(
            self.spec.stream_id, self.spec.model_id, samples, offset, batch.start,
            self.spec.params.face.input_strength, emotion[:n], batch.frame_row,
            batch.frame_output, self.latents,
        )  # fmt: skip
        self._infer_q.append((batch, wq.frame_emotions(batch, emotion[:n])))
        return item

    def apply_infer(self, res: rec.InferResult) -> None:
        """Queue the network rows for the solver (results in the order the calls were taken)."""
        batch, emotions = self._infer_q.popleft()
        if res.error is not None:
            self.fail(res.error.code, res.error.message)
            return
        self.latents = res.latents
        if len(batch.frame):
            self.solvable.append(_Solvable(batch.frame, batch.time_code, emotions, res.rows))
        self._drop_audio()

    # --- stage 4: solve --------------------------------------------------------------------------

    def take_solve(self) -> rec.SolveItem | None:
        """All queued rows, or None."""
        if self.error or not self.solvable or "solve" in self._inflight:
            return None
        rows = np.concatenate([s.rows for s in self.solvable])
        item = rec.SolveItem(
            self.spec.stream_id, self.spec.model_id, rows, self.spec.params.face,
            self.spec.params.blendshapes, self.anim,
        )  # fmt: skip
        self._inflight["solve"] = len(self.solvable)
        return item

    def apply_solve(self, res: rec.SolveResult) -> None:
        """Frames to the outbox, in order."""
        n = int(self._inflight.pop("solve", 0))  # type: ignore[call-overload]
        if res.error is not None:
            self.fail(res.error.code, res.error.message)
            return
        parts, self.solvable = self.solvable[:n], self.solvable[n:]
        self.anim = res.state
        frames = np.concatenate([p.frames for p in parts])
        codes = np.concatenate([p.time_codes for p in parts])
        emotions = np.concatenate([p.emotions for p in parts])
        jaw = _frozen_block(res.jaw.reshape(-1, 4, 4).transpose(0, 2, 1))  # SDK column-major
        weights, eyes, emotions = map(_frozen_block, (res.weights, res.eyes, emotions))
        last = self.encoded_closed and not len(self.pending) and not self.solvable
        audio = self._audio_slices([int(f) for f in frames], last)
        for i in range(len(frames)):
            bf = BlendshapeFrame(  # rows of read-only blocks: no per-frame copies
                int(frames[i]), float(codes[i]), weights[i], jaw[i], eyes[i], emotions[i]
            )
            keys, self.new_user_keys = tuple(self.new_user_keys), []
            self.outbox.append(OutFrame(bf, audio[i], keys))
        self.frames_out += len(frames)
        self._drop_audio()

    # --- audio bookkeeping -----------------------------------------------------------------------

    def _audio_slices(self, frames: list[int], final: bool) -> list[bytes]:
        """PCM16 of the 16 kHz input covered by each of ``frames`` (in order).

        Frame ``f`` ends at sample ``floor((f + 1) * 16000 / fps)``; the final frame of the
        stream (``final``: the last of ``frames`` is the stream's last) takes the rest. The
        covered span is converted to PCM16 once and cut, not per frame.
        """
        total, offset = self.acc.total, self.acc.offset
        num, den = self._fps.numerator, self._fps.denominator
        bounds, out = [], self.audio_out
        for i, frame in enumerate(frames):
            end = (frame + 1) * win.SAMPLE_RATE_HZ * den // num
            end = total if final and i == len(frames) - 1 else min(end, total)
            lo = max(out, offset)
            bounds.append((lo, max(lo, end)))
            out = max(out, end)
        if not bounds:
            return []
        first = bounds[0][0]
        span = self.acc.samples[first - offset : max(hi for _, hi in bounds) - offset]
        pcm = np.clip(np.round(span * PCM16_SCALE), -32768, 32767).astype("<i2").tobytes()
        self.audio_out = out
        return [pcm[2 * (lo - first) : 2 * (hi - first)] for lo, hi in bounds]

    def _drop_audio(self) -> None:
        """Forget samples no window and no returned-audio slice will read again."""
        need = [win.first_needed_sample(self.schedule), self.audio_out]
        if len(self.pending):
            need.append(int(self.pending.start.min()))
        if self.a2e_schedule is not None:
            need.append(win.first_needed_sample(self.a2e_schedule))
        if len(self.a2e_pending):
            need.append(int(self.a2e_pending.start.min()))
        self.acc = win.drop_before(self.acc, max(0, min(need)))
