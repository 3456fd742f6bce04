"""BlendshapeSolver: one animator call for streams of different frame counts, packed states."""

from __future__ import annotations

import asyncio
import pickle

import numpy as np

from a2f_actors.params import BlendshapeOutputParams, FaceParams
from deployments.session import records as rec
from deployments.session.packing import Packed
from deployments.solver import BlendshapeSolver

from .conftest import MODEL

ROWS = 8 + 4 + 19  # the conftest package: 8 skin + 4 tongue PCA, jaw 15, eyes 4


def _items(counts, states, seed):
    rng = np.random.default_rng(seed)
    tables = BlendshapeOutputParams()
    out = []
    for i, n in enumerate(counts):
        rows = rng.normal(0, 0.3, (n, ROWS)).astype(np.float32)
        face = FaceParams(lower_face_smoothing=0.01 * (i + 1))
        out.append(rec.SolveItem(f"s{i}", MODEL, rows, face, tables, states[i]))
    return out


def _solve(solver, items):
    return asyncio.run(solver.solve(Packed(items))).value


def test_streams_of_different_frame_counts_solve_like_one_call_per_stream(settings) -> None:
    """A real-time tick mixes 1- and 2-frame streams: one padded call == separate calls."""
    solver = BlendshapeSolver.from_settings(settings)
    calls = 0
    animate = solver.animator(MODEL, BlendshapeOutputParams()).animate

    def counting(*args, **kwargs):
        nonlocal calls
        calls += 1
        return animate(*args, **kwargs)

    states_mixed = [None] * 4
    states_alone = [None] * 4
    for tick, counts in enumerate([(1, 2, 1, 3), (2, 1, 1, 1), (1, 1, 2, 2)]):
        items = _items(counts, states_mixed, tick)
        object.__setattr__(solver.animator(MODEL, items[0].tables), "animate", counting)
        calls = 0
        mixed = _solve(solver, items)
        assert calls == 1  # one animator call for the whole group, whatever the counts
        alone = [_solve(solver, [it])[0] for it in _items(counts, states_alone, tick)]
        for m, a, n in zip(mixed, alone, counts, strict=True):
            assert m.weights.shape == (n, 68) and m.jaw.shape == (n, 16)
            np.testing.assert_allclose(m.weights, a.weights, rtol=0, atol=1e-6)
            np.testing.assert_allclose(m.jaw, a.jaw, rtol=0, atol=1e-6)
            np.testing.assert_allclose(m.eyes, a.eyes, rtol=0, atol=1e-5)
            np.testing.assert_allclose(m.state, a.state, rtol=0, atol=1e-9)
        states_mixed = [m.state for m in mixed]
        states_alone = [a.state for a in alone]


def test_a_stream_state_is_one_small_array_that_survives_pickling(settings) -> None:
    solver = BlendshapeSolver.from_settings(settings)
    [first] = _solve(solver, _items((3,), [None], 0))
    assert isinstance(first.state, np.ndarray) and first.state.ndim == 1
    assert first.state.dtype == np.float64
    state = pickle.loads(pickle.dumps(first.state, protocol=5))
    direct = _solve(solver, _items((2,), [first.state], 1))[0]
    via = _solve(solver, _items((2,), [state], 1))[0]
    np.testing.assert_array_equal(direct.weights, via.weights)
