"""Pool clip scores, print them as tables and save them as JSON.

Pooling (:func:`aggregate`): counts are pooled where a metric is a share of events --
``bilabial_closure = sum(closed) / sum(total)`` (``bilabial_near``, ``spurious_closure``
likewise), ``rest_in_silence = sum(rest) / sum(silent)``; every other metric is the mean over
the clips where it is defined (NaN-aware).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from a2f_train.evaluation.harness import ClipScore
from a2f_train.evaluation.real_speech import ClipAlignment

#: Table columns: (metric key, header, format).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bilabial_closure", "closure", "{:.3f}"),
    ("bilabial_total", "n_pbm", "{:.0f}"),
    ("bilabial_near", "near", "{:.3f}"),
    ("spurious_closure", "spur", "{:.3f}"),
    ("rest_in_silence", "rest", "{:.3f}"),
    ("energy_r", "r_env", "{:.3f}"),
    ("energy_lag_ms", "lag_ms", "{:+.0f}"),
    ("jitter", "jitter", "{:.4f}"),
    ("jitter_truth", "jitter_gt", "{:.4f}"),
    ("mae_all", "mae", "{:.4f}"),
    ("mae_jaw", "mae_jaw", "{:.4f}"),
    ("mae_mouth", "mae_mouth", "{:.4f}"),
    ("mae_eyes", "mae_eyes", "{:.4f}"),
    ("mae_brows_cheeks_nose", "mae_bcn", "{:.4f}"),
    ("mae_tongue", "mae_tongue", "{:.4f}"),
)
_POOLED = {
    "bilabial_closure": ("bilabial_closed", "bilabial_total"),
    "bilabial_near": ("bilabial_near_closed", "bilabial_total"),
    "spurious_closure": ("spurious_closed", "other_phones"),
    "rest_in_silence": ("rest_frames", "silent_frames"),
}


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def aggregate(scores: Sequence[ClipScore]) -> dict[str, float]:
    """Pooled metrics over clips (see the module docstring)."""
    keys = sorted({k for s in scores for k in s.metrics})
    out: dict[str, float] = {}
    for key in keys:
        values = [s.metrics.get(key, float("nan")) for s in scores]
        if key in _POOLED:
            num, den = _POOLED[key]
            n = sum(s.metrics.get(den, 0) for s in scores)
            out[key] = sum(s.metrics.get(num, 0) for s in scores) / n if n else float("nan")
        elif key in {v for pair in _POOLED.values() for v in pair}:
            out[key] = float(sum(v for v in values if math.isfinite(v)))
        else:
            out[key] = _nanmean(values)
    return out


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None or not math.isfinite(value) else fmt.format(value)


def format_scores(scores: Sequence[ClipScore], title: str = "") -> str:
    """A text table: one row per clip plus the pooled row, only columns some clip has."""
    cols = [c for c in COLUMNS if any(c[0] in s.metrics for s in scores)]
    rows = [[s.name] + [_cell(s.metrics.get(k), f) for k, _, f in cols] for s in scores]
    pooled = aggregate(scores)
    rows.append([f"ALL ({len(scores)} clips)"] + [_cell(pooled.get(k), f) for k, _, f in cols])
    header = ["clip"] + [h for _, h, _ in cols]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [title] if title else []
    for i, row in enumerate([header, *rows]):
        if i == len(rows):  # separator before the pooled row
            lines.append("  ".join("-" * w for w in widths))
        lines.append(
            "  ".join(
                c.rjust(w) if j else c.ljust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    closed, total = int(pooled.get("bilabial_closed", 0)), int(pooled.get("bilabial_total", 0))
    if total:  # one bilabial is 100 / total points: say how little a small set can separate
        lo, hi = wilson_interval(closed, total)
        lines.append(
            f"bilabial closure {closed}/{total} = {closed / total:.1%} "
            f"(95% Wilson interval {lo:.1%} - {hi:.1%})"
        )
    by_group = group_closures(scores)
    if len(by_group) > 1:  # e.g. the development set's one-voice asterisk group, read apart
        parts = [f"{g} {c}/{n}" for g, (c, n) in by_group.items()]
        lines.append("bilabial closure by group: " + ", ".join(parts))
    return "\n".join(lines)


def group_closures(scores: Sequence[ClipScore]) -> dict[str, tuple[int, int]]:
    """``{group: (closed, total)}`` of /p b m/ for clips named ``<group>/<id>`` (sorted).

    Groups without a bilabial, and clips whose name has no folder, are left out.
    """
    out: dict[str, tuple[int, int]] = {}
    for s in scores:
        group, sep, _ = s.name.partition("/")
        total = int(s.metrics.get("bilabial_total", 0) or 0)
        if not sep or not total:
            continue
        closed, n = out.get(group, (0, 0))
        out[group] = (closed + int(s.metrics.get("bilabial_closed", 0) or 0), n + total)
    return dict(sorted(out.items()))


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (default 95 %); ``(nan, nan)`` if n = 0."""
    if n <= 0:
        return float("nan"), float("nan")
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def format_alignment(rows: Sequence[ClipAlignment]) -> str:
    """A text table of real-speech alignment coverage and bilabial counts, with totals."""
    words = sum(r.words for r in rows)
    aligned = sum(r.aligned for r in rows)
    width = max([len(r.name) for r in rows] + [5])
    lines = [
        "real speech: pocketsphinx forced alignment",
        f"{'clip':<{width}}  dur_s  words  coverage  n_pbm",
    ]
    for r in rows:
        extra = f"  oov={','.join(r.oov)}" if r.oov else ""
        extra += f"  error={r.error}" if r.error else ""
        cells = f"{r.duration_s:5.2f}  {r.words:5d}  {r.coverage:8.3f}  {len(r.bilabials):5d}"
        lines.append(f"{r.name:<{width}}  {cells}{extra}")
    total = aligned / words if words else 0.0
    dur = sum(r.duration_s for r in rows)
    n_bil = sum(len(r.bilabials) for r in rows)
    lines.append(f"{'ALL':<{width}}  {dur:5.1f}  {words:5d}  {total:8.3f}  {n_bil:5d}")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return _jsonable(value.item())
    return value


