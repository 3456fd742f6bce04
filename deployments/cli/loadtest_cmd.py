"""``a2f loadtest run|burst|sweep|soak|compare``: load a running cluster through its NIM gRPC API.

Glue only: the load generator lives in :mod:`loadtest` (a client; docs/loadtest.md). Every
command writes a results folder (``--out``, default ``results/loadtest/<scenario>-<time>``)
with ``report.md``, ``result.json``, ``levels.csv``, ``streams.csv`` and plots, and shows a
progress line while it runs. Exit code 0 when every level met the SLO (``compare``: always 0).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]


def _import_loadtest() -> None:
    """Make ``loadtest`` importable from a source checkout (it is not an installed package)."""
    try:
        import loadtest  # noqa: F401
    except ModuleNotFoundError:
        sys.path.insert(0, str(_ROOT))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a2f loadtest``."""
    top = subparsers.add_parser("loadtest", help="load-test a running cluster (NIM gRPC)")
    sub = top.add_subparsers(dest="loadtest_command", metavar="SCENARIO", required=True)
    run = sub.add_parser("run", help="fixed concurrency for a duration (real time)")
    _common(run)
    run.add_argument("--streams", type=int, default=8, help="concurrent streams")
    burst = sub.add_parser("burst", help="N clips at once, as fast as possible (throughput)")
    _common(burst)
    burst.add_argument("--streams", type=int, default=16, help="concurrent streams")
    sweep = sub.add_parser("sweep", help="1, 2, 4, ... streams until the SLO breaks")
    _common(sweep)
    sweep.add_argument("--levels", default="1,2,4,8,16,32,64,128", help="stream counts")
    sweep.add_argument(
        "--repeats", type=int, default=1,
        help="run the whole sweep this many times; the answer is the median (a VM's speed "
        "moves between sweeps)",
    )  # fmt: skip
    soak = sub.add_parser("soak", help="fixed concurrency for a long time, in windows")
    _common(soak)
    soak.add_argument("--streams", type=int, default=8, help="concurrent streams")
    soak.add_argument("--total-s", type=float, default=600.0, help="soak length in seconds")
    compare = sub.add_parser("compare", help="compare two results folders")
    compare.add_argument("a", type=Path, help="results folder A")
    compare.add_argument("b", type=Path, help="results folder B")
    compare.add_argument("-o", "--output", type=Path, help="write the comparison here too")
    for parser in (run, burst, sweep, soak, compare):
        parser.set_defaults(func=_main)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default="127.0.0.1:52000", help="host:port of the NIM gRPC API")
    p.add_argument("--clips", nargs="+", help="WAV files or globs (default: pocketsphinx speech)")
    p.add_argument("--chunk-ms", type=float, default=40.0, help="audio per message (20-100 ms)")
    p.add_argument("--duration-s", type=float, default=20.0, help="seconds per level")
    p.add_argument("--model", help="model id (x-a2f-model metadata)")
    p.add_argument("--tenant", help="tenant id (x-a2f-tenant metadata)")
    p.add_argument("--api-key", help="tenant key (authorization: Bearer ...)")
    p.add_argument("--transport", choices=["grpc", "ws"], default="grpc", help="NIM gRPC or WS")
    p.add_argument("--ws-url", default="ws://127.0.0.1:8000/v1/stream", help="WebSocket URL")
    p.add_argument(
        "--streams-per-connection", type=int, default=1,
        help="gRPC streams sharing one HTTP/2 connection (1: a connection per stream)",
    )  # fmt: skip
    p.add_argument("--fps", type=int, default=30, help="the service's frame rate")
    p.add_argument("--slo-p99-ms", type=float, default=150.0, help="p99 frame latency bound")
    p.add_argument("--slo-min-fps", type=float, default=29.5, help="lowest fps per stream")
    p.add_argument("--metrics-url", help="Prometheus endpoint, e.g. http://127.0.0.1:9464/metrics")
    p.add_argument("--timeout-s", type=float, default=120.0, help="deadline of one stream")
    p.add_argument("--max-level-s", type=float, default=600.0, help="hard bound per level")
    p.add_argument("--cluster-pid", type=int, help="pid of the local cluster (a2f serve) for CPU")
    p.add_argument("--out", type=Path, help="results folder")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def build_config(args: argparse.Namespace) -> Any:
    """The :class:`loadtest.scenarios.LoadConfig` of the arguments."""
    _import_loadtest()
    from loadtest.accounting import SLO
    from loadtest.generator import StreamOptions
    from loadtest.scenarios import LoadConfig

    stream = StreamOptions(
        url=args.url, chunk_ms=args.chunk_ms, realtime=args.loadtest_command != "burst",
        fps=args.fps, model=args.model, tenant=args.tenant, api_key=args.api_key,
        timeout_s=args.timeout_s, transport=args.transport, ws_url=args.ws_url,
        streams_per_connection=args.streams_per_connection,
    )  # fmt: skip
    slo = SLO(min_fps=args.slo_min_fps, p99_latency_ms=args.slo_p99_ms)
    return LoadConfig(
        stream=stream, duration_s=args.duration_s, slo=slo, metrics_url=args.metrics_url,
        max_wall_s=args.max_level_s, cluster_pid=args.cluster_pid,
    )  # fmt: skip


