"""Output pacing and input-rate policing (pure, clock passed in: unit-testable).

* :class:`Pacer`: burst mode sends each frame when it is made; paced mode sends at most
  ``fps`` frames per second (NIM 2.0 ``pipeline_parameters.blendshape_streaming_fps``), each
  frame no earlier than ``previous send + 1/fps``. Time codes are unaffected: they stay the
  animation's (frame index / animation fps).
* :class:`InputRateMonitor`: NIM ``input_sanitization.low_fps`` / ``low_fps_max_duration_second``:
  a client whose audio arrives slower than ``low_fps`` animation frames per second of wall time
  for longer than the allowed duration is cut (DEADLINE_EXCEEDED).
"""

from __future__ import annotations

from deployments.session.errors import ServiceError, StatusCode


class Pacer:
    """When to send the next frame.

    Args:
        fps: frames per second, or None for burst mode.
    """

    def __init__(self, fps: float | None) -> None:
        self.period = 0.0 if fps is None else 1.0 / float(fps)
        self._next: float | None = None

    def delay(self, now: float) -> float:
        """Seconds to wait before sending one more frame at time ``now`` (and book it)."""
        if self.period == 0.0:
            return 0.0
        due = now if self._next is None else max(now, self._next)
        self._next = due + self.period
        return due - now


class InputRateMonitor:
    """Cuts clients that send audio slower than real time for too long.

    Args:
        fps: the stream's animation frame rate (audio seconds x fps = frames of audio).
        low_fps: frames of audio per wall second below which the client is slow (0 = off).
        max_slow_s: how long the client may stay slow.
    """

    def __init__(self, fps: float, low_fps: float, max_slow_s: float) -> None:
        self.fps, self.low_fps, self.max_slow_s = fps, low_fps, max_slow_s
        self._start: float | None = None
        self._slow_since: float | None = None

    def check(self, audio_seconds: float, now: float) -> None:
        """Account for the audio received so far at wall time ``now``.

        Raises:
            ServiceError: DEADLINE_EXCEEDED when slow for longer than ``max_slow_s``.
        """
        if self.low_fps <= 0:
            return
        if self._start is None:
            self._start = now
            return
        elapsed = now - self._start
        # grace: the first second of a stream measures nothing useful
        rate = audio_seconds * self.fps / elapsed if elapsed > 1.0 else float("inf")
        if rate >= self.low_fps:
            self._slow_since = None
            return
        self._slow_since = self._slow_since if self._slow_since is not None else now
        if now - self._slow_since > self.max_slow_s:
            raise ServiceError(
                StatusCode.DEADLINE_EXCEEDED,
                f"client audio arrives at {rate:.1f} frames/s, below low_fps={self.low_fps:g} "
                f"for more than {self.max_slow_s:g} s; send audio at least in real time",
            )
