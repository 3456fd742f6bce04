"""Resampler accuracy and speed per input rate (``make bench-resample``).

Columns:
  gain@1k      gain of a 1 kHz tone (dB, least-squares sine fit on the steady part)
  att@8.5k     output RMS for an 8.5 kHz input tone relative to its input RMS (dB; it
               would alias to 7.5 kHz)
  worst>=8k    highest output level over tones from 8.0 kHz up to min(rate/2, 24 kHz) (dB)
  ripple<=7k   max - min gain over 40 tones from 50 Hz to 7 kHz (dB)
  chunk err    max |chunked - one pass| with 640-sample chunks (NIM resampling chunk_size)
  x RT 1pass   speed of one pass over 10 s of noise, in multiples of real time
  x RT stream  same, fed in 640-sample chunks (state passed explicitly each call)

Usage: ``python benchmarks/bench_resample.py [--seconds 10] [--rates 44100,48000]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from a2f_actors.resample import design_filter, flush, new_resample_state, resample, resample_chunk

RATES = [22050, 24000, 32000, 44100, 48000, 88200, 96000, 144000, 44101]
CHUNK = 640
EDGE = 200  # output samples skipped at each end (filter half length is 40)


def _tone_out(rate: int, freq: float, seconds: float = 0.25) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return resample(x, rate)[EDGE:-EDGE].astype(np.float64)


def gain_db(rate: int, freq: float) -> float:
    y = _tone_out(rate, freq)
    t = (np.arange(len(y)) + EDGE) / 16000
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(20 * np.log10(np.hypot(*coef) / 0.5))


def level_db(rate: int, freq: float) -> float:
    y = _tone_out(rate, freq)
    return float(20 * np.log10(max(np.sqrt(np.mean(y**2)), 1e-12) / (0.5 / np.sqrt(2))))


def speed(rate: int, seconds: float) -> tuple[float, float, float]:
    x = np.random.default_rng(0).uniform(-0.5, 0.5, int(rate * seconds)).astype(np.float32)
    t0 = time.perf_counter()
    one = resample(x, rate)
    t1 = time.perf_counter()
    state, outs = new_resample_state(rate), []
    for i in range(0, len(x), CHUNK):
        state, out = resample_chunk(state, x[i : i + CHUNK])
        outs.append(out)
    state, tail = flush(state)
    t2 = time.perf_counter()
    err = float(np.max(np.abs(np.concatenate([*outs, tail]) - one)))
    return seconds / (t1 - t0), seconds / (t2 - t1), err


def row(rate: int, seconds: float) -> str:
    d = design_filter(rate)
    ripple = [gain_db(rate, f) for f in np.linspace(50, 7000, 40)]
    stop = np.arange(8000.0, min(rate / 2, 24000.0), 250.0)
    worst = max(level_db(rate, f) for f in stop) if len(stop) else float("nan")
    one, stream, err = speed(rate, seconds)
    return (
        f"{rate:>7} {d.up:>5}/{d.down:<6} {d.taps:>5} {gain_db(rate, 1000.0):>+9.5f} "
        f"{level_db(rate, 8500.0):>9.1f} {worst:>9.1f} {max(ripple) - min(ripple):>10.5f} "
        f"{err:>9.1e} {one:>10.0f} {stream:>10.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per speed run")
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    args = parser.parse_args()
    print(
        f"{'rate':>7} {'up/down':>12} {'taps':>5} {'gain@1k':>9} {'att@8.5k':>9} "
        f"{'worst>=8k':>9} {'ripple<=7k':>10} {'chunk err':>9} {'xRT 1pass':>10} "
        f"{'xRT strm':>10}"
    )
    for rate in map(int, args.rates.split(",")):
        print(row(rate, args.seconds), flush=True)


if __name__ == "__main__":
    main()
