"""AudioEncoder deployment: PCM16 of many streams -> 16 kHz samples + runnable windows, per call.

Thin shim over :mod:`a2f_actors.audio`, :mod:`a2f_actors.resample` and
:mod:`a2f_actors.windows` (style lesson 2: a plain class with a sync constructor; only
``deployments.app.build_app`` decorates it). Stateless: the resampler and scheduler states come
in with each item and go back with its result. What goes back is each NEW 16 kHz sample once plus
the window/frame indices that became runnable; the windows themselves are cut next to the
network (``face_inference``), never here.

Batching: one call carries one item per stream of the calling ingress replica (the ingress tick
gathers them); there is no ``@serve.batch`` here (calls are already batched, and streams of
several ingress replicas are independent).
"""

from __future__ import annotations

import numpy as np

from a2f_actors import resample
from a2f_actors import windows as win
from a2f_actors.audio import AudioLimits, decode_pcm16
from a2f_actors.errors import A2FError
from deployments.session import records as rec
from deployments.session.packing import Packed, repack, unpack
from deployments.session.windowing import concat

#: The ingress already enforced the per-message and per-clip limits; a tick may hold several
#: messages' worth of PCM, so no length limit applies here.
_UNBOUNDED = AudioLimits(1, 10**7, 1e12, 1e12)


def _schedule(
    state: win.ScheduleState, n_new: int, close: bool
) -> tuple[win.ScheduleState, win.WindowBatch]:
    state, batch = win.feed(state, n_new)
    if close:
        state, tail = win.close(state)
        batch = concat(batch, tail)
    return state, batch


class AudioEncoder:
    """Decode -> resample to 16 kHz -> schedule windows, for many streams per call."""

    def __init__(self, settings: object | None = None) -> None:
        self.settings = settings

    async def encode(self, items: list[rec.EncodeItem] | Packed) -> list[rec.EncodeResult] | Packed:
        """One result per item, in order; a :class:`Packed` call gets a Packed answer."""
        batch, packed = unpack(items)
        return repack(await self._encode(batch), packed)

    async def _encode(self, items: list[rec.EncodeItem]) -> list[rec.EncodeResult]:
        """One result per item, in order (see :mod:`deployments.session.records`)."""
        return [self.encode_one(item) for item in items]

    def encode_one(self, item: rec.EncodeItem) -> rec.EncodeResult:
        """PCM16 bytes --> float32 mono @ native rate --> 16 kHz --> runnable windows."""
        try:
            pcm = (
                decode_pcm16(item.pcm, item.resample.rate, limits=_UNBOUNDED)
                if item.pcm
                else np.zeros(0, np.float32)
            )
        except A2FError as exc:
            empty = rec.empty_batch_like(win.clip_windows(item.schedule.schedule, 0))
            error = rec.StageError("INVALID_ARGUMENT", str(exc))
            return rec.EncodeResult(
                item.stream_id, np.zeros(0, np.float32), item.resample, item.schedule, empty,
                error=error,
            )  # fmt: skip
        rs, out = resample.resample_chunk(item.resample, pcm)
        if item.close:
            rs, tail = resample.flush(rs)
            out = np.concatenate([out, tail])
        schedule, windows = _schedule(item.schedule, len(out), item.close)
        a2e_state, a2e_windows = None, None
        if item.a2e_schedule is not None:
            a2e_state, a2e_windows = _schedule(item.a2e_schedule, len(out), item.close)
        return rec.EncodeResult(
            item.stream_id, out.astype(np.float32, copy=False), rs, schedule, windows,
            a2e_state, a2e_windows,
        )  # fmt: skip
