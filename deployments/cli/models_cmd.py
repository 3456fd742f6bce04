"""``a2f models ...``: work with NVIDIA-format model packages.

Subcommands (each a ``_register_<name>`` function, so later issues can add build-repo /
build-engines without touching the others):

* ``a2f models inspect PATH [--json]``: load and validate a model directory (or its
  model.json) and print its type, actor/version, identities, dims, files and blendshape
  counts. Exit code 0 when valid, 1 with the validation error otherwise.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from deployments.cli.models_build import add_build_commands


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` command group to the top-level parser."""
    parser = subparsers.add_parser(
        "models",
        help="inspect NVIDIA Audio2Face-3D / Audio2Emotion model packages",
        description="Work with model directories in NVIDIA's published layout.",
    )
    sub = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    add_build_commands(sub)
    parser.set_defaults(func=lambda _args: _help(parser))
    _register_inspect(sub)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _register_inspect(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "inspect",
        help="validate a model package and describe it",
        description="Load PATH (a model directory or its model.json), validate every file "
        "against network_info.json and print a summary.",
    )
    parser.add_argument("path", metavar="PATH", help="model directory or model.json file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_inspect)


def _inspect(args: argparse.Namespace) -> int:
    from a2f_actors.errors import ModelPackageError
    from a2f_actors.model_package import load_package, summarize

    try:
        summary: dict[str, Any] = summarize(load_package(args.path))
        summary["validation"] = "OK"
        code = 0
    except ModelPackageError as exc:
        summary = {"path": str(args.path), "validation": "FAILED", "error": str(exc)}
        code = 1
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        _print_text(summary)
    return code


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _print_text(summary: dict[str, Any]) -> None:
    if summary["validation"] != "OK":
        print(f"path:        {summary['path']}")
        print(f"validation:  FAILED\n  {summary['error']}")
        return
    for key in ("type", "actor", "version", "identities", "emotions", "samplerate", "dims"):
        if key in summary:
            print(f"{key + ':':<12} {_fmt(summary[key])}")
    for identity, parts in summary.get("blendshapes", {}).items():
        for part, counts in parts.items():
            print(f"{'bs:':<12} {identity} {part}: {_fmt(counts)}")
    network = summary.get("network", {})
    print(f"{'network:':<12} {_fmt(network)}")
    print("files:")
    for key, path in summary.get("files", {}).items():
        print(f"  {key:<32} {path}")
    print("validation:  OK")
