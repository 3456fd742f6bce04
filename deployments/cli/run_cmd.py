"""``a2f run`` (``make run``): a local cluster on the default models, a sample animated, serving.

``a2f run`` starts a local Ray instance, Serve with the app of :func:`deployments.app.build_app`
(the bundled tritonserver on CPU owned by the TritonOwner deployment, the stage deployments and
the ingress: NIM gRPC on 52000, HTTP/WebSocket on 8000), prints the endpoints, animates the
bundled sample clip (``deployments/data/sample_speech.wav``, or ``--audio``) through the NIM
gRPC API into ``<output>/run_<UTC time>/`` (``animation_frames.csv`` in NVIDIA's sample-client
layout and ``animation.json``), then serves until Ctrl-C (or SIGTERM), which stops Serve, Ray
and Triton. ``--once`` exits after the sample. The default models are the packages ``make
train`` writes into ``models/``; without them ``a2f run`` stops and says so (``--settings``
serves other packages).

``a2f run --offline`` is the earlier offline path: it validates the configuration and streams a
clip through decode -> resample -> window scheduling, cutting the network inputs, without
animating anything.
"""

from __future__ import annotations

import argparse
import json
import time
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from a2f_actors import audio, resample, windows
from a2f_actors.config import A2FConfig, load_config

