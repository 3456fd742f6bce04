"""The session manager of one ingress replica: opens sessions and ticks them through the stages.

Every ``tick_s`` (default 30 ms) one tick collects, across ALL sessions of the replica, what is
ready for each stage and makes ONE call per stage (encode -> detect -> infer -> solve), so the
number of inter-deployment calls per second is bounded by ``4 / tick_s`` whatever the number of
streams (architecture principle 6). Streams already at 16 kHz are encoded here instead
(``encode_in_ingress``): without resampling the AudioEncoder hop would carry no work, only
latency. Ticks run one after the other, so a session's windows stay
in order; a diffusion stream's windows are additionally run in order inside the stage.

A stage call that raises (replica died, backend unavailable, timeout) is retried with the SAME
items (the states are explicit; only a successful result is applied, exactly once). After
``attempts`` failures every stream of that call ends with UNAVAILABLE; streams of other stages
are untouched. Per-stream errors returned by a stage end only that stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from a2f_actors.audio import AudioLimits, check_buffer_length, check_clip_length
from a2f_actors.windows import SAMPLE_RATE_HZ as RATE
from deployments import observability as obs  # issue #8: metrics + tracing hooks
from deployments.audio_encoder import AudioEncoder
from deployments.session import records as rec
from deployments.session.errors import ServiceError, StatusCode
from deployments.session.handle import StreamHandle, open_session
from deployments.session.state import Session

log = logging.getLogger(__name__)
#: The encode stage's code, run here for streams that need no resampling (pure, stateless).
_LOCAL_ENCODER = AudioEncoder()


class Pipeline(Protocol):
    """The four stages, each taking one item per stream and returning one result per item."""

    async def encode(self, items: list[rec.EncodeItem]) -> list[rec.EncodeResult]:
        """AudioEncoder."""
        ...

    async def detect(self, items: list[rec.EmotionItem]) -> list[rec.EmotionResult]:
        """EmotionDetector."""
        ...

    async def infer(self, items: list[rec.InferItem]) -> list[rec.InferResult]:
        """A2FInference."""
        ...

    async def solve(self, items: list[rec.SolveItem]) -> list[rec.SolveResult]:
        """BlendshapeSolver."""
        ...


@dataclass(frozen=True)
class TickOptions:
    """Tick cadence and retry policy.

    Attributes:
        tick_s: seconds between tick starts.
        attempts: tries per stage call.
        backoff_s: delay before the first retry (doubles each retry).
        timeout_s: deadline of one stage call.
        max_streams: sessions a replica accepts (RESOURCE_EXHAUSTED beyond).
        encode_in_ingress: where the encode stage runs: ``auto`` = in this process for streams
            already at 16 kHz (decoding PCM16 and advancing the window schedule take
            microseconds, while a Serve hop costs milliseconds of latency on every tick),
            through the AudioEncoder deployment for streams that need resampling; ``always`` /
            ``never`` = every stream here / through the deployment.
        overlap_solve: start a tick's solve call and go on with the next tick (see
            :meth:`SessionManager.tick`); False runs the stages strictly in sequence.
        max_infer_windows: most network windows of ONE stream per tick (None: all). A stream
            in real time has 1-2 per tick; a burst's thousands are cut into ticks so that its
            inference and solving overlap instead of running one after the other.
        infer_depth: inference calls in flight at once (1 = the tick waits for its inference).
            With 2, a tick starts its inference call and goes on, so the next tick's call is
            queued at the inference replicas while this one runs (they and Triton never idle
            between calls, and a slow call no longer delays the next tick's windows). Results
            are applied strictly in the order the calls were made; a diffusion stream still has
            one call in flight at a time (GRU state). Default 1: on the 2-core CPU box
            depth 2 made more, smaller calls under load and was slower (docs/serving.md); it is
            meant for a remote, latency-bound inference hop (e.g. a GPU Triton node).
    """

    tick_s: float = 0.03
    attempts: int = 3
    backoff_s: float = 0.05
    timeout_s: float = 30.0
    max_streams: int = 1000
    encode_in_ingress: str = "auto"
    overlap_solve: bool = True
    max_infer_windows: int | None = 32
    infer_depth: int = 1

    def __post_init__(self) -> None:
        if self.infer_depth < 1:
            raise ValueError(f"infer_depth={self.infer_depth} must be >= 1")


class StageFailed(RuntimeError):
    """A stage call failed ``attempts`` times."""


_STAGES: tuple[tuple[str, str, str], ...] = (
    # (pipeline method, Session.take_*, Session.apply_*)
    ("encode", "take_encode", "apply_encode"),
    ("detect", "take_emotion", "apply_emotion"),
    ("infer", "take_infer", "apply_infer"),
    ("solve", "take_solve", "apply_solve"),
)


def _apply(pairs: list[tuple[Session, Any]], results: list[Any], apply: str) -> None:
    """Each result to its session, exactly once (not to sessions that failed meanwhile)."""
    for (session, _), result in zip(pairs, results, strict=True):
        if session.error is None:
            getattr(session, apply)(result)


class SessionManager:
    """Sessions of one replica and the tick loop that drives them.

    Args:
        pipeline: the stages (Serve handles in the cluster, local objects in tests).
        catalog: model id -> ModelInfo (``deployments.session.catalog.Catalog``).
        limits: input sanitization limits.
        options: ticks and retries.
        a2e_window: A2E window in samples; ``a2e_skip``: A2F frames between A2E inferences.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        catalog: Any,
        limits: AudioLimits | None = None,
        options: TickOptions | None = None,
        *,
        a2e_skip: int = 9,
    ) -> None:
        self.pipeline = pipeline
        self.catalog = catalog
        self.limits = limits or AudioLimits()
        self.options = options or TickOptions()
        self.a2e_skip = a2e_skip
        self.handles: dict[str, StreamHandle] = {}
        self.calls: Counter[str] = Counter()  # stage -> successful calls (for measurements)
        self.ticks = 0
        self._ids = itertools.count()
        self._loop_task: asyncio.Task[None] | None = None
        self._solving: asyncio.Task[None] | None = None
        self._inferring: deque[asyncio.Task[None]] = deque()  # oldest first

    # --- sessions ------------------------------------------------------------------------------

    def open(self, header: Mapping[str, Any]) -> StreamHandle:
        """Validate a header and open its session (raises ServiceError)."""
        if len(self.handles) >= self.options.max_streams:
            raise ServiceError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"this replica already serves {len(self.handles)} streams (max_streams); retry "
                f"later or add replicas",
            )
        stream_id = f"s{next(self._ids)}"
        handle = open_session(stream_id, header, self.catalog, self.limits, self.a2e_skip)
        handle.validate_chunk = self._validate_chunk
        self.handles[stream_id] = handle
        self._ensure_loop()
        return handle

    def close(self, handle: StreamHandle) -> None:
        """Forget a session (stream finished or client gone)."""
        self.handles.pop(handle.session.spec.stream_id, None)

    def _validate_chunk(self, session: Session, n_samples: int) -> None:
        rate = session.spec.sample_rate
        try:
            check_buffer_length(n_samples, rate, self.limits)
        except ValueError as exc:
            raise ServiceError(StatusCode.INVALID_ARGUMENT, str(exc)) from None
        try:
            check_clip_length(session.input_samples + n_samples, rate, self.limits)
        except ValueError as exc:
            raise ServiceError(StatusCode.RESOURCE_EXHAUSTED, str(exc)) from None

    # --- ticks ---------------------------------------------------------------------------------

    def _ensure_loop(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while self.handles:
            started = time.monotonic()
            try:
                await self.tick()
            except Exception:  # never let the loop die: a dead loop starves every stream
                log.exception("tick failed")
            obs.tick_finished(time.monotonic() - started)  # observability hook (issue #8)
            await asyncio.sleep(max(0.0, self.options.tick_s - (time.monotonic() - started)))

    async def tick(self) -> None:
        """Move every session one step through every stage (one call per stage).

        With ``overlap_solve`` the solve call is started and left running: the next tick's
        encode and inference run while it solves (the two stages use different replicas and
        cores), and that tick waits for it only before starting its own solve, so one solve
        call is in flight at a time and every stream's frames stay in order.
        """
        self.ticks += 1
        tick_start = time.monotonic()  # observability hook (issue #8)
        for method, take, apply in _STAGES:
            if method == "solve" and self.options.overlap_solve:
                if self._solving is not None:
                    await self._solving
                pairs = self._take(take)
                self._solving = None
                if pairs:
                    stage = self._stage(method, apply, pairs, tick_start, wake=True)
                    self._solving = asyncio.get_running_loop().create_task(stage)
                continue
            if method == "infer" and self.options.infer_depth > 1:
                await self._start_infer(tick_start)
                continue
            limit = {"limit": self.options.max_infer_windows} if method == "infer" else {}
            pairs = self._take(take, **limit)
            if method == "encode" and pairs:
                pairs = self._encode_here(pairs, tick_start)
            await self._stage(method, apply, pairs, tick_start)
        self._wake()

    async def _start_infer(self, tick_start: float) -> None:
        """Start this tick's inference call without waiting for it (``infer_depth`` > 1).

        At most ``infer_depth`` calls are in flight: when full, wait for the oldest first. Each
        call applies its results only after the call before it applied theirs, so a stream's
        windows reach the solver in order even when a later call finishes first.
        """
        while self._inferring and self._inferring[0].done():
            self._inferring.popleft()
        if len(self._inferring) >= self.options.infer_depth:
            await asyncio.wait({self._inferring[0]})  # never raises: _stage handles errors
            self._inferring.popleft()
        pairs = self._take("take_infer", limit=self.options.max_infer_windows)
        if not pairs:
            return
        previous = self._inferring[-1] if self._inferring else None
        stage = self._stage("infer", "apply_infer", pairs, tick_start, after=previous)
        self._inferring.append(asyncio.get_running_loop().create_task(stage))

    def _take(self, take: str, **kw: Any) -> list[tuple[Session, Any]]:
        sessions = [h.session for h in self.handles.values()]
        return [(s, item) for s in sessions if (item := getattr(s, take)(**kw)) is not None]

    def _wake(self) -> None:
        for handle in list(self.handles.values()):
            handle.wake()

    async def _stage(
        self,
        method: str,
        apply: str,
        pairs: list[tuple[Session, Any]],
        tick_start: float,
        wake: bool = False,
        after: asyncio.Task[None] | None = None,
    ) -> None:
        """One batched call of ``method`` for ``pairs``; apply each result exactly once.

        ``after``: a task whose results must be applied before these (the previous call).
        """
        if not pairs:
            return
        items = [item for _, item in pairs]
        results = None
        try:
            with obs.stage_call(method, items, tick_start):  # observability hook (issue #8)
                results = await self._call(method, getattr(self.pipeline, method), items)
        except StageFailed as exc:
            for session, _ in pairs:
                session.fail(StatusCode.UNAVAILABLE, str(exc))
        except Exception as exc:  # an overlapped solve runs as a task: never lose the streams
            log.exception("stage %s failed", method)
            for session, _ in pairs:
                session.fail(StatusCode.INTERNAL, f"stage '{method}' failed: {exc}")
        if after is not None:
            await asyncio.wait({after})  # its errors are its own (handled inside it)
        if results is not None:
            _apply(pairs, results, apply)
        if wake:
            self._wake()

    def _encode_here(self, pairs: list[tuple[Session, Any]], tick_start: float) -> list:
        """Encode in this process the streams that need no resampling; return the others."""
        where = self.options.encode_in_ingress
        here: list[tuple[Session, Any]] = []
        there: list[tuple[Session, Any]] = []
        for session, item in pairs:
            local = where == "always" or (where == "auto" and session.spec.sample_rate == RATE)
            (here if local else there).append((session, item))
        if here:
            with obs.stage_call("encode", [item for _, item in here], tick_start):
                for session, item in here:
                    try:
                        result = _LOCAL_ENCODER.encode_one(item)
                    except Exception as exc:  # a bug, not bad audio (that is a StageError)
                        log.exception("local encode failed")
                        session.fail(StatusCode.INTERNAL, f"encoding the audio failed: {exc}")
                        continue
                    session.apply_encode(result)
        return there

    async def _call(
        self, name: str, fn: Callable[[list[Any]], Awaitable[list[Any]]], items: list[Any]
    ) -> list[Any]:
        """Call a stage with retries on the same items."""
        opts = self.options
        last: Exception | None = None
        for attempt in range(opts.attempts):
            if attempt:
                await asyncio.sleep(opts.backoff_s * 2 ** (attempt - 1))
            try:
                results = await asyncio.wait_for(fn(items), opts.timeout_s)
            except Exception as exc:
                last = exc
                log.warning("stage %s failed (attempt %d): %s", name, attempt + 1, exc)
                continue
            if len(results) != len(items):
                last = RuntimeError(f"{len(results)} results for {len(items)} items")
                continue
            self.calls[name] += 1
            return list(results)
        raise StageFailed(
            f"stage '{name}' failed {opts.attempts} times; last error: {last}; the stream "
            f"cannot continue, retry it"
        )

    async def shutdown(self) -> None:
        """Stop the tick loop and drop every session."""
        for handle in list(self.handles.values()):
            handle.session.fail(StatusCode.UNAVAILABLE, "the server is shutting down")
            handle.wake()
        self.handles.clear()
        for task in [*self._inferring, self._solving]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._inferring.clear()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
