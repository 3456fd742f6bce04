"""Paired closure comparison: event matching, the exact McNemar test, and the harness's events."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from a2f_train.evaluation import harness, paired
from a2f_train.evaluation.paired import PairedClosures, mcnemar_exact, paired_closures
from a2f_train.evaluation.report import report_dict
from a2f_train.evaluation.results_io import WeightTrack, read_ground_truth

from .conftest import JAW

LIP = harness.LipModel(lambda w: np.asarray(w)[:, JAW], 0.03, "stand-in")


def doc(*clips: tuple[str, list[bool]]) -> dict:
    """An ``a2f eval --json`` document whose clip ``name`` has one /p/ per flag, 0.5 s apart."""
    return {
        "clips": [
            {
                "name": name,
                "metrics": {"bilabial_total": len(flags)},
                "bilabials": [
                    {"label": "P", "start_s": 0.5 * i, "end_s": 0.5 * i + 0.06,
                     "min_gap": 0.0 if f else 1.0, "closed": f}
                    for i, f in enumerate(flags)
                ],
            }
            for name, flags in clips
        ]
    }  # fmt: skip


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 4) == pytest.approx(2 / 16)
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_exact(7, 11) == mcnemar_exact(11, 7) == pytest.approx(0.48068, abs=1e-5)
    assert mcnemar_exact(5, 5) == 1.0  # capped: the two tails overlap at the centre


def test_paired_closures_count_per_group_and_pooled() -> None:
    a = doc(("g1/x", [True, True, False, False]), ("g2/y", [True, False]))
    b = doc(("g1/x", [True, False, True, False]), ("g2/y", [False, False]))
    r = paired_closures(a, b)
    assert list(r) == ["g1", "g2", "all"]
    assert r["g1"] == PairedClosures(both=1, a_only=1, b_only=1, neither=1)
    assert r["g2"] == PairedClosures(both=0, a_only=1, b_only=0, neither=1)
    assert (r["all"].a_closed, r["all"].b_closed, r["all"].total) == (3, 2, 6)
    assert r["all"].p_value == pytest.approx(mcnemar_exact(2, 1))
    assert list(paired_closures(a, b, exclude=("g2",))) == ["g1", "all"]


def test_paired_closures_refuse_reports_of_other_events() -> None:
    a = doc(("g1/x", [True, True]))
    with pytest.raises(ValueError, match="different /p b m/ events"):
        paired_closures(a, doc(("g1/x", [True])))
    old = {"clips": [{"name": "g1/x", "metrics": {"bilabial_total": 2}}]}
    with pytest.raises(ValueError, match="rescore"):
        paired_closures(a, old)


def test_cli_prints_the_table(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"target": "A", **doc(("g/x", [True, True, True]))}))
    b.write_text(json.dumps({"target": "B", **doc(("g/x", [False, True, False]))}))
    assert paired.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "A = A" in out and out.strip().splitlines()[-1].split() == [
        "all", "3", "3", "1", "2", "0", "0.500"
    ]  # fmt: skip


def test_score_track_reports_one_event_per_scored_bilabial(corpus: Path) -> None:
    gt = read_ground_truth(corpus / "clips" / "clip_a.npz")
    w = gt.weights[30].copy()
    w[: len(w) // 2, JAW] += 0.2  # lips open in the first half only
    s = harness.score_track("half", WeightTrack.from_fps(w, 30), np.zeros(32000, np.float32),
                            phones=gt.phones, lip=LIP)  # fmt: skip
    assert len(s.events) == s.metrics["bilabial_total"] > 1
    assert sum(e.closed for e in s.events) == s.metrics["bilabial_closed"]
    assert all((e.min_gap < LIP.threshold) == e.closed for e in s.events)
    assert [e.start_s for e in s.events] == sorted(e.start_s for e in s.events)
    row = report_dict([s])["clips"][0]["bilabials"]
    assert [r["closed"] for r in row] == [e.closed for e in s.events]