class Progress:
    """One status line, rewritten about once per second."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.t0 = time.monotonic()
        self._frames = 0
        self._last = self.t0

    def __call__(self, level: str, live: Any) -> None:
        """Print the line for ``level`` from the generator's live counters."""
        if self.quiet:
            return
        now = time.monotonic()
        rate = (live.frames - self._frames) / max(1e-6, now - self._last)
        self._frames, self._last = live.frames, now
        codes = " ".join(f"{k}={v}" for k, v in live.codes.items())
        line = (
            f"[{now - self.t0:6.1f}s] {level}: active {live.active:3d} done {live.finished:4d} "
            f"failed {live.failed:3d} frames {live.frames:7d} ({rate:6.0f}/s) {codes}"
        )
        print("\r" + line[:150].ljust(150), end="", flush=True)

    def done(self) -> None:
        """End the status line."""
        if not self.quiet:
            print(flush=True)


async def _scenario(args: argparse.Namespace, cfg: Any, clips: list, progress: Progress) -> list:
    from loadtest import scenarios as sc

    cmd = args.loadtest_command
    if cmd == "run":
        return await sc.steady(cfg, clips, args.streams, progress)
    if cmd == "burst":
        return await sc.burst(cfg, clips, args.streams, progress)
    if cmd == "soak":
        return await sc.soak(cfg, clips, args.streams, args.total_s, progress)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if args.repeats < 1:
        raise SystemExit(f"--repeats {args.repeats}: give 1 or more")
    return await sc.sweep(cfg, clips, levels, progress, repeats=args.repeats)


def _config_summary(args: argparse.Namespace, cfg: Any, clips: list) -> dict[str, Any]:
    return {
        "scenario": args.loadtest_command,
        "url": cfg.stream.url if cfg.stream.transport == "grpc" else cfg.stream.ws_url,
        "realtime": cfg.stream.realtime,
        "chunk_ms": cfg.stream.chunk_ms,
        "streams_per_connection": cfg.stream.streams_per_connection,
        "duration_s": cfg.duration_s,
        "model": cfg.stream.model,
        "slo": asdict(cfg.slo),
        "clips": f"{len(clips)} clips, {sum(c.duration_s for c in clips):.1f} s",
        "streams": getattr(args, "streams", None) or getattr(args, "levels", None),
    }


def _main(args: argparse.Namespace) -> int:
    _import_loadtest()
    from loadtest import report

    if args.loadtest_command == "compare":
        text = report.compare(args.a, args.b)
        print(text)
        if args.output:
            args.output.write_text(text)
        return 0
    from loadtest.generator import DEFAULT_CLIP_GLOB, find_clips, run_loop

    cfg = build_config(args)
    clips = find_clips(args.clips or [DEFAULT_CLIP_GLOB])
    progress = Progress(args.quiet)
    try:
        levels = run_loop(_scenario(args, cfg, clips, progress))
    finally:
        progress.done()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or Path("results") / "loadtest" / f"{args.loadtest_command}-{stamp}"
    path = report.write(out, _config_summary(args, cfg, clips), levels)
    for r in levels:
        verdict = "PASS" if r.verdict.passed else "FAIL (" + "; ".join(r.verdict.reasons) + ")"
        lat = r.stats.latency_ms
        print(f"{r.name}: {r.stats.ok_streams}/{r.stats.streams} ok, p99 {lat.get('p99', 0):.0f} "
              f"ms, min fps {r.stats.min_fps or 0:.1f}, lost {r.stats.lost_frames}, "
              f"{r.frames_per_s():.0f} frames/s -> {verdict}")  # fmt: skip
    print(f"report: {path}")
    return 0 if all(r.verdict.passed for r in levels) else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m deployments.cli.loadtest_cmd ...`` (until ``a2f`` lists this module)."""
    parser = argparse.ArgumentParser(prog="a2f")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
