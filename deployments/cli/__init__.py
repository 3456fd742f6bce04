"""The ``a2f`` command line.

Each command group lives in its own module with a ``register(subparsers)`` function, so
groups can be added without touching the others. Heavy imports (ray, tritonclient) happen
inside the command functions, never at import time, so ``a2f --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Modules under deployments.cli that contribute command groups, in --help order.
_COMMAND_MODULES: tuple[str, ...] = (
    "config_cmd",
    "audio_cmd",
    "models_cmd",
    "triton_cmd",
    "data_cmd",
    "train_cmd",
    "eval_cmd",
    "serve_cmd",
    "loadtest_cmd",
    "cluster_cmd",
    "run_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available command group."""
    parser = argparse.ArgumentParser(
        prog="a2f",
        description="a2f-cluster: audio-driven facial animation serving (A2F-3D compatible).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"deployments.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"deployments.cli.{name}":
                continue  # command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``a2f`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
