"""``a2f train MODEL``: reproduce a shipped default network from the synthetic corpus.

Each model's training lives in ``a2f_train.train.<model>`` and exposes
``run(corpus: Path, out: Path, config: Path | None, seed: int) -> Path`` returning the written
model package directory. torch is imported there, lazily: install the ``[train]`` extra.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path

MODELS = ("regression", "diffusion", "emotion")
#: The corpus each shipped network was trained on (docs/models/*.md) and the command that builds it.
DEFAULT_CORPUS = {
    "regression": ("data/corpus/full_piper", "make data CONFIG=full_piper"),
    "diffusion": ("data/corpus/full_piper", "make data CONFIG=full_piper"),
    "emotion": ("data/corpus/full", "make data"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``a2f train`` to the top-level parser."""
    p = subparsers.add_parser("train", help="train a default network from the synthetic corpus")
    p.add_argument("model", choices=MODELS, help="which network")
    p.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="corpus dir (default: the shipped network's: data/corpus/full_piper for regression "
        "and diffusion, data/corpus/full for emotion)",
    )
    p.add_argument("--out", type=Path, default=Path("models"), help="folder of model packages")
    p.add_argument("--config", type=Path, default=None, help="training config YAML (optional)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(func=_run)


def _show_progress() -> None:
    """Print the trainers' INFO logs (the diffusion and emotion loops report through ``logging``).

    Without a handler Python drops INFO records, and a 40-minute diffusion run printed nothing.
    Only the ``a2f_train`` loggers are raised to INFO, so library chatter stays at WARNING.
    """
    log = logging.getLogger("a2f_train")
    if not any(isinstance(h, logging.StreamHandler) for h in log.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)


def _run(args: argparse.Namespace) -> int:
    default, build = DEFAULT_CORPUS[args.model]
    corpus = Path(default) if args.corpus is None else args.corpus
    if not (corpus / "manifest.jsonl").is_file():
        hint = build if args.corpus is None else "a2f data build --config NAME --out DIR"
        print(f"no corpus at {corpus} (manifest.jsonl missing): build it first with `{hint}`")
        return 2
    args.corpus = corpus
    _show_progress()
    try:
        module = importlib.import_module(f"a2f_train.train.{args.model}")
    except ModuleNotFoundError as exc:
        if exc.name == "torch":
            print('torch is missing: pip install -e ".[train]"')
            return 2
        raise
    package = module.run(args.corpus, args.out, args.config, args.seed)
    print(f"wrote {package}")
    return 0
