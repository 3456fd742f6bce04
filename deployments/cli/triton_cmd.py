"""``a2f triton start|stop|status``: one Triton Inference Server per node.

Examples::

    a2f triton start --repository model_repository --grpc-port 8001
    a2f triton status
    a2f triton stop
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``triton`` command group."""
    from deployments.triton.server import DEFAULT_WORKDIR, TritonPorts

    defaults = TritonPorts()
    parser = subparsers.add_parser("triton", help="run the Triton Inference Server")
    sub = parser.add_subparsers(dest="triton_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"state file, log and the copied server (default {DEFAULT_WORKDIR})",
    )
    start = sub.add_parser("start", parents=[common], help="start and wait until ready")
    start.add_argument("--repository", type=Path, default=Path("model_repository"))
    start.add_argument("--address", default=defaults.address, help="listen address")
    start.add_argument("--http-port", type=int, default=defaults.http)
    start.add_argument("--grpc-port", type=int, default=defaults.grpc)
    start.add_argument("--metrics-port", type=int, default=defaults.metrics)
    start.add_argument("--tritonserver", type=Path, help="a system tritonserver binary")
    start.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for ready")
    start.set_defaults(func=cmd_start)
    stop = sub.add_parser("stop", parents=[common], help="SIGTERM, then SIGKILL after --timeout")
    stop.add_argument("--timeout", type=float, default=15.0)
    stop.set_defaults(func=cmd_stop)
    status = sub.add_parser("status", parents=[common], help="print the state as JSON")
    status.set_defaults(func=cmd_status)


def cmd_start(args: argparse.Namespace) -> int:
    """Start the server; exit 1 with the model's own error when a model fails to load."""
    from deployments.triton.server import TritonError, TritonPorts, TritonServer

    ports = TritonPorts(args.http_port, args.grpc_port, args.metrics_port, args.address)
    server = TritonServer(args.repository, ports, args.workdir, args.tritonserver)
    try:
        state = server.start(timeout_s=args.timeout)
    except TritonError as exc:
        print(f"error: {exc}")
        return 1
    where = f"gRPC {state.address}:{state.grpc}, HTTP {state.http}, metrics {state.metrics}"
    print(f"tritonserver ready: pid {state.pid}, {where}, log {state.log_file}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the server recorded in the workdir (0 also when none was running)."""
    from deployments.triton.server import stop_from_state

    stopped = stop_from_state(args.workdir, args.timeout)
    print("tritonserver stopped" if stopped else "no tritonserver running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print the status as JSON; exit 0 when running and ready, else 1."""
    from deployments.triton.server import server_status

    status = server_status(args.workdir)
    print(json.dumps(status, indent=2))
    return 0 if status["ready"] else 1
