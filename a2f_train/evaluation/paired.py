"""Paired comparison of two systems' bilabial closures on the same events (exact McNemar test).

Two ``a2f eval --json`` reports of the same clips (same audio, same alignment) score the same
/p b m/ intervals, so closures compare event by event: both systems closed it, only A, only B,
neither. Only the discordant events (A only, B only) carry information about which system
closes more; under "no difference" each is A's with probability 1/2, so the two-sided exact
McNemar p-value is ``min(1, 2 * P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)``.
Pooled counts say less: 131 against 127 of 161 can be 4 against 0 or 11 against 7.

Run ``python -m a2f_train.evaluation.paired A.json B.json [--exclude-group asterisk]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PairedClosures", "mcnemar_exact", "paired_closures"]

#: event key: (clip name, label, start in seconds to the millisecond)
EventKey = tuple[str, str, float]


@dataclass(frozen=True)
class PairedClosures:
    """Event-by-event closure counts of systems A and B on the same /p b m/ intervals."""

    both: int
    a_only: int
    b_only: int
    neither: int

    @property
    def total(self) -> int:
        """Events compared."""
        return self.both + self.a_only + self.b_only + self.neither

    @property
    def a_closed(self) -> int:
        """Events A closed."""
        return self.both + self.a_only

    @property
    def b_closed(self) -> int:
        """Events B closed."""
        return self.both + self.b_only

    @property
    def p_value(self) -> float:
        """Two-sided exact McNemar p of the discordant events."""
        return mcnemar_exact(self.a_only, self.b_only)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs (1.0 when none)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def _group(clip: str) -> str:
    return clip.split("/", 1)[0] if "/" in clip else ""


def _events(doc: dict[str, Any], exclude: tuple[str, ...]) -> dict[EventKey, bool]:
    if "clips" not in doc:
        raise ValueError("the report has no clips: write it with `a2f eval ... --json`")
    out: dict[EventKey, bool] = {}
    for clip in doc["clips"]:
        if _group(clip["name"]) in exclude:
            continue
        if clip["metrics"].get("bilabial_total") and "bilabials" not in clip:
            raise ValueError(
                f"{clip['name']}: the report has no per-event closures; rescore it with this "
                "version's `a2f eval --json`"
            )
        for e in clip.get("bilabials", []):
            out[(clip["name"], e["label"], round(e["start_s"], 3))] = bool(e["closed"])
    return out


def paired_closures(
    doc_a: dict[str, Any], doc_b: dict[str, Any], exclude: tuple[str, ...] = ()
) -> dict[str, PairedClosures]:
    """Per-group and pooled (key ``"all"``) paired counts of two reports.

    Args:
        doc_a: ``a2f eval --json`` document of system A.
        doc_b: the same of system B, same clips.
        exclude: clip groups (the folder before ``/`` in a real-speech clip name) left out.

    Raises:
        ValueError: the reports do not score the same events (other clips, another alignment).
    """
    a, b = _events(doc_a, exclude), _events(doc_b, exclude)
    if a.keys() != b.keys():
        only = sorted(a.keys() ^ b.keys())[:3]
        raise ValueError(
            f"the reports score different /p b m/ events ({len(a)} and {len(b)}; e.g. {only}): "
            "score the same clips with the same alignment"
        )
    counts: dict[str, list[int]] = {}
    for key, closed_a in a.items():
        closed_b = b[key]
        cell = 0 if closed_a and closed_b else 1 if closed_a else 2 if closed_b else 3
        for group in (_group(key[0]), "all"):
            counts.setdefault(group, [0, 0, 0, 0])[cell] += 1
    order = sorted(counts, key=lambda g: (g == "all", g))  # groups by name, the pool last
    return {g: PairedClosures(*counts[g]) for g in order}


def format_paired(result: dict[str, PairedClosures], name_a: str, name_b: str) -> str:
    """A table: per group, events, each system's closures, the discordant pairs and p."""
    head = f"{'group':16s} {'events':>6s} {name_a[:10]:>10s} {name_b[:10]:>10s} {'A only':>7s}"
    lines = [head + f" {'B only':>7s} {'p':>6s}"]
    for group, r in result.items():
        lines.append(
            f"{group or '-':16s} {r.total:6d} {r.a_closed:10d} {r.b_closed:10d} {r.a_only:7d}"
            f" {r.b_only:7d} {r.p_value:6.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m a2f_train.evaluation.paired A.json B.json``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="report of system A (a2f eval --json)")
    p.add_argument("b", type=Path, help="report of system B, same clips")
    p.add_argument("--exclude-group", action="append", default=[], metavar="GROUP")
    args = p.parse_args(argv)
    docs = [json.loads(path.read_text(encoding="utf-8")) for path in (args.a, args.b)]
    try:
        result = paired_closures(*docs, exclude=tuple(args.exclude_group))
    except ValueError as exc:
        p.error(str(exc))
    name_a, name_b = (str(d.get("target", "?")) for d in docs)
    sys.stdout.write(f"A = {name_a}\nB = {name_b}\n")
    sys.stdout.write(format_paired(result, "A closed", "B closed") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
