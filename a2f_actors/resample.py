"""Streaming, anti-aliased polyphase resampler: any rate in [16, 144] kHz -> 16 kHz.

Stage 1b of the pipeline (``float32 mono @ native rate --> float32 mono @ 16 kHz``).

Design (numbers measured by ``benchmarks/bench_resample.py``, see ``docs/audio_and_windows.md``):

* Rational ratio ``up / down = 16000 / rate`` reduced by their gcd (44.1 kHz: 160/441,
  48 kHz: 1/3, 22.05 kHz: 320/441). The prototype low-pass runs at ``up * rate`` Hz.
* Prototype: Kaiser-windowed sinc, passband edge 7.0 kHz, stopband edge 8.0 kHz (the output
  Nyquist, so nothing aliases back below 8 kHz unattenuated), cutoff 7.5 kHz, 80 dB
  stopband (Kaiser beta 7.857). Taps per output sample ``2 * half`` with
  ``half = ceil((A - 7.95) / (2.285 * 2 pi * 1000 / rate) / 2) + 1``: 114 at 22.05 kHz,
  224 at 44.1 kHz, 244 at 48 kHz, 726 at 144 kHz, i.e. about 2.5 ms on each side.
* Each polyphase row (one fractional phase) is normalised to unit DC gain. Rows for the
  ``up`` phases are tabulated exactly when ``up <= MAX_EXACT_PHASES``; larger ``up`` (rates
  that share few factors with 16000, e.g. 44 101 Hz) interpolate linearly between
  ``MAX_EXACT_PHASES`` tabulated phases (max deviation from the exact table 1e-7 on
  full-scale noise at 44 101 Hz, i.e. float32 rounding).
* Zero phase: output sample ``m`` is the filter centred on input time ``m * rate / 16000``
  samples, so it is aligned with time ``m / 16000`` s with no delay to compensate
  afterwards; the price is ``half`` input samples (2.5 ms) of look-ahead while streaming.
  Input before sample 0 is zero.
* Streaming: :class:`ResampleState` carries the input history and absolute input/output
  counts; :func:`resample_chunk` emits every output whose input support has arrived and
  :func:`flush` emits the rest (zero padded) so that a stream of ``N`` input samples yields
  exactly ``round_half_up(N * 16000 / rate)`` outputs whatever the chunking. Each output
  is computed from the same samples and taps with the same reduction, so chunked and
  one-pass outputs are bit-identical.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from a2f_actors.errors import AudioError

__all__ = [
    "OUTPUT_RATE_HZ",
    "FilterDesign",
    "ResampleState",
    "design_filter",
    "flush",
    "new_resample_state",
    "output_length",
    "resample",
    "resample_chunk",
]

OUTPUT_RATE_HZ = 16000  # the networks' sample rate
PASSBAND_EDGE_HZ = 7000.0  # below this the response is flat within the stopband ripple
STOPBAND_EDGE_HZ = 8000.0  # output Nyquist: everything above is >= STOPBAND_ATTENUATION_DB down
STOPBAND_ATTENUATION_DB = 80.0
MAX_EXACT_PHASES = 1024  # larger `up` factors interpolate between this many tabulated phases
_BLOCK_TAPS = 1 << 20  # gathered taps per vectorised block (bounds memory to ~8 MB)


@dataclass(frozen=True, eq=False)
class FilterDesign:
    """Polyphase filter for one input rate.

    Attributes:
        rate: Input sample rate in Hz.
        up: Upsampling factor (16000 / gcd).
        down: Downsampling factor (rate / gcd).
        half: Taps on each side of the output time, in input samples (``2 * half`` taps).
        table: float32 [phases, 2 * half] tap rows; row ``p`` is the phase ``p / phases``
            of an input sample; ``phases + 1`` rows when interpolated.
        phases: Number of tabulated phases (``up`` when exact).
    """

    rate: int
    up: int
    down: int
    half: int
    table: np.ndarray
    phases: int

    @property
    def exact(self) -> bool:
        """True when every phase has its own exact row."""
        return self.phases == self.up

    @property
    def taps(self) -> int:
        """Taps per output sample."""
        return 2 * self.half


@dataclass(frozen=True, eq=False)
class ResampleState:
    """Explicit per-stream resampler state (immutable; every call returns a new one).

    Attributes:
        rate: Input sample rate in Hz.
        history: float32 [H] retained input samples, the first at absolute index
            ``history_start`` (negative indices are the zero padding before the stream).
        history_start: Absolute input index of ``history[0]``.
        n_in: Input samples consumed so far.
        n_out: 16 kHz samples emitted so far.
        flushed: True once :func:`flush` has emitted the tail; no more input is accepted.
    """

    rate: int
    history: np.ndarray
    history_start: int
    n_in: int = 0
    n_out: int = 0
    flushed: bool = False


@functools.lru_cache(maxsize=16)
def design_filter(rate: int) -> FilterDesign:
    """Design (and cache) the polyphase low-pass for ``rate`` Hz -> 16 kHz.

    Args:
        rate: Input sample rate in Hz (> 0).

    Returns:
        The filter; ``up == down == 1`` and a single unit tap at 16 kHz.
    """
    g = math.gcd(rate, OUTPUT_RATE_HZ)
    up, down = OUTPUT_RATE_HZ // g, rate // g
    if up == down:
        return FilterDesign(rate, 1, 1, 1, np.array([[0.0, 1.0]], np.float32), 1)
    width = 2.0 * math.pi * (STOPBAND_EDGE_HZ - PASSBAND_EDGE_HZ) / rate  # rad / input sample
    half = math.ceil((STOPBAND_ATTENUATION_DB - 7.95) / (2.285 * width) / 2) + 1
    beta = 0.1102 * (STOPBAND_ATTENUATION_DB - 8.7)
    phases = up if up <= MAX_EXACT_PHASES else MAX_EXACT_PHASES
    rows = phases if phases == up else phases + 1
    frac = np.arange(rows, dtype=np.float64)[:, None] / phases
    # Row p, tap j reads input sample base - half + 1 + j for an output at base + p/phases.
    t = frac + (half - 1) - np.arange(2 * half, dtype=np.float64)[None, :]
    cutoff = 0.5 * (PASSBAND_EDGE_HZ + STOPBAND_EDGE_HZ) / rate  # cycles / input sample
    x = np.clip(t / half, -1.0, 1.0)
    taps = 2 * cutoff * np.sinc(2 * cutoff * t) * np.i0(beta * np.sqrt(1.0 - x * x))
    taps /= taps.sum(axis=1, keepdims=True)  # unit DC gain for every phase
    return FilterDesign(rate, up, down, half, taps.astype(np.float32), phases)


def output_length(n_in: int, rate: int) -> int:
    """Number of 16 kHz samples for ``n_in`` input samples: round half up of n_in*16000/rate."""
    return (2 * n_in * OUTPUT_RATE_HZ + rate) // (2 * rate)


def new_resample_state(rate: int) -> ResampleState:
    """Fresh state for a stream at ``rate`` Hz (history = the zero padding before sample 0)."""
    design = design_filter(int(rate))
    return ResampleState(int(rate), np.zeros(design.half, np.float32), -design.half)


def resample_chunk(state: ResampleState, chunk: np.ndarray) -> tuple[ResampleState, np.ndarray]:
    """Feed input samples; emit every 16 kHz sample whose filter support has arrived.

    Args:
        state: Stream state from :func:`new_resample_state` or a previous call.
        chunk: float32 [n] mono samples at ``state.rate`` Hz (any n >= 0).

    Returns:
        The new state and float32 [k] samples at 16 kHz (output indices
        ``state.n_out .. state.n_out + k - 1``; about ``half`` input samples lag behind).

    Raises:
        AudioError: The stream was already flushed.
    """
    if state.flushed:
        raise AudioError("resampler stream already flushed; start a new stream for more audio")
    chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
    design = design_filter(state.rate)
    n_in = state.n_in + len(chunk)
    if design.up == design.down:
        return replace(state, n_in=n_in, n_out=n_in), chunk.copy()
    buf = np.concatenate([state.history, chunk])
    # Output m needs inputs up to (m * down) // up + half: m * down < (n_in - half) * up.
    stop = max(state.n_out, -(-(n_in - design.half) * design.up // design.down))
    out = _emit(design, buf, state.history_start, state.n_out, stop)
    return _advance(state, design, buf, n_in, stop), out


def flush(state: ResampleState) -> tuple[ResampleState, np.ndarray]:
    """End the stream: emit the remaining outputs, reading zeros past the last input.

    Args:
        state: Stream state.

    Returns:
        The flushed state and float32 [k] final samples; afterwards ``n_out`` equals
        :func:`output_length` of ``n_in``.
    """
    if state.flushed:
        return state, np.zeros(0, np.float32)
    design = design_filter(state.rate)
    total = output_length(state.n_in, state.rate)
    done = replace(state, history=np.zeros(0, np.float32), n_out=total, flushed=True)
    if total <= state.n_out:
        return done, np.zeros(0, np.float32)
    last_needed = (total - 1) * design.down // design.up + design.half
    pad = max(0, last_needed + 1 - (state.history_start + len(state.history)))
    buf = np.concatenate([state.history, np.zeros(pad, np.float32)])
    return done, _emit(design, buf, state.history_start, state.n_out, total)


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """One-pass resampling of a whole clip to 16 kHz.

    Args:
        samples: float32 [N] mono samples at ``rate`` Hz.
        rate: Input sample rate in Hz.

    Returns:
        float32 [output_length(N, rate)] samples at 16 kHz.
    """
    state, head = resample_chunk(new_resample_state(rate), samples)
    _, tail = flush(state)
    return np.concatenate([head, tail])


def _advance(
    state: ResampleState, design: FilterDesign, buf: np.ndarray, n_in: int, stop: int
) -> ResampleState:
    """State after emitting outputs < stop: keep inputs from the next output's first tap."""
    keep_from = stop * design.down // design.up - design.half + 1
    cut = min(max(0, keep_from - state.history_start), len(buf))
    return replace(
        state,
        history=buf[cut:].copy(),
        history_start=state.history_start + cut,
        n_in=n_in,
        n_out=stop,
    )


