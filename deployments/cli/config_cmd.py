"""``a2f config``: show the effective config, validate files, migrate NIM v1.3 files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from a2f_actors.config.loader import KINDS, load_config, load_file
from a2f_actors.config.migrate import migrate_text
from a2f_actors.errors import ConfigError


def register(subparsers: Any) -> None:
    """Add the ``config`` command group to the top-level ``a2f`` parser."""
    parser = subparsers.add_parser("config", help="show, validate and migrate NIM config files")
    sub = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)

    show = sub.add_parser("show", help="print the effective config (defaults + given files)")
    for kind in KINDS:
        show.add_argument(f"--{kind}", metavar="FILE", help=f"{kind} config YAML")
    show.add_argument("--format", choices=("yaml", "json"), default="yaml")
    show.set_defaults(func=_show)

    validate = sub.add_parser("validate", help="validate config files; exit 1 on any error")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--kind", choices=KINDS, help="file kind (default: detected)")
    validate.set_defaults(func=_validate)

    migrate = sub.add_parser("migrate", help="convert a NIM v1.3 config file to v2.0")
    migrate.add_argument("old", metavar="OLD.yaml")
    migrate.add_argument("-o", "--output", metavar="NEW.yaml", help="write here (default: stdout)")
    migrate.add_argument("--kind", choices=KINDS, help="file kind (default: detected)")
    migrate.set_defaults(func=_migrate)


def _show(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.stylization, args.deployment, args.advanced)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    data = cfg.to_data()
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False), end="")
    return 0


def _validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            kind, _ = load_file(path, args.kind)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: OK ({kind})")
    return 1 if failed else 0


def _migrate(args: argparse.Namespace) -> int:
    try:
        text = Path(args.old).read_text(encoding="utf-8")
        result = migrate_text(text, Path(args.old).name, args.kind)
    except OSError as exc:
        print(f"{args.old}: cannot read the file ({exc.strerror or exc})", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if not result.changed:
        print(f"{args.old}: already a NIM v2.0 {result.kind} config; nothing to migrate")
        return 0
    if args.output:
        Path(args.output).write_text(result.text, encoding="utf-8")
        print(f"{args.old}: migrated v{result.from_version} -> v2.0 ({result.kind}): {args.output}")
    else:
        print(result.text, end="")
    for note in result.notes:
        print(f"  - {note}", file=sys.stderr)
    return 0
