"""bs_skin_config.json / bs_tongue_config.json contents for "ada" (NVIDIA's format).

Regularisation strengths are Mark's (a2f_reference.md section 1.3); ``templateBBSize`` is our
own neutral's bounding-box diagonal, so the solver's scale ``s`` is exactly 1. Active poses
follow the NIM 2.0 default (eye-look shapes and TongueOut off), symmetry pairs are
``DEFAULT_SYMMETRY_IDS``, and two cancel pairs keep opposite sideways motions exclusive.
"""

from __future__ import annotations

import numpy as np

from a2f_actors.model_package import BlendshapeConfig
from a2f_actors.names import (
    DEFAULT_INACTIVE_SKIN,
    DEFAULT_SYMMETRY_IDS,
    SKIN_BLENDSHAPES,
    TONGUE_BLENDSHAPES,
)
from a2f_actors.params import SolverParams

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


def skin_solver_config(neutral: np.ndarray) -> BlendshapeConfig:
    """Skin solver config; ``neutral`` [V, 3] sets templateBBSize."""
    n = len(SKIN_BLENDSHAPES)
    return BlendshapeConfig(
        params=SolverParams(
            l1_reg=0.5,
            l2_reg=0.5,
            symmetry_reg=100.0,
            temporal_reg=0.3,
            template_bb_size=bbox_diagonal(neutral),
        ),
        num_poses=n,
        active_poses=tuple(0 if s in DEFAULT_INACTIVE_SKIN else 1 for s in SKIN_BLENDSHAPES),
        cancel_poses=tuple(SKIN_CANCEL_IDS.get(s, -1) for s in SKIN_BLENDSHAPES),
        symmetry_poses=tuple(DEFAULT_SYMMETRY_IDS.get(s, -1) for s in SKIN_BLENDSHAPES),
        weight_multipliers=(1.0,) * n,
        weight_offsets=(0.0,) * n,
    )


def tongue_solver_config(neutral: np.ndarray) -> BlendshapeConfig:
    """Tongue solver config (Mark's strengths, all 16 active, no pairs)."""
    n = len(TONGUE_BLENDSHAPES)
    return BlendshapeConfig(
        params=SolverParams(
            l1_reg=1.0,
            l2_reg=3.5,
            symmetry_reg=100.0,
            temporal_reg=5.0,
            template_bb_size=bbox_diagonal(neutral),
        ),
        num_poses=n,
        active_poses=(1,) * n,
        cancel_poses=(-1,) * n,
        symmetry_poses=(-1,) * n,
        weight_multipliers=tuple(_TONGUE_GAINS.get(s, 1.0) for s in TONGUE_BLENDSHAPES),
        weight_offsets=(0.0,) * n,
    )
