"""``a2f cluster up|status|down|kill-node|ramp|demo``: several Ray nodes on this host.

Glue only: the nodes and the deployment are :mod:`deployments.cli.multinode`, the load and the
replica sampling are :mod:`loadtest` (docs/scale_out.md).

- ``up``: head + workers (``multinode.LAYOUT``: head with the ingress, a "triton" node, a "cpu"
  node), each a ``ray start`` with its own CPUs and custom resources; deploys the app with
  ``--settings`` (default ``cluster/multinode_local.yaml``) through ``app_builder``; records
  everything in ``--workdir`` and prints the endpoints. Free ports throughout.
- ``status``: nodes, app status, where each deployment's replicas run.
- ``down``: deletes the app, kills the nodes' processes by pid, stops a leftover Triton.
- ``kill-node NAME``: SIGKILL one worker node (a node lost).
- ``ramp``: the autoscaling load (levels of streams, then idle) with replicas sampled each
  second; report folder with ``replicas.csv`` / ``replicas.png``. ``--kill-node`` kills a
  worker during it.
- ``demo``: up, ramp, down (always down, also on errors or Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from deployments.cli.loadtest_cmd import Progress, _import_loadtest
from deployments.cli.multinode import DEFAULT_WORKDIR, ROOT, ClusterError, LocalCluster

DEFAULT_SETTINGS = ROOT / "cluster" / "multinode_local.yaml"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a2f cluster``."""
    top = subparsers.add_parser("cluster", help="a multi-node Ray cluster on this host")
    sub = top.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    up = sub.add_parser("up", help="start the nodes and deploy the app")
    _up_args(up)
    status = sub.add_parser("status", help="nodes, app status, replica placement")
    down = sub.add_parser("down", help="stop everything started by 'up'")
    down.add_argument("--keep-logs", action="store_true", help="keep Ray's temp dir (logs)")
    kill = sub.add_parser("kill-node", help="SIGKILL one worker node")
    kill.add_argument("node", help="node name (status lists them)")
    ramp = sub.add_parser("ramp", help="rising then falling load, replicas sampled")
    _ramp_args(ramp)
    demo = sub.add_parser("demo", help="up + ramp + down")
    _up_args(demo)
    _ramp_args(demo)
    for p in (up, status, down, kill, ramp, demo):
        p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="state, logs")
        p.set_defaults(func=_main)


def _up_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--settings", type=Path, default=DEFAULT_SETTINGS, help="a2f settings YAML")
    p.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                   help="ServeSettings override (top-level key), e.g. tick_ms=20")  # fmt: skip
    p.add_argument("--timeout-s", type=float, default=600.0, help="start + deploy deadline")


def _ramp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--levels", default="1,8,16,2", help="streams per level, in order")
    p.add_argument("--duration-s", type=float, default=30.0, help="seconds per level")
    p.add_argument("--tail-s", type=float, default=30.0, help="idle seconds after the levels")
    p.add_argument("--chunk-ms", type=float, default=40.0, help="audio per message")
    p.add_argument("--clips", nargs="+", help="WAV files or globs (default: pocketsphinx)")
    p.add_argument("--burst", action="store_true", help="clips as fast as possible")
    p.add_argument("--kill-node", help="SIGKILL this worker node during the run")
    p.add_argument("--kill-at-s", type=float, default=20.0, help="when (s after the start)")
    p.add_argument("--out", type=Path, help="results folder")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``KEY=YAML`` pairs -> overrides."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: use KEY=VALUE (VALUE is YAML)")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _up(args: argparse.Namespace) -> LocalCluster:
    cluster = LocalCluster(args.workdir)
    t0 = time.monotonic()
    print(f"starting {len(cluster.layout)} Ray nodes on 127.0.0.1 ...", flush=True)
    try:
        state = cluster.start(timeout_s=args.timeout_s)
        print(f"nodes ALIVE after {time.monotonic() - t0:.0f} s; deploying {args.settings} ...")
        cluster.deploy(args.settings, parse_sets(args.set), timeout_s=args.timeout_s)
    except BaseException:
        cluster.stop()
        raise
    print(f"app RUNNING after {time.monotonic() - t0:.0f} s")
    print(describe(cluster))
    print(f"  NIM gRPC   {state.grpc_url}")
    print(f"  dashboard  {state.dashboard_url} (token: {state.token_path})")
    print(f"  metrics    {state.metrics_url}\n  state      {args.workdir}")
    return cluster