def _emit(design: FilterDesign, buf: np.ndarray, buf_start: int, m0: int, m1: int) -> np.ndarray:
    """Compute 16 kHz outputs m0..m1-1 from ``buf`` (float32 [B], first index ``buf_start``)."""
    out = np.empty(max(0, m1 - m0), np.float32)
    if len(out) == 0:
        return out
    windows = sliding_window_view(buf, design.taps)  # [B - taps + 1, taps] view, no copy
    block = max(1, _BLOCK_TAPS // design.taps)
    for b0 in range(m0, m1, block):  # blocks of outputs, each fully vectorised
        m = np.arange(b0, min(b0 + block, m1), dtype=np.int64)
        pos = m * design.down
        first = pos // design.up - design.half + 1 - buf_start
        rows = _phase_rows(design, pos % design.up)
        out[b0 - m0 : b0 - m0 + len(m)] = np.einsum("ij,ij->i", windows[first], rows)
    return out


def _phase_rows(design: FilterDesign, phase: np.ndarray) -> np.ndarray:
    """Tap rows float32 [n, taps] for integer phases ``phase`` (int64 [n], 0 <= p < up)."""
    if design.exact:
        return design.table[phase]
    grid = phase * design.phases
    lo = grid // design.up
    w = ((grid - lo * design.up) / design.up).astype(np.float32)[:, None]
    return design.table[lo] * (1 - w) + design.table[lo + 1] * w
