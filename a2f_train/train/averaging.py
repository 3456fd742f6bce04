"""Exponential moving average of network weights, shared by the trainers (``ema`` option)."""

from __future__ import annotations

import torch


def ema_update(
    ema: list[torch.Tensor], params: list[torch.Tensor], decay: float, step: int
) -> None:
    """Move ``ema`` towards ``params`` in place after optimiser step ``step`` (0-based).

    The decay ramps up as ``(1 + step) / (10 + step)`` until it reaches ``decay``, so the
    first steps are not dominated by the initial weights.
    """
    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        torch._foreach_lerp_(ema, [p.detach() for p in params], 1.0 - d)
