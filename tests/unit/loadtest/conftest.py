"""Fixtures of the load-generator tests: a fake NIM server on a free 127.0.0.1 port."""

from __future__ import annotations

import numpy as np
import pytest

from loadtest.generator import Clip


@pytest.fixture
def clips() -> list[Clip]:
    rng = np.random.default_rng(0)
    out = []
    for i, seconds in enumerate((0.5, 0.8)):
        pcm = (rng.standard_normal(int(seconds * 16000)) * 2000).astype("<i2").tobytes()
        out.append(Clip(f"noise{i}.wav", pcm, 16000))
    return out
