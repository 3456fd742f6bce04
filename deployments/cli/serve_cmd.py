"""``a2f serve`` (run the cluster in the foreground) and ``a2f animate`` (NIM gRPC client).

``a2f serve --settings cluster/serve_config.local.yaml`` starts a local Ray instance, Serve and
the app of :func:`deployments.app.build_app`, prints the endpoints and serves until Ctrl-C,
then shuts everything down. ``a2f animate FILE.wav -o out.csv [--url host:port]`` streams a
WAV file through ``ProcessAudioStream`` of a running cluster and writes the frames in NVIDIA's
sample-client CSV layout (``timeCode, blendShapes.<Name>...``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a2f serve`` and ``a2f animate``."""
    serve = subparsers.add_parser("serve", help="run the serving cluster in the foreground")
    serve.add_argument("--settings", type=Path, help="serve settings YAML (a2f_serve: ...)")
    serve.add_argument("--grpc-port", type=int, help="NIM gRPC port (default 52000)")
    serve.add_argument("--backend", choices=["triton", "onnx", "fake"], help="inference backend")
    serve.add_argument("--num-cpus", type=int, default=2, help="logical CPUs for ray.init")
    serve.set_defaults(func=_serve)
    animate = subparsers.add_parser("animate", help="animate a WAV file through a running cluster")
    animate.add_argument("wav", type=Path, help="16-bit PCM WAV (mono or averaged to mono)")
    animate.add_argument("-o", "--output", type=Path, default=Path("animation_frames.csv"))
    animate.add_argument("--url", default="127.0.0.1:52000", help="host:port of the NIM gRPC API")
    animate.add_argument("--model", help="model id (sent as x-a2f-model metadata)")
    animate.add_argument("--chunk-s", type=float, default=1.0, help="seconds of audio per message")
    animate.set_defaults(func=_animate)


def _serve(args: argparse.Namespace) -> int:
    from deployments.cli.run_serve import endpoints, local_cluster, wait_for_signal
    from deployments.settings import load_settings

    overrides = {k: v for k, v in (("grpc_port", args.grpc_port), ("backend", args.backend)) if v}
    settings = load_settings(args.settings, **overrides)
    # Same cluster lifecycle as `a2f run`: HTTP at the root, Ctrl-C stops Serve, Ray and Triton.
    with local_cluster(settings, args.num_cpus) as port:
        print(endpoints(settings, port), flush=True)
        wait_for_signal()
    return 0


def _animate(args: argparse.Namespace) -> int:
    import numpy as np

    from a2f_actors.audio import decode_wav
    from deployments.ingress.grpc.client import animate, write_csv

    decoded = decode_wav(args.wav)
    pcm = np.clip(np.round(decoded.samples * 32767), -32768, 32767).astype("<i2").tobytes()
    metadata = [("x-a2f-model", args.model)] if args.model else []
    t0 = time.perf_counter()
    result = asyncio.run(
        animate(args.url, pcm, decoded.sample_rate, chunk_s=args.chunk_s, metadata=metadata)
    )
    elapsed = time.perf_counter() - t0
    if result.status is None or result.status[0] != "SUCCESS":
        print(f"stream failed: {result.status} ({result.grpc_code.name})")
        return 1
    write_csv(result, args.output)
    print(
        f"{len(result.time_codes)} frames ({decoded.duration_s:.2f} s of audio) in {elapsed:.2f} s"
        f" -> {args.output}"
    )
    return 0
