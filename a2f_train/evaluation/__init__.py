"""Lip-sync evaluation harness (``a2f eval``): metrics, forced alignment, results I/O, reports.

Modules, in the order data flows through them:

* :mod:`.results_io` -- weight tracks from NVIDIA-sample CSV, our JSON, corpus ground truth;
* :mod:`.real_speech` -- Debian ``pocketsphinx-testdata`` clips with transcripts;
* :mod:`.alignment` -- pocketsphinx 5.1.1 forced alignment (word + phone segments);
* :mod:`.segments` -- segments and phone inventories (/p b m/, silence);
* :mod:`.envelope` -- speech RMS envelope and energy VAD;
* :mod:`.metrics` -- bilabial closure, rest in silence, energy agreement/lag, jitter, MAE;
* :mod:`.harness` -- score ground truth / results files / packages per clip;
* :mod:`.report` -- pooled metrics, text tables, JSON.

Formulas and thresholds: docs/evaluation.md. pocketsphinx is imported only when aligning.
"""

from a2f_train.evaluation.harness import (
    BilabialEvent,
    ClipScore,
    LipModel,
    default_lip_model,
    score_ground_truth,
    score_package,
    score_results,
    score_results_dir,
    score_track,
)
from a2f_train.evaluation.metrics import (
    REGIONS,
    bilabial_closure,
    closure_threshold,
    energy_agreement,
    jitter_ratio,
    region_mae,
    rest_in_silence,
)
from a2f_train.evaluation.results_io import (
    GroundTruthClip,
    WeightTrack,
    read_csv,
    read_ground_truth,
    read_json,
    read_results,
    write_csv,
    write_json,
)
from a2f_train.evaluation.segments import Segment, is_bilabial, is_silence

__all__ = [
    "REGIONS",
    "BilabialEvent",
    "ClipScore",
    "GroundTruthClip",
    "LipModel",
    "Segment",
    "WeightTrack",
    "bilabial_closure",
    "closure_threshold",
    "default_lip_model",
    "energy_agreement",
    "is_bilabial",
    "is_silence",
    "jitter_ratio",
    "read_csv",
    "read_ground_truth",
    "read_json",
    "read_results",
    "region_mae",
    "rest_in_silence",
    "score_ground_truth",
    "score_package",
    "score_results",
    "score_results_dir",
    "score_track",
    "write_csv",
    "write_json",
]
