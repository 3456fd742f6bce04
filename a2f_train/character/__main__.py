"""Command line: ``python -m a2f_train.character {render,gltf,assets} --out DIR``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Render the pictures, export glTF, or write the blendshape assets into ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m a2f_train.character", description=__doc__)
    parser.add_argument("command", choices=("render", "gltf", "assets"))
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args(argv)
    if args.command == "render":
        from a2f_train.character.render import render_all

        paths = render_all(args.out)
    elif args.command == "gltf":
        from a2f_train.character.gltf import export_gltf

        paths = list(export_gltf(args.out))
    else:
        from a2f_train.character.assets import write_character_assets

        files = write_character_assets(args.out).files
        paths = [p for part in files.values() for p in part.values()]
    sys.stdout.write("".join(f"wrote {p}\n" for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
