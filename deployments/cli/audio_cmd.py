"""``a2f audio ...``: offline audio tools (decode, resample to 16 kHz, window schedule).

``a2f audio windows FILE.wav [--fps 30] [--mode regression|diffusion|a2e] [--json]`` decodes a
WAV file, resamples it to 16 kHz and prints the SDK window schedule the pipeline would run:
frame and window counts, first and last window, duration and resampler statistics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from typing import Any

MODES = ("regression", "diffusion", "a2e")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``audio`` command group to the top-level parser."""
    audio = subparsers.add_parser("audio", help="decode, resample and schedule audio offline")
    sub = audio.add_subparsers(dest="audio_command", metavar="AUDIO_COMMAND")
    win = sub.add_parser(
        "windows",
        help="print the window schedule of a WAV file",
        description="Decode a WAV file, resample it to 16 kHz and print the window schedule.",
    )
    win.add_argument("file", metavar="FILE.wav", help="16-bit PCM or 32-bit float WAV file")
    win.add_argument(
        "--fps",
        type=Fraction,
        default=None,
        help="frame rate, e.g. 30 or 30000/1001 (default 30; diffusion is always 60)",
    )
    win.add_argument("--mode", choices=MODES, default="regression", help="network schedule")
    win.add_argument("--a2e-window", type=int, default=60000, help="A2E window in samples")
    win.add_argument(
        "--inferences-to-skip", type=int, default=0, help="A2E frames skipped between inferences"
    )
    win.add_argument("--json", action="store_true", help="print one JSON object")
    win.set_defaults(func=_windows)
    audio.set_defaults(func=lambda _args: audio.print_help() or 2)


def _windows(args: argparse.Namespace) -> int:
    """Run ``a2f audio windows``; returns the exit code (2 on invalid audio)."""
    from a2f_actors.errors import AudioError

    try:
        summary = _summarise(args)
    except (AudioError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2) if args.json else _format(summary))
    return 0


def _schedule(args: argparse.Namespace) -> Any:
    from a2f_actors import windows

    fps = args.fps if args.fps is not None else Fraction(30)
    if args.mode == "diffusion":
        return windows.diffusion_schedule()
    if args.mode == "a2e":
        return windows.a2e_schedule(
            fps.numerator, fps.denominator, args.a2e_window, args.inferences_to_skip
        )
    return windows.regression_schedule(fps.numerator, fps.denominator)


def _summarise(args: argparse.Namespace) -> dict[str, Any]:
    """Decode --> resample --> schedule; return a JSON-ready summary."""
    from a2f_actors import audio, resample, windows

    clip = audio.decode_wav(args.file)  # WAV --> float32 mono @ native rate
    design = resample.design_filter(clip.sample_rate)
    t0 = time.perf_counter()
    samples = resample.resample(clip.samples, clip.sample_rate)  # --> float32 mono @ 16 kHz
    elapsed = time.perf_counter() - t0
    schedule = _schedule(args)
    batch = windows.clip_windows(schedule, len(samples))  # --> windows + frame indices
    return {
        "file": str(args.file),
        "source": {
            "sample_rate_hz": clip.sample_rate,
            "channels": clip.channels,
            "encoding": clip.encoding,
            "samples": len(clip.samples),
            "duration_s": round(clip.duration_s, 6),
        },
        "resample": {
            "up": design.up,
            "down": design.down,
            "taps": design.taps if design.up != design.down else 0,
            "exact_phases": design.exact,
            "lookahead_ms": round(1000 * design.half / clip.sample_rate, 3)
            if design.up != design.down
            else 0.0,
            "samples_16k": len(samples),
            "peak": round(float(abs(samples).max()), 6) if len(samples) else 0.0,
            "seconds": round(elapsed, 6),
            "x_real_time": round(clip.duration_s / elapsed, 1) if elapsed > 0 else None,
        },
        "schedule": {
            "mode": schedule.kind,
            "frame_rate": str(schedule.frame_rate),
            "window_size": schedule.window_size,
            "stride_samples": str(schedule.stride),
            "start_offset": schedule.start_offset,
            "target_offset": schedule.target_offset,
        },
        "windows": len(batch),
        "frames": len(batch.frame),
        "first_window": _window_dict(batch, 0),
        "last_window": _window_dict(batch, len(batch) - 1),
    }


def _window_dict(batch: Any, row: int) -> dict[str, Any] | None:
    if row < 0 or row >= len(batch):
        return None
    frames = batch.frame[batch.frame_row == row]
    times = batch.time_code[batch.frame_row == row]
    return {
        "k": int(batch.window[row]),
        "start": int(batch.start[row]),
        "end": int(batch.end[row]),
        "target": int(batch.target[row]),
        "frames": [int(frames[0]), int(frames[-1])] if len(frames) else [],
        "time_s": [round(float(times[0]), 6), round(float(times[-1]), 6)] if len(times) else [],
    }


def _format_window(w: dict[str, Any] | None) -> str:
    if w is None:
        return "none"
    frames = f"frames {w['frames'][0]}..{w['frames'][1]}" if w["frames"] else "no frames"
    return f"k={w['k']} [{w['start']}, {w['end']}) target {w['target']}, {frames}"


def _format(s: dict[str, Any]) -> str:
    src, rs, sch = s["source"], s["resample"], s["schedule"]
    speed = f"{rs['x_real_time']}x real time" if rs["x_real_time"] else "instant"
    return "\n".join(
        [
            f"file:      {s['file']}",
            f"source:    {src['sample_rate_hz']} Hz, {src['channels']} ch, {src['encoding']}, "
            f"{src['duration_s']:.3f} s ({src['samples']} samples)",
            f"resample:  x{rs['up']}/{rs['down']}, {rs['taps']} taps, look-ahead "
            f"{rs['lookahead_ms']} ms -> {rs['samples_16k']} samples @ 16 kHz "
            f"(peak {rs['peak']}), {rs['seconds']:.4f} s, {speed}",
            f"schedule:  {sch['mode']} @ {sch['frame_rate']} fps, window {sch['window_size']}, "
            f"stride {sch['stride_samples']}, start offset {sch['start_offset']}, "
            f"target offset {sch['target_offset']} (samples @ 16 kHz)",
            f"windows:   {s['windows']}, frames: {s['frames']}",
            f"first:     {_format_window(s['first_window'])}",
            f"last:      {_format_window(s['last_window'])}",
        ]
    )
