"""Eyes: rotation limits and the deterministic fixational-saccade table (model_data layout).

``saccade_rot_matrix`` in NVIDIA's model_data.npz holds 5000 rows of 2 angles, one row per
30 fps frame, added to both eyes' rotations (scaled by ``saccade_strength``). Ours is
generated from a fixed seed: slow drift (a damped random walk), microsaccades every 0.4-1.2 s
(0.2-0.8 degrees) and occasional small saccades (1-4 degrees) that return towards the centre.
"""

from __future__ import annotations

import numpy as np

SACCADE_FRAMES = 5000  # rows, one per 30 fps frame (166.7 s)
FRAME_RATE_HZ = 30.0  # one row every 33.3 ms
SACCADE_SEED = 20240607  # fixed: the table is identical on every run
#: Eye rotation limits in degrees: (rotation about X, + looks down), (about Y, + looks left).
EYE_ROTATION_LIMITS_DEG = ((-25.0, 25.0), (-30.0, 30.0))
_MAX_SACCADE_DEG = 6.0  # the table never leaves +-6 degrees


def _jump_times(rng: np.random.Generator, lo_s: float, hi_s: float) -> np.ndarray:
    """Frame indices of events spaced uniformly between ``lo_s`` and ``hi_s`` seconds."""
    gaps = rng.uniform(lo_s, hi_s, size=SACCADE_FRAMES) * FRAME_RATE_HZ
    t = np.cumsum(gaps).astype(np.int64)
    return t[t < SACCADE_FRAMES]


def saccade_table(seed: int = SACCADE_SEED) -> np.ndarray:
    """Return the ``[5000, 2]`` float32 table of (x, y) eye angles in degrees."""
    rng = np.random.default_rng(seed)
    steps = np.zeros((SACCADE_FRAMES, 2))
    for lo, hi, amp_lo, amp_hi in ((0.4, 1.2, 0.2, 0.8), (2.0, 5.0, 1.0, 4.0)):
        t = _jump_times(rng, lo, hi)
        ang = rng.uniform(0.0, 2.0 * np.pi, size=t.size)
        amp = rng.uniform(amp_lo, amp_hi, size=t.size)
        steps[t] += np.stack([np.sin(ang), np.cos(ang)], axis=1) * amp[:, None]
    drift = rng.normal(0.0, 0.03, size=(SACCADE_FRAMES, 2))
    out = np.zeros((SACCADE_FRAMES, 2))
    pos = np.zeros(2)
    for i in range(SACCADE_FRAMES):
        pos = 0.995 * pos + drift[i] + steps[i] - 0.15 * pos * (np.abs(steps[i]).sum() > 1.0)
        pos = np.clip(pos, -_MAX_SACCADE_DEG, _MAX_SACCADE_DEG)
        out[i] = pos
    return out.astype(np.float32)