DEMO_RATE_HZ = 44100  # a rate that needs real resampling
DEMO_SECONDS = 3.0
CHUNK_SECONDS = 0.1  # a real-time client sends 100 ms chunks
OFFLINE_BANNER = (
    "a2f run --offline: OFFLINE PATH ONLY. No animation is produced. This run validates the\n"
    "configuration, streams audio through decode -> resample -> window scheduling, and cuts the\n"
    "network input tensors the pipeline sends to Triton. (a2f run without --offline serves.)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a2f run`` to the top-level parser."""
    from deployments.cli import run_serve

    run = subparsers.add_parser(
        "run",
        help="start the cluster on the default models, animate a sample, serve until Ctrl-C",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--once", action="store_true", help="exit after animating the sample")
    run.add_argument("--offline", action="store_true", help="the offline path (no cluster)")
    run.add_argument("--settings", type=Path, help="serve settings YAML (default: models/)")
    run.add_argument("--models-dir", type=Path, default=Path("models"), help="default packages")
    run.add_argument("--audio", type=Path, help="WAV to animate (default: the bundled sample)")
    run.add_argument("--api-key", help="key for the sample stream when tenancy.auth is on")
    run.add_argument("--num-cpus", type=int, default=4, help="logical CPUs for ray.init")
    run.add_argument("--stylization", type=Path, help="stylization_config.yaml to overlay")
    run.add_argument("--deployment", type=Path, help="deployment_config.yaml to overlay")
    run.add_argument("--advanced", type=Path, help="advanced_config.yaml to overlay")
    run.add_argument("-o", "--output", type=Path, default=Path("out"), help="output folder")
    run.set_defaults(func=lambda a: run_offline(a) if a.offline else run_serve.run(a))


def demo_clip(rate: int = DEMO_RATE_HZ, seconds: float = DEMO_SECONDS) -> np.ndarray:
    """A deterministic speech-like test signal (not speech): float32 [n] at ``rate`` Hz.

    A 120 Hz glottal-like harmonic series shaped by two moving formants, gated into 4 syllables
    per second with pauses, so the window schedules see both sound and silence.
    """
    t = np.arange(int(rate * seconds)) / rate
    f0 = 120.0 * (1.0 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    formants = (700 + 300 * np.sin(2 * np.pi * 1.3 * t), 1200 + 600 * np.sin(2 * np.pi * 0.9 * t))
    sig = np.zeros_like(t)
    for h in range(1, 30):
        freq = h * f0
        gain = sum(np.exp(-(((freq - fm) / 150.0) ** 2)) for fm in formants) / h**0.5
        sig += gain * np.sin(h * phase)
    gate = (np.sin(2 * np.pi * 4.0 * t) > -0.2) * (np.sin(2 * np.pi * 0.5 * t) > -0.8)
    sig *= gate
    return (0.3 * sig / np.max(np.abs(sig))).astype(np.float32)


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def _limits(cfg: A2FConfig) -> audio.AudioLimits:
    s = cfg.advanced.input_sanitization
    return audio.AudioLimits(
        min_sample_rate=s.min_sample_rate,
        max_sample_rate=s.max_sample_rate,
        max_audio_buffer_size_second=s.max_audio_buffer_size_second,
        max_audio_clip_size_second=s.max_audio_clip_size_second,
    )


def stream_offline(samples: np.ndarray, rate: int, input_strength: float) -> dict[str, Any]:
    """Stream a clip chunk by chunk through resampling and the three window schedules.

    Args:
        samples: float32 [n] mono audio at ``rate`` Hz.
        rate: Input sample rate in Hz.
        input_strength: Gain the regression network input gets (``input_strength``).

    Returns:
        Per schedule: windows, frames, peak retained samples and the input tensor shapes.
    """
    schedules = {
        "regression_30fps": windows.regression_schedule(30, 1),
        "diffusion_60fps": windows.diffusion_schedule(),
        "a2e": windows.a2e_schedule(30, 1, windows.A2E_DEFAULT_WINDOW, 29),
    }
    states = {k: windows.new_schedule_state(s) for k, s in schedules.items()}
    accs = {k: windows.AudioAccumulator() for k in schedules}
    stats = {k: {"windows": 0, "frames": 0, "peak_retained": 0} for k in schedules}
    rs = resample.new_resample_state(rate)
    step = max(1, int(rate * CHUNK_SECONDS))
    chunks = [samples[i : i + step] for i in range(0, len(samples), step)]
    for chunk in [*chunks, None]:
        if chunk is None:
            rs, out = resample.flush(rs)
        else:
            rs, out = resample.resample_chunk(rs, chunk)
        for key in schedules:
            accs[key] = windows.accumulate(accs[key], out)
            states[key], batch = windows.feed(states[key], len(out))
            batches = [batch]
            if chunk is None:  # end of audio: the flushed tail first, then the zero-padded rest
                states[key], tail = windows.close(states[key])
                batches.append(tail)
            gain = input_strength if key.startswith("regression") else 1.0
            st = stats[key]
            for b in batches:
                cut = windows.read_windows(accs[key], b, gain)  # what Triton will receive
                st["windows"] += len(b)
                st["frames"] += len(b.frame)
            st["peak_retained"] = max(st["peak_retained"], len(accs[key].samples))
            st["window_shape"] = list(cut.shape[1:])
            accs[key] = windows.drop_consumed(accs[key], states[key])
    for key, st in stats.items():
        st["samples_16k"] = states[key].accumulated
    return stats


def run_offline(args: argparse.Namespace) -> int:
    """``a2f run --offline``: decode, resample and window scheduling only (no animation)."""
    print(OFFLINE_BANNER, flush=True)
    t0 = time.perf_counter()
    cfg = load_config(args.stylization, args.deployment, args.advanced)
    a2f = cfg.stylization.a2f
    print(
        f"\nconfig OK: inference_type={a2f.inference_type} "
        f"regression={a2f.regression_model.inference_model_id} "
        f"diffusion={a2f.diffusion_model.inference_model_id}/{a2f.diffusion_model.identity}"
    )
    run_dir = args.output / datetime.now(UTC).strftime("run_%Y%m%dT%H%M%SZ")
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.audio is None:
        clip, rate, source = demo_clip(), DEMO_RATE_HZ, "generated demo signal (not speech)"
        _write_wav(run_dir / "demo_input.wav", clip, rate)
    else:
        decoded = audio.decode_wav(args.audio, limits=_limits(cfg))
        clip, rate, source = decoded.samples, decoded.sample_rate, str(args.audio)
    audio.check_clip_length(len(clip), rate, _limits(cfg))
    strength = a2f.face_params.input_strength or 1.0
    stats = stream_offline(clip, rate, strength)
    summary = {
        "status": "offline path only: no animation (a2f run without --offline animates)",
        "audio": {"source": source, "sample_rate": rate, "seconds": len(clip) / rate},
        "config": cfg.to_data(),
        "schedules": stats,
        "elapsed_s": round(time.perf_counter() - t0, 3),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"audio: {source}, {rate} Hz, {len(clip) / rate:.2f} s, streamed in 100 ms chunks")
    print(f"{'schedule':<18}{'windows':>9}{'frames':>8}{'window':>9}{'peak kept':>11}")
    for key, st in stats.items():
        shape = "x".join(map(str, st.get("window_shape", [])))
        print(f"{key:<18}{st['windows']:>9}{st['frames']:>8}{shape:>9}{st['peak_retained']:>11}")
    print(f"\nsummary written to {run_dir / 'summary.json'} ({summary['elapsed_s']} s)")
    return 0
