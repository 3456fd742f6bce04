"""``a2f eval ...``: the lip-sync evaluation harness (metrics in docs/evaluation.md).

``a2f eval [PACKAGE_OR_RESULTS] [--audio WAV --transcript TEXT] [--corpus DIR --split test]
[--fps 30] [--real-speech] [--json OUT]``:

* no target (or ``ground-truth``) with ``--corpus``: score the corpus targets themselves (the
  ceiling);
* a ``.csv``/``.json`` results file with ``--audio`` (``--transcript`` adds forced alignment);
* a folder of ``<clip>.csv|json`` results with ``--corpus``: scored against the corpus clips,
  per-region MAE included;
* a model package folder (``model.json`` and ``network.onnx`` inside): run in-process with ONNX
  Runtime on ``--audio`` (aligned with ``--transcript``), the ``--corpus`` clips (MAE vs the
  targets) and, with ``--real-speech``, the real-speech clips (force-aligned);
* ``--real-speech``: also print pocketsphinx alignment coverage on Debian's
  pocketsphinx-testdata (Debian package ``pocketsphinx-testdata``).

Prints one table per source and writes the JSON report with ``--json``. Exit code 2 on bad
input or a missing dependency, 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

GROUND_TRUTH = "ground-truth"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval`` command to the top-level parser."""
    p = subparsers.add_parser(
        "eval",
        help="score lip sync of a package, a results file or the corpus ground truth",
        description="Score lip sync: bilabial closure, rest in silence, energy agreement/lag, "
        "jitter and per-region MAE (docs/evaluation.md).",
    )
    p.add_argument(
        "target",
        nargs="?",
        default=GROUND_TRUTH,
        metavar="PACKAGE_OR_RESULTS",
        help="model package folder, results .csv/.json (or a folder of them), or "
        f"'{GROUND_TRUTH}' (default) to score the corpus targets",
    )
    p.add_argument("--audio", help="16 kHz (or any rate) WAV the results file was made from")
    p.add_argument("--transcript", help="what the audio says (enables forced alignment)")
    p.add_argument("--corpus", help="synthetic corpus folder (clip .npz + .wav)")
    p.add_argument("--split", default="test", help="corpus split to score (default: test)")
    p.add_argument(
        "--fps", type=int, choices=(30, 60), default=30, help="ground-truth / package output rate"
    )
    p.add_argument(
        "--real-speech", action="store_true", help="report pocketsphinx-testdata alignment"
    )
    p.add_argument(
        "--real-speech-dir", metavar="DIR",
        help="real speech from DIR (pocketsphinx layout: <id>.wav + *.transcription) instead of "
        "the test set, e.g. the development set (python -m a2f_train.evaluation.real_dev DIR)",
    )  # fmt: skip
    p.add_argument("--json", metavar="OUT", help="write the report as JSON to OUT")
    p.add_argument(
        "--noise-seed", type=int, default=0,
        help="diffusion package: seed of the constant noise (serving default 0)",
    )  # fmt: skip
    p.add_argument(
        "--identity", help="diffusion package: the identity to animate (default: the first)"
    )
    p.set_defaults(func=_eval)


def _scores(args: argparse.Namespace) -> tuple[list[Any], str]:
    """Dispatch on the target; returns the clip scores and a table title."""
    from a2f_train.evaluation import harness

    target = Path(args.target)
    if args.target == GROUND_TRUTH:
        if not args.corpus:
            return [], ""
        scores = harness.score_ground_truth(args.corpus, args.split, fps=args.fps)
        return scores, f"ground truth ({args.corpus}, split {args.split}, {args.fps} fps)"
    if (target.is_dir() and (target / "model.json").is_file()) or target.name == "model.json":
        scores = harness.score_package(
            target,
            audio=args.audio,
            transcript=args.transcript,
            corpus_dir=args.corpus,
            split=args.split,
            real_speech=args.real_speech,
            real_speech_dir=args.real_speech_dir,
            fps=args.fps,
            noise_seed=args.noise_seed,
            identity=args.identity,
        )
        return scores, f"package {target}"
    if target.is_dir():
        if not args.corpus:
            raise ValueError("a folder of results needs --corpus DIR to match clips")
        scores = harness.score_results_dir(target, args.corpus, args.split)
        return scores, f"results {target} vs {args.corpus} ({args.split})"
    if not target.is_file():
        raise FileNotFoundError(f"{target}: no such results file or package folder")
    if not args.audio:
        raise ValueError("a results file needs --audio WAV (the audio it was made from)")
    score = harness.score_results(target, args.audio, transcript=args.transcript)
    return [score], f"results {target}"


def _eval(args: argparse.Namespace) -> int:
    """Run ``a2f eval``; returns the exit code."""
    from a2f_train.evaluation import report

    try:
        scores, title = _scores(args)
        alignment = _real_speech(args.real_speech_dir) if _wants_real(args) else []
    except (NotImplementedError, ImportError, ValueError, OSError, KeyError) as exc:
        # OSError includes RealSpeechUnavailable (names the apt package) and missing files
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not scores and not alignment:
        print(
            "error: nothing to score: give a target, --corpus DIR or --real-speech", file=sys.stderr
        )
        return 2
    if scores:
        print(report.format_scores(scores, title))
        notes = sorted({n for s in scores for n in s.notes})
        print("notes: " + "; ".join(notes))
    if alignment:
        print(report.format_alignment(alignment))
    if args.json:
        doc = report.report_dict(scores, alignment, target=args.target, split=args.split)
        report.write_report(args.json, doc)
        print(f"report written to {args.json}")
    return 0


def _wants_real(args: argparse.Namespace) -> bool:
    return bool(args.real_speech or args.real_speech_dir)


def _real_speech(root: str | None = None) -> list[Any]:
    from a2f_train.evaluation.real_speech import align_real_speech, load_real_speech

    return align_real_speech(load_real_speech(Path(root) if root else None))