def describe(cluster: LocalCluster) -> str:
    """Nodes with their resources and the replicas placed on them."""
    placement = cluster.placement()
    nodes = cluster.nodes()
    state = cluster.require()
    lines = []
    for name, node in state.nodes.items():
        row = nodes.get(name, {})
        here = [f"{d} x{reps.count(name)}" for d, reps in placement.items() if name in reps]
        lines.append(
            f"  node {name:7s} {row.get('state', 'UNKNOWN'):6s} cpus {node['num_cpus']} "
            f"{node['resources']}: {', '.join(here) or '-'}"
        )
    app = cluster.application()
    lines.append(f"  app {state.app_name}: {app.get('status', 'not deployed')}")
    return "\n".join(lines)


async def _ramp(args: argparse.Namespace, cluster: LocalCluster) -> Path:
    _import_loadtest()
    from loadtest import report
    from loadtest.generator import DEFAULT_CLIP_GLOB, StreamOptions, find_clips
    from loadtest.replicas import ReplicaSampler, ramp
    from loadtest.scenarios import LoadConfig

    state = cluster.require()
    clips = find_clips(args.clips or [DEFAULT_CLIP_GLOB])
    stream = StreamOptions(url=state.grpc_url, chunk_ms=args.chunk_ms, realtime=not args.burst)
    cfg = LoadConfig(stream=stream, duration_s=args.duration_s, metrics_url=state.metrics_url,
                     metrics_settle_s=0.0)  # fmt: skip
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    sampler = ReplicaSampler(state.dashboard_url, state.app_name, token=state.token())
    progress = Progress(args.quiet)
    killed: dict[str, Any] = {}

    async def kill_later() -> None:
        await asyncio.sleep(args.kill_at_s)
        killed["t_s"] = round(sampler.elapsed(), 1)
        killed["processes"] = await asyncio.to_thread(cluster.kill_node, args.kill_node)
        killed["node"] = args.kill_node

    warm = LoadConfig(stream=replace(stream, realtime=False), duration_s=0.0, stagger_s=0.0)
    await ramp(warm, clips[:1], [1])  # loads the model in Triton before the clock starts
    async with sampler:
        killer = asyncio.create_task(kill_later()) if args.kill_node else None
        try:
            results = await ramp(cfg, clips, levels, sampler, progress, tail_s=args.tail_s)
        finally:
            progress.done()
            if killer is not None:
                killer.cancel()
    if killed:
        killed["retried_stage_calls"] = len(cluster.grep_logs("failed (attempt"))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or ROOT / "results" / "scale_out" / f"ramp-{stamp}"
    config = {
        "scenario": "ramp", "levels": levels, "duration_s": args.duration_s,
        "tail_s": args.tail_s, "realtime": not args.burst, "chunk_ms": args.chunk_ms,
        "clips": f"{len(clips)} clips", "nodes": list(state.nodes), "killed": killed or None,
    }  # fmt: skip
    path = report.write(out, config, results, sampler.samples)
    for r in results:
        s = r.stats
        print(f"{r.name}: {s.ok_streams}/{s.streams} ok, errors {s.errors}, lost "
              f"{s.lost_frames}, duplicated {s.duplicated_frames}, p99 "
              f"{s.latency_ms.get('p99', 0):.0f} ms, {r.frames_per_s():.0f} frames/s")  # fmt: skip
    if killed:
        print(
            f"killed node {killed['node']} at {killed['t_s']} s ({killed['processes']} "
            f"processes); stage calls retried: {killed['retried_stage_calls']}"
        )
    print(f"report: {path}")
    return path


def _run_ramp(args: argparse.Namespace, cluster: LocalCluster) -> Path:
    _import_loadtest()
    from loadtest.generator import run_loop

    return run_loop(_ramp(args, cluster))


def _main(args: argparse.Namespace) -> int:
    cmd = args.cluster_command
    try:
        if cmd == "up":
            _up(args)
        elif cmd == "demo":
            cluster = _up(args)
            try:
                _run_ramp(args, cluster)
            finally:
                print("stopping the cluster ...", flush=True)
                cluster.stop()
        else:
            cluster = LocalCluster.attach(args.workdir)
            if cmd == "status":
                print(describe(cluster))
            elif cmd == "down":
                cluster.stop(keep_logs=args.keep_logs)
                print("stopped")
            elif cmd == "kill-node":
                print(f"killed {cluster.kill_node(args.node)} processes of node {args.node}")
            else:
                _run_ramp(args, cluster)
    except ClusterError as exc:
        print(f"a2f cluster {cmd}: {exc}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m deployments.cli.cluster_cmd cluster ...`` (until ``a2f`` lists this module)."""
    parser = argparse.ArgumentParser(prog="a2f")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