def report_dict(
    scores: Sequence[ClipScore], alignment: Sequence[ClipAlignment] = (), **meta: Any
) -> dict[str, Any]:
    """JSON-ready report: per-clip metrics, pooled metrics, real-speech alignment (NaN -> null)."""
    doc: dict[str, Any] = {**meta}
    if scores:
        doc["clips"] = [
            {"name": s.name, "source": s.source, "notes": list(s.notes),
             "metrics": {k: _jsonable(v) for k, v in s.metrics.items()},
             "bilabials": [
                 {"label": e.label, "start_s": e.start_s, "end_s": e.end_s,
                  "min_gap": _jsonable(e.min_gap), "closed": bool(e.closed)}
                 for e in s.events
             ]}
            for s in scores
        ]  # fmt: skip
        doc["aggregate"] = {k: _jsonable(v) for k, v in aggregate(scores).items()}
    if alignment:
        words = sum(r.words for r in alignment)
        doc["real_speech_alignment"] = {
            "coverage": sum(r.aligned for r in alignment) / words if words else None,
            "clips": [
                {"name": r.name, "duration_s": r.duration_s, "words": r.words, "aligned": r.aligned,
                 "coverage": r.coverage, "bilabials": [list(b) for b in r.bilabials],
                 "oov": list(r.oov), "error": r.error}
                for r in alignment
            ],
        }  # fmt: skip
    return doc


def write_report(path: str | Path, doc: dict[str, Any]) -> None:
    """Write a :func:`report_dict` document as indented JSON."""
    Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
