"""bs_skin_config.json / bs_tongue_config.json contents for "ada" (NVIDIA's format).

Regularisation strengths are Mark's (a2f_reference.md section 1.3); ``templateBBSize`` is our
own neutral's bounding-box diagonal, so the solver's scale ``s`` is exactly 1. Active poses
follow the NIM 2.0 default (eye-look shapes and TongueOut off), symmetry pairs are
``DEFAULT_SYMMETRY_IDS``, and two cancel pairs keep opposite sideways motions exclusive.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from a2f_actors.model_package import BlendshapeConfig
from a2f_actors.model_package.synthetic import skin_solver_config as mark_skin_config
from a2f_actors.model_package.synthetic import tongue_solver_config as mark_tongue_config
from a2f_actors.names import SKIN_BLENDSHAPES, TONGUE_BLENDSHAPES

#: Cancel pairs: after the first solve, the smaller weight of each pair is forced to 0.
SKIN_CANCEL_IDS: dict[str, int] = {
    "JawLeft": 0, "JawRight": 0, "MouthLeft": 1, "MouthRight": 1,
}  # fmt: skip
#: Tongue weight multipliers (Mark's: TipUp x2, RollUp x3, Stretch x2) are NOT used: our
#: tongue shapes are authored at full strength, so every multiplier is 1.
_TONGUE_GAINS: dict[str, float] = {}


def bbox_diagonal(vertices: np.ndarray) -> float:
    """Bounding-box diagonal of ``vertices`` [V, 3] (model units), rounded to 1e-4."""
    v = np.asarray(vertices, dtype=np.float64)
    return round(float(np.linalg.norm(v.max(axis=0) - v.min(axis=0))), 4)


def _with_bb(config: BlendshapeConfig, neutral: np.ndarray, **changes: object) -> BlendshapeConfig:
    """Mark's ``config`` with our templateBBSize (and any other field ``changes``)."""
    params = replace(config.params, template_bb_size=bbox_diagonal(neutral))
    return replace(config, params=params, **changes)


def skin_solver_config(neutral: np.ndarray) -> BlendshapeConfig:
    """Skin solver config; ``neutral`` [V, 3] sets templateBBSize."""
    cancel = tuple(SKIN_CANCEL_IDS.get(s, -1) for s in SKIN_BLENDSHAPES)
    return _with_bb(mark_skin_config(), neutral, cancel_poses=cancel)


def tongue_solver_config(neutral: np.ndarray) -> BlendshapeConfig:
    """Tongue solver config (Mark's strengths, all 16 active, no pairs)."""
    gains = tuple(_TONGUE_GAINS.get(s, 1.0) for s in TONGUE_BLENDSHAPES)
    return _with_bb(mark_tongue_config(), neutral, weight_multipliers=gains)
