"""``a2f data ...``: build and inspect the synthetic speech corpus.

``a2f data build --config small|full|PATH [--out DIR] [--workers N] [--geometry auto|on|off]``
synthesizes (or resumes) a corpus; ``a2f data info DIR`` prints its summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_OUT = "data/corpus"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group to the top-level parser."""
    data = subparsers.add_parser("data", help="build and inspect the synthetic speech corpus")
    sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    b = sub.add_parser(
        "build",
        help="synthesize (or resume) a corpus",
        description="Build the seeded synthetic corpus; clips already written are kept.",
    )
    b.add_argument("--config", default="small", help="preset (small, full) or YAML path")
    b.add_argument("--out", default=None, help=f"corpus directory (default {DEFAULT_OUT}/NAME)")
    b.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    b.add_argument(
        "--geometry",
        choices=("auto", "on", "off"),
        default=None,
        help="character geometry targets (default: the config's setting)",
    )
    b.add_argument("--limit", type=int, default=None, help="build only the first N clips")
    b.set_defaults(func=_build)
    info = sub.add_parser("info", help="print a corpus summary")
    info.add_argument("dir", help="corpus directory")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_info)
    data.set_defaults(func=lambda _args: data.print_help() or 2)


def _build(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from a2f_train.corpus import build, config, targets

    try:
        cfg = config.load_config(args.config)
    except (FileNotFoundError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    updates = {k: v for k, v in (("geometry", args.geometry), ("clips", args.limit)) if v}
    cfg = cfg.model_copy(update=updates) if updates else cfg
    out = Path(args.out or os.path.join(DEFAULT_OUT, cfg.name))
    try:
        result = build.build(
            cfg, out, workers=args.workers, geometry_fn=targets.geometry_hook(cfg.geometry)
        )
    except (ValueError, targets.CharacterUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = result.summary
    print(
        f"corpus {out}: {s['clips']} clips, {s['hours']:.3f} h clean audio "
        f"(+{s['augmented_hours']:.3f} h augmented); written {result.written}, "
        f"kept {result.skipped}, failed {len(result.failed)}"
    )
    for clip_id, err in sorted(result.failed.items())[:20]:
        print(f"  failed {clip_id}: {err}", file=sys.stderr)
    return 1 if result.failed else 0


def _info(args: argparse.Namespace) -> int:
    path = Path(args.dir) / "summary.json"
    if not path.is_file():
        print(f"error: {path} not found (not a corpus directory?)", file=sys.stderr)
        return 2
    summary = json.loads(path.read_text())
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"clips {summary['clips']}  clean {summary['hours']:.3f} h  "
        f"augmented {summary['augmented_hours']:.3f} h  failed {len(summary['failed'])}"
    )
    for key in ("engine", "split", "emotion", "voice"):
        rows = summary[f"hours_per_{key}"]
        print(f"hours per {key}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows.items()))
    geometry = Path(args.dir) / "pca_skin.npz"
    print(f"geometry targets: {'yes' if geometry.is_file() else 'no'}")
    return 0
